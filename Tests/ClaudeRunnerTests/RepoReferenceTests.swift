import ClaudeRunner
import ClaudeRunnerTesting
import Testing

@Suite("repo and ref validation", .timeLimit(.minutes(1)))
struct RepoReferenceTests {
    let allowed = ["https", "ssh", "git", "file"]

    func reference(_ value: String, api: String = "https://api.github.com") throws -> RepoReference {
        try RepoReference(value, githubBaseURL: api, allowedProtocols: allowed)
    }

    @Test(
        "every accepted form normalises to owner/repo",
        arguments: [
            ("owner/repo", "owner/repo", "https://github.com/owner/repo.git"),
            ("  owner/repo  ", "owner/repo", "https://github.com/owner/repo.git"),
            ("https://github.com/owner/repo.git", "owner/repo", "https://github.com/owner/repo.git"),
            ("https://github.com/owner/repo", "owner/repo", "https://github.com/owner/repo"),
            ("git@github.com:owner/repo.git", "owner/repo", "git@github.com:owner/repo.git"),
            ("ssh://git@github.com/owner/repo.git", "owner/repo", "ssh://git@github.com/owner/repo.git"),
            ("git://example.com/owner/repo.git", "owner/repo", "git://example.com/owner/repo.git"),
            ("/srv/git/acme/widgets.git", "acme/widgets", "/srv/git/acme/widgets.git"),
            ("file:///srv/git/acme/widgets.git", "acme/widgets", "file:///srv/git/acme/widgets.git"),
        ])
    func accepted(value: String, fullName: String, cloneSource: String) throws {
        let repo = try reference(value)
        #expect(repo.fullName == fullName)
        #expect(repo.cloneSource == cloneSource)
    }

    @Test("a slug is cloned from the web host of an Enterprise API URL")
    func enterpriseSlug() throws {
        let repo = try reference("team/tool", api: "https://ghe.example.com/api/v3")
        #expect(repo.cloneSource == "https://ghe.example.com/team/tool.git")
        #expect(RepoReference.webURL(forAPI: "https://api.github.com") == "https://github.com")
    }

    @Test(
        "injection and malformed values are rejected before git runs",
        arguments: [
            ("", "repo is empty"),
            ("--upload-pack=touch /tmp/x", "must not start with '-'"),
            ("-oProxyCommand=touch /tmp/x", "must not start with '-'"),
            ("ext::sh -c touch% /tmp/x", "protocol ext not allowed"),
            ("fd::17", "protocol fd not allowed"),
            ("ssh://-oProxyCommand=touch%20x/owner/repo", "host must not start with '-'"),
            ("ssh://git@-oProxyCommand=x/owner/repo", "host must not start with '-'"),
            ("git@-oProxyCommand=x:owner/repo", "host must not start with '-'"),
            ("http://example.com/owner/repo.git", "protocol http not allowed"),
            ("ftp://example.com/owner/repo.git", "protocol ftp not allowed"),
            ("../../etc/passwd", "expected owner/repo"),
            ("../repo", "expected owner/repo"),
            ("owner", "expected owner/repo"),
            ("a/b/c", "expected owner/repo"),
            ("own er/repo", "expected owner/repo"),
            ("https://github.com/", "cannot find owner/repo"),
            ("https://github.com/owner/re$po", "owner and repo may only contain"),
        ])
    func rejected(value: String, message: String) throws {
        let error = try #require(throws: RunnerError.self) { try reference(value) }
        #expect(error.kind == .invalidRequest)
        #expect(error.message.contains(message), "\(error.message)")
    }

    @Test("credentials in a rejected URL never reach the error")
    func credentialsRedacted() throws {
        let error = try #require(throws: RunnerError.self) { try reference("https://user:s3cr3tpass@github.com/") }
        #expect(!error.message.contains("s3cr3tpass"))
    }

    @Test("the allowlist can admit http")
    func allowlist() throws {
        let repo = try RepoReference(
            "http://git.local/team/tool.git", githubBaseURL: "https://api.github.com", allowedProtocols: ["http"])
        #expect(repo.transport == "http")
        #expect(throws: RunnerError.self) {
            try RepoReference("/srv/team/tool", githubBaseURL: "https://api.github.com", allowedProtocols: ["https"])
        }
    }

    @Test("valid ref names pass", arguments: ["main", "feature/x-1", "v1.2.3", "refs/heads/main", "release_2026"])
    func validRef(ref: String) throws {
        try RefName.validate(ref, field: "ref")
    }

    @Test(
        "invalid ref names are rejected naming the field",
        arguments: [
            ("-b", "must not start with '-'"), ("--upload-pack=x", "must not start with '-'"),
            ("a..b", "'..'"), ("main@{1}", "'@{'"), ("a b", "' '"), ("a~1", "'~'"), ("a^", "'^'"), ("a:b", "':'"),
            ("/main", "'/'"), ("main/", "'/'"), ("x.lock", ".lock"), (".hidden", "start with '.'"), ("@", "'@'"),
            ("a\\b", "'\\'"), ("a*", "'*'"), ("a?", "'?'"), ("a[", "'['"), ("", "is empty"),
        ])
    func invalidRef(ref: String, message: String) throws {
        let error = try #require(throws: RunnerError.self) { try RefName.validate(ref, field: "base_ref") }
        #expect(error.message.hasPrefix("invalid base_ref"))
        #expect(error.message.contains(message), "\(error.message)")
    }
}
