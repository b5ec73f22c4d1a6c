import ClaudeRunner
import Testing

@Suite("mirror names", .timeLimit(.minutes(1)))
struct MirrorNameTests {
    @Test("spellings of one repository share a mirror: credentials, case of scheme and host, .git, trailing /")
    func sameRepository() {
        let spellings = [
            "https://github.com/acme/widgets.git",
            "https://github.com/acme/widgets",
            "https://github.com/acme/widgets/",
            "HTTPS://GitHub.com/acme/widgets.git",
            "https://x-access-token:ghp_secret@github.com/acme/widgets.git",
            "https://user@github.com/acme/widgets",
        ]
        let names = Set(spellings.map { MirrorName(cloneSource: $0) })
        #expect(names.count == 1)
        #expect(names.first?.normalizedSource == "https://github.com/acme/widgets")

        let local = Set(
            [
                "/srv/git/acme/widgets.git", "/srv/git/acme/widgets", "file:///srv/git/acme/widgets.git",
                "/srv//git/./acme/widgets.git/",
            ]
            .map { MirrorName(cloneSource: $0) })
        #expect(local.count == 1)
        #expect(local.first?.normalizedSource == "file:///srv/git/acme/widgets")

        #expect(
            MirrorName(cloneSource: "git@github.com:acme/widgets.git")
                == MirrorName(cloneSource: "deploy@GITHUB.com:acme/widgets"))
    }

    @Test("different repositories never share a mirror, even when their readable tags are alike")
    func differentRepositories() {
        let sources = [
            "https://github.com/acme/widgets", "https://github.com/Acme/widgets", "https://github.com/acme/widgets2",
            "https://gitlab.com/acme/widgets", "https://github.com:8443/acme/widgets", "ssh://github.com/acme/widgets",
            "/r1/acme/widgets.git", "/r2/acme/widgets.git", "/r/acme/wid_gets", "/r/acme/wid?gets",
        ]
        let names = sources.map { MirrorName(cloneSource: $0) }
        #expect(Set(names.map(\.directoryName)).count == sources.count)
        // Two with the same readable tag still differ by their hash.
        #expect(names[6].directoryName.hasPrefix("acme-widgets-"))
        #expect(names[7].directoryName.hasPrefix("acme-widgets-"))
    }

    @Test("a crafted clone source cannot name a path outside the mirror root")
    func noTraversal() {
        for source in [
            "https://host/../../etc/passwd", "file:///../../../etc", "/..", "https://host/%2e%2e/%2e%2e",
            "https://host/a/..", "ssh://host/~/../../root/.ssh", "git@host:../../x", "/tmp/.hidden/.git",
            "https://host/a\u{0}b/c", "https://host/" + String(repeating: "x", count: 5000),
        ] {
            let name = MirrorName(cloneSource: source).directoryName
            #expect(!name.contains("/"), "\(source)")
            #expect(!name.hasPrefix("."), "\(source)")
            #expect(name.hasSuffix(".git"), "\(source)")
            #expect(name.count <= 64 + 1 + 32 + 4, "\(source)")
            #expect(name.unicodeScalars.allSatisfy { $0.isASCII && $0.value > 0x20 }, "\(source)")
        }
    }

    @Test("the name never holds credentials")
    func noCredentials() {
        let name = MirrorName(cloneSource: "https://bob:hunter2-secret@git.example.com/bob/private.git")
        #expect(!name.normalizedSource.contains("hunter2"))
        #expect(!name.normalizedSource.contains("bob:"))
        #expect(!name.directoryName.contains("hunter2"))
    }
}
