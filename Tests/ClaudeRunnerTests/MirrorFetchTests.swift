import ClaudeRunnerTesting
import Foundation
import Testing

@testable import ClaudeRunner

@Suite("a mirror's fetch and upstream's HEAD", .timeLimit(.minutes(2)))
struct MirrorFetchTests {
    let git = Git(allowedProtocols: ["file", "http"], redactor: Redactor(), terminationGrace: .seconds(1))

    static func trace(_ lines: String...) -> Data {
        Data(lines.map { "12:00:00.000000 pkt-line.c:80           packet: \($0)\n" }.joined().utf8)
    }

    static let id = String(repeating: "ab", count: 20)

    /// What the runner reads from `trace` as a fetch's trace file.
    static func parse(_ trace: Data) throws -> Git.RemoteHead {
        let directory = try TemporaryDirectory("packet-trace")
        defer { directory.remove() }
        let path = directory.appending("trace")
        try trace.write(to: URL(fileURLWithPath: path))
        return Git.remoteHead(inPacketTraceFile: path)
    }

    @Test("the packet trace: HEAD's branch in v2 and v0; unborn names none; detached or escaped asks upstream")
    func parsesTrace() throws {
        let v2 = Self.trace(
            "        fetch> command=ls-refs", "        fetch> ref-prefix HEAD", "  upload-pack< ref-prefix HEAD",
            "  upload-pack> \(Self.id) HEAD symref-target:refs/heads/trunk",
            "        fetch< \(Self.id) HEAD symref-target:refs/heads/trunk",
            "        fetch< \(Self.id) refs/heads/main")
        #expect(try Self.parse(v2) == .branch("trunk"))
        let sha256 = String(repeating: "0f", count: 32)
        #expect(
            try Self.parse(Self.trace("fetch< \(sha256) HEAD symref-target:refs/heads/release/2"))
                == .branch("release/2"))
        // A detached HEAD (v2), or a v0 HEAD line that is not the first: the trace cannot say, upstream is asked.
        #expect(try Self.parse(Self.trace("fetch< \(Self.id) HEAD")) == .unseen)
        // Bytes outside printable ASCII are written as octal escapes: "café" is asked of upstream too.
        let escaped = Self.trace(#"fetch< \#(Self.id) HEAD symref-target:refs/heads/caf\303\251"#)
        #expect(try Self.parse(escaped) == .unseen)
        let escapedV0 = Self.trace(#"git< \#(Self.id) HEAD\0multi_ack symref=HEAD:refs/heads/caf\303\251"#)
        #expect(try Self.parse(escapedV0) == .unseen)
        #expect(
            try Self.parse(Self.trace("fetch< unborn HEAD symref-target:refs/heads/master"))
                == .noBranch)
        let v0 = Self.trace(
            "           git< # service=git-upload-pack",
            "           git< \(Self.id) HEAD\\0multi_ack thin-pack symref=HEAD:refs/heads/main agent=git/2.39.5",
            "           git< \(Self.id) refs/heads/main")
        #expect(try Self.parse(v0) == .branch("main"))
        #expect(
            try Self.parse(Self.trace("git< \(Self.id) HEAD\\0multi_ack thin-pack agent=git/1.8"))
                == .noBranch)
        // Nothing received about HEAD, only what was sent, or not a trace at all: unseen (upstream is asked).
        let sent = Self.trace("fetch> \(Self.id) HEAD symref-target:refs/heads/x")
        #expect(try Self.parse(sent) == .unseen)
        #expect(try Self.parse(Self.trace("fetch< \(Self.id) refs/heads/main")) == .unseen)
        #expect(try Self.parse(Data("fatal: nothing\n".utf8)) == .unseen)
        #expect(try Self.parse(Data()) == .unseen)
        #expect(try Self.parse(Self.trace("fetch< HEADS HEAD symref-target:refs/heads/x")) == .unseen)
    }

    @Test("a trace file is read in pieces: a HEAD line across a piece boundary, or last without a newline")
    func traceFile() async throws {
        try await TemporaryDirectory.with("packet-trace") { directory in
            let path = directory.appending("trace")
            let head = Self.trace("fetch< \(Self.id) HEAD symref-target:refs/heads/main")
            let filler = Self.trace("fetch< \(Self.id) refs/tags/v1")
            // The HEAD line starts a few bytes before the first 64 KiB piece ends.
            var straddling = Data()
            while straddling.count + filler.count < 65_536 - 10 { straddling += filler }
            try (straddling + head + filler).write(to: URL(fileURLWithPath: path))
            #expect(Git.remoteHead(inPacketTraceFile: path) == .branch("main"))
            // Far into a long listing, and the file's last line without its newline.
            var long = Data()
            for _ in 0..<5000 { long += filler }
            try (long + head.dropLast()).write(to: URL(fileURLWithPath: path))
            #expect(Git.remoteHead(inPacketTraceFile: path) == .branch("main"))
            try long.write(to: URL(fileURLWithPath: path))
            #expect(Git.remoteHead(inPacketTraceFile: path) == .unseen)
            #expect(Git.remoteHead(inPacketTraceFile: directory.appending("missing")) == .unseen)
        }
    }

    @Test("over file:// (protocol v2): the fetch names upstream's default branch as it changes, and leaves no trace")
    func fileFetch() async throws {
        try await TemporaryDirectory.with("mirror-fetch") { directory in
            let upstream = try await GitFixture.make(in: directory.appending("remotes"))
            try await upstream.addBranch("trunk", file: "trunk.txt", content: "trunk\n")
            let mirror = directory.appending("mirror.git")
            try await git.initMirror(at: mirror, logger: RunnerFixture.logger)
            let source = "file://" + upstream.remote
            #expect(try await git.fetchMirror(mirror, from: source, logger: RunnerFixture.logger) == .branch("main"))
            try await Command.run("git", ["--git-dir", upstream.remote, "symbolic-ref", "HEAD", "refs/heads/trunk"])
            #expect(try await git.fetchMirror(mirror, from: source, logger: RunnerFixture.logger) == .branch("trunk"))
            let trunk = try await upstream.commitID("trunk")
            try await Command.run("git", ["--git-dir", upstream.remote, "update-ref", "--no-deref", "HEAD", trunk])
            #expect(try await git.fetchMirror(mirror, from: source, logger: RunnerFixture.logger) == .unseen)
            // A name outside ASCII: the trace escapes it, so upstream is asked, and ls-remote gives it whole.
            try await upstream.addBranch("café", file: "cafe.txt", content: "café\n")
            try await Command.run("git", ["--git-dir", upstream.remote, "symbolic-ref", "HEAD", "refs/heads/café"])
            #expect(try await git.fetchMirror(mirror, from: source, logger: RunnerFixture.logger) == .unseen)
            #expect(try await git.remoteDefaultBranch(source, logger: RunnerFixture.logger) == "café")
            #expect(!FileManager.default.fileExists(atPath: mirror + "/" + Git.packetTraceFile))
            let refs = try await Command.run("git", ["--git-dir", mirror, "for-each-ref", "--format=%(refname)"])
            #expect(refs == "refs/claude-runner/upstream-head\nrefs/heads/café\nrefs/heads/main\nrefs/heads/trunk\n")
        }
    }

    @Test("an empty upstream: the fetch succeeds and names no branch")
    func emptyUpstream() async throws {
        try await TemporaryDirectory.with("mirror-fetch-empty") { directory in
            let upstream = directory.appending("empty.git")
            try await Command.run("git", ["init", "--quiet", "--bare", upstream])
            let mirror = directory.appending("mirror.git")
            try await git.initMirror(at: mirror, logger: RunnerFixture.logger)
            #expect(try await git.fetchMirror(mirror, from: upstream, logger: RunnerFixture.logger) == .noBranch)
        }
    }

    @Test("over smart HTTP (the fake GitHub's git, protocol v0): the fetch names upstream's default branch")
    func httpFetch() async throws {
        try await TemporaryDirectory.with("mirror-fetch-http") { directory in
            let gitRoot = directory.appending("git-root")
            let upstream = try await GitFixture.make(in: gitRoot)
            try await upstream.addBranch("trunk", file: "trunk.txt", content: "trunk\n")
            try await Command.run("git", ["--git-dir", upstream.remote, "symbolic-ref", "HEAD", "refs/heads/trunk"])
            let mirror = directory.appending("mirror.git")
            try await git.initMirror(at: mirror, logger: RunnerFixture.logger)
            let github = FakeGitHub(gitRoot: gitRoot)
            try await github.serve { url in
                let head = try await git.fetchMirror(
                    mirror, from: url + "/acme/widgets.git", logger: RunnerFixture.logger)
                #expect(head == .branch("trunk"))
            }
            #expect(await github.gitRequests.count == 2)
        }
    }
}
