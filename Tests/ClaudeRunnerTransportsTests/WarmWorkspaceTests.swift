import ClaudeRunner
import ClaudeRunnerTesting
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Spec section 13 with the real binaries, real git, the fake GitHub's smart HTTP and `file://` remotes.
@Suite("warm workspaces", .timeLimit(.minutes(5)))
struct WarmWorkspaceTests {
    /// The fake GitHub serving `acme/widgets` over smart HTTP, and a runner pointed at it.
    func withServedRepository(
        claude: [String: String] = ["LIST_FILES": "1", "GIT_STATE": "1"], extraYAML: String = "",
        _ body: @escaping @Sendable (WarmRunner, FakeGitHub, GitFixture, String) async throws -> Void
    ) async throws {
        let directory = try TemporaryDirectory("warm-http")
        defer { directory.remove() }
        let gitRoot = directory.appending("git-root")
        let git = try await GitFixture.make(in: gitRoot)
        let github = FakeGitHub(gitRoot: gitRoot)
        try await github.serve { url in
            let fixture = try RunnerFixture("warm", claudeBehaviour: claude, githubURL: url)
            defer { fixture.directory.remove() }
            let runner = try await WarmRunner.start(fixture, yaml: WarmWorkspace.githubYAML(url, extra: extraYAML))
            do {
                try await body(runner, github, git, url)
            } catch {
                await runner.stop()
                throw error
            }
            await runner.stop()
        }
    }

    @Test("over smart HTTP: the first run makes the mirror, the next ones fetch into it and see new commits")
    func warmRunsOverHTTP() async throws {
        try await withServedRepository { runner, github, git, url in
            let mirrors = runner.fixture.directory.appending("config/mirrors")
            try await runner.runOK(repo: "acme/widgets")
            #expect(runner.fixture.claude.files?.contains("README.md") == true)
            #expect(await runner.workspaceSources() == ["new_mirror"])
            // The default place, outside workDir.
            #expect(WarmWorkspace.entries(mirrors).count == 1)
            #expect(runner.fixture.workDirEntries().isEmpty)

            // Nothing new upstream: the second run asks for the refs and downloads no pack (no clone).
            await github.clearGitRequests()
            try await runner.runOK(repo: "acme/widgets")
            #expect(await runner.workspaceSources() == ["new_mirror", "mirror"])
            let unchanged = await github.gitRequests
            #expect(!unchanged.isEmpty)
            #expect(unchanged.allSatisfy { $0.method == "GET" && $0.path.hasSuffix("/info/refs") }, "\(unchanged)")

            // A new commit upstream: the next run fetches it, saying what it has.
            try await git.pushCommit(file: "new.txt", content: "new upstream\n")
            await github.clearGitRequests()
            try await runner.runOK(repo: "acme/widgets")
            #expect(runner.fixture.claude.files?.contains("new.txt") == true)
            #expect(await runner.workspaceSources() == ["new_mirror", "mirror", "mirror"])
            let fetched = await github.gitRequests.filter { $0.method == "POST" }
            #expect(!fetched.isEmpty)
            #expect(fetched.allSatisfy { $0.body.contains("have ") }, "\(fetched.map(\.body))")
            let state = try #require(runner.fixture.claude.gitState)
            #expect(state.contains("config: remote.origin.url \(url)/acme/widgets.git"))
            #expect(state.contains("head: \(try await git.commitID("main"))"))
            #expect(state.contains("shallow: true"))
            #expect(!state.contains("alternates"))

            // The token went as a header on every request, and is in no file of the mirror.
            let credentials = Data("x-access-token:\(WarmWorkspace.token)".utf8).base64EncodedString()
            #expect(await github.gitRequests.allSatisfy { $0.authorization?.hasSuffix(credentials) == true })
            for secret in [WarmWorkspace.token, credentials] {
                #expect(WarmWorkspace.files(containing: secret, under: mirrors).isEmpty)
                #expect(!(await runner.log).contains(secret))
            }

            // Metrics: the workspace histogram by source, and the mirrors' size.
            let metrics = try await Command.run("curl", ["-sf", runner.server.endpoint + "/metrics"])
            #expect(metrics.contains(#"claude_runner_workspace_seconds_count{source="new_mirror"} 1"#))
            #expect(metrics.contains(#"claude_runner_workspace_seconds_count{source="mirror"} 2"#))
            let bytes = metrics.split(separator: "\n").first { $0.hasPrefix("claude_runner_mirror_bytes ") }
            #expect((bytes?.split(separator: " ").last.flatMap { Double($0) } ?? 0) > 0, "\(bytes ?? "")")

            // The ledger: each run's record says where its workspace came from and how long it took.
            let listing = try await Command.run("curl", ["-sf", runner.server.endpoint + "/api/runs"])
            let object = try JSONSerialization.jsonObject(with: Data(listing.utf8)) as? [String: Any]
            let runs = try #require(object?["runs"] as? [[String: Any]])
            #expect(runs.map { $0["workspace_source"] as? String } == ["mirror", "mirror", "new_mirror"], "\(runs)")
            #expect(runs.allSatisfy { ($0["workspace_ms"] as? Int).map { $0 >= 0 } == true }, "\(runs)")
        }
    }

    @Test("an issue run's workspace comes from the mirror and holds no token; it outlives its mirror")
    func issueWorkspace() async throws {
        // This fake changes nothing: requireChanges false keeps the original's "finished".
        try await withServedRepository(claude: ["GIT_STATE": "1"], extraYAML: "issue:\n  requireChanges: false") {
            runner, github, _, _ in
            await github.setIssue(
                repo: "acme/widgets", number: 3, body: IssueLabels.marker, labels: IssueLabels.required)
            try await runner.runOK(repo: "acme/widgets")
            let output = try await Command.output(
                Binaries.client,
                [
                    "--transport", "http", "--endpoint", runner.server.endpoint, "--event", "issue", "--repo",
                    "acme/widgets", "--issue-number", "3",
                ],
                environment: WarmRunner.clientEnvironment)
            #expect(output.exit.isSuccess, "\(output.standardError)")
            try await eventually(timeout: .seconds(60), "the final comment") {
                await github.comments(repo: "acme/widgets", number: 3).count == 2
            }
            #expect(await github.comments(repo: "acme/widgets", number: 3)[1].hasPrefix("claude-runner finished"))
            #expect(await runner.workspaceSources() == ["new_mirror", "mirror"])

            let workspace = runner.fixture.workDir + "/gh-issue-acme-widgets-3/repo"
            let credentials = Data("x-access-token:\(WarmWorkspace.token)".utf8).base64EncodedString()
            for secret in [WarmWorkspace.token, credentials] {
                #expect(WarmWorkspace.files(containing: secret, under: workspace).isEmpty)
            }
            #expect(!FileManager.default.fileExists(atPath: workspace + "/.git/objects/info/alternates"))

            // gc and then removal of the mirror leave the workspace whole.
            let mirrors = runner.fixture.directory.appending("config/mirrors")
            let mirror = mirrors + "/" + WarmWorkspace.entries(mirrors)[0]
            try await Command.run("git", ["--git-dir", mirror, "gc", "--quiet", "--prune=now"])
            try FileManager.default.removeItem(atPath: mirror)
            try await Command.run("git", ["-C", workspace, "fsck", "--full", "--no-progress"])
            // Shallow, as the original's --depth 1 clone.
            #expect(try await Command.run("git", ["-C", workspace, "log", "--format=%s"]) == "initial commit\n")
            let origin = try await Command.run("git", ["-C", workspace, "remote", "get-url", "origin"])
            #expect(origin.hasSuffix("/acme/widgets.git\n"))
        }
    }

    @Test("with and without mirrors, Claude sees the same workspace and the same diff, byte for byte")
    func sameAsDirectClone() async throws {
        let direct = try RunnerFixture("warm-direct", claudeBehaviour: ["LIST_FILES": "1", "GIT_STATE": "1"])
        let mirrored = try RunnerFixture("warm-mirrored", claudeBehaviour: ["LIST_FILES": "1", "GIT_STATE": "1"])
        defer {
            direct.directory.remove()
            mirrored.directory.remove()
        }
        let git = try await GitFixture.make(in: direct.directory.appending("remotes"))
        try await git.addBranch("feature/y", file: "change.txt", content: "a new line\n")
        try await git.pushCommit(file: "feature-2.txt", content: WarmWorkspace.randomBytes(5000), on: "feature/y")
        // main moves on after the branch point: the diff depends on the merge base.
        try await git.pushCommit(file: "README.md", content: "main moved on\n")
        // Tags: one deep in the history, one annotated at the branch's tip (only that one is in a --depth 1 clone).
        let tagger: [String: String?] = ["GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "test@example.com"]
        try await Command.run("git", ["--git-dir", git.remote, "tag", "v0.1", "main~1"], environment: tagger)
        try await Command.run(
            "git", ["--git-dir", git.remote, "tag", "-a", "-m", "tip", "v0.2", "feature/y"], environment: tagger)
        let mirrors = mirrored.directory.appending("mirrors")
        let directRunner = try await WarmRunner.start(direct, yaml: "git:\n  mirrors: false\n")
        let mirroredRunner = try await WarmRunner.start(mirrored, yaml: "git:\n  mirrorDir: \(mirrors)\n")

        struct Seen: Equatable {
            var state: String
            var diff: Data?
            var files: [String]
        }
        func run(_ runner: WarmRunner, _ fixture: RunnerFixture, source: String, baseRef: String?) async throws -> Seen
        {
            try? FileManager.default.removeItem(atPath: fixture.claude.recordDirectory)
            try await runner.runOK(repo: source, ref: "feature/y", baseRef: baseRef)
            return Seen(
                state: try #require(fixture.claude.gitState), diff: fixture.claude.diffBytes,
                files: fixture.claude.files ?? [])
        }
        var compared: [Seen] = []
        var step = 0
        do {
            for source in ["file://" + git.remote, git.remote] {
                for baseRef in [nil, "main"] {
                    for change in ["none", "new commit", "new branch"] {
                        step += 1
                        // Upstream moves between runs: the warm workspace must catch up with it exactly.
                        switch change {
                        case "new commit":
                            try await git.pushCommit(
                                file: "step-\(step).txt", content: "step \(step)\n", on: "feature/y")
                            try await git.pushCommit(
                                file: "change.txt", content: "changed at \(step)\n", on: "feature/y")
                        case "new branch":
                            try await git.addBranch("other-\(step)", file: "other.txt", content: "\(step)\n")
                            try await git.pushCommit(file: "README.md", content: "main at \(step)\n")
                        default: break
                        }
                        let a = try await run(directRunner, direct, source: source, baseRef: baseRef)
                        let b = try await run(mirroredRunner, mirrored, source: source, baseRef: baseRef)
                        #expect(
                            a == b,
                            "step \(step) (\(source), \(baseRef ?? "no base ref"), \(change)): direct\n\(a.state)\nmirrored\n\(b.state)"
                        )
                        compared.append(a)
                    }
                }
            }
        } catch {
            await directRunner.stop()
            await mirroredRunner.stop()
            throw error
        }
        #expect(compared.count == 12)
        // The diff is the PR's own changes, and the shallow runs really are shallow.
        let review = try #require(compared[3].diff.map { String(decoding: $0, as: UTF8.self) })
        #expect(review.contains("+changed at 2") && review.contains("+step 2"))
        #expect(!review.contains("main moved on") && !review.contains("main at"))
        #expect(compared[0].state.contains("shallow: true") && compared[0].state.contains("commits: 1\n"))
        #expect(compared[3].state.contains("shallow: false"))
        #expect(compared[0].state.contains("reflog: ") && compared[0].state.contains(" clone: from file://"))
        // Every run after the first was warm, and both spellings of the source share one mirror.
        let sources = await mirroredRunner.workspaceSources()
        #expect(sources.first == "new_mirror" && sources.dropFirst().allSatisfy { $0 == "mirror" }, "\(sources)")
        // Each warm run caught its early workspace up in place rather than cloning again.
        #expect(!(await mirroredRunner.log).contains("workspace catch-up failed"))
        #expect(WarmWorkspace.entries(mirrors).count == 1)
        // The mirror's path never shows inside a workspace.
        #expect(!compared.contains { $0.state.contains(mirrors) })
        await directRunner.stop()
        await mirroredRunner.stop()
    }

    @Test("a review workspace caught up with new objects from the mirror outlives gc and removal of the mirror")
    func caughtUpWorkspaceIsIndependent() async throws {
        // Claude answers once the test has looked at its workspace, however long that takes.
        let release = NSTemporaryDirectory() + "claude-runner-warm-release-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: release) }
        let fixture = try RunnerFixture("warm-independent", claudeBehaviour: ["RELEASE_FILE": release])
        defer { fixture.directory.remove() }
        FileManager.default.createFile(atPath: release, contents: nil)
        let git = try await GitFixture.make(in: fixture.directory.appending("remotes"))
        try await git.addBranch("feature/y", file: "change.txt", content: "a new line\n")
        let mirrors = fixture.directory.appending("mirrors")
        let mirror = mirrors + "/" + MirrorName(cloneSource: git.remote).directoryName
        let runner = try await WarmRunner.start(fixture, yaml: "git:\n  mirrorDir: \(mirrors)\n")
        defer { Task { await runner.stop() } }
        try await runner.runOK(repo: git.remote, ref: "feature/y", baseRef: "main")

        // While Claude runs in the warm workspace, the mirror is repacked with everything unreachable pruned,
        // then removed: the workspace is whole and at upstream's commit.
        func runWhileMirrorGoes() async throws {
            try? FileManager.default.removeItem(atPath: fixture.claude.recordDirectory)
            try? FileManager.default.removeItem(atPath: release)
            defer { FileManager.default.createFile(atPath: release, contents: nil) }
            let run = Task { try await runner.runOK(repo: git.remote, ref: "feature/y", baseRef: "main") }
            try await fixture.claude.waitUntilStarted()
            let workspace = try #require(fixture.claude.workingDirectory)
            try await Command.run("git", ["--git-dir", mirror, "gc", "--quiet", "--prune=now"])
            try FileManager.default.removeItem(atPath: mirror)
            try await Command.run("git", ["-C", workspace, "fsck", "--full", "--no-progress"])
            let head = try await Command.run("git", ["-C", workspace, "rev-parse", "HEAD"])
            #expect(head == (try await git.commitID("feature/y")) + "\n")
            try await Command.run("git", ["-C", workspace, "diff", "--quiet", "HEAD"])
            FileManager.default.createFile(atPath: release, contents: nil)
            try await run.value
        }
        // Commits pushed from a clone of the branch.
        let pusher = fixture.directory.appending("pusher")
        let identity: [String: String?] = [
            "GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "test@example.com", "GIT_COMMITTER_NAME": "Test",
            "GIT_COMMITTER_EMAIL": "test@example.com",
        ]
        try await Command.run("git", ["clone", "--quiet", "--branch", "feature/y", "--", git.remote, pusher])
        func push(files count: Int, named prefix: String) async throws {
            for n in 0..<count {
                try "\(prefix) \(n)\n".write(toFile: "\(pusher)/\(prefix)-\(n).txt", atomically: true, encoding: .utf8)
            }
            try await Command.run("git", ["-C", pusher, "add", "."], environment: identity)
            try await Command.run("git", ["-C", pusher, "commit", "--quiet", "-m", prefix], environment: identity)
            try await Command.run(
                "git", ["-C", pusher, "push", "--quiet", "origin", "feature/y"], environment: identity)
        }
        // More than git's unpack limit of new objects: the mirror's fetch keeps them as a pack.
        try await push(files: 150, named: "many")
        try await runWhileMirrorGoes()
        #expect(WarmWorkspace.entries(mirrors).isEmpty)

        // A mirror made again; then one small commit: the mirror's fetch keeps its objects loose.
        try await runner.runOK(repo: git.remote, ref: "feature/y", baseRef: "main")
        try await push(files: 1, named: "one")
        try await runWhileMirrorGoes()
        #expect(await runner.workspaceSources() == ["new_mirror", "mirror", "new_mirror", "mirror"])
        // Caught up in place both times, not cloned again.
        #expect(!(await runner.log).contains("workspace catch-up failed"))
        await runner.stop()
    }

    @Test("a corrupted mirror (truncated pack) is removed and made again")
    func corruptedMirror() async throws {
        let fixture = try RunnerFixture("warm-corrupt", claudeBehaviour: ["LIST_FILES": "1"])
        defer { fixture.directory.remove() }
        let git = try await GitFixture.make(in: fixture.directory.appending("remotes"))
        try await git.pushCommit(file: "data.txt", content: WarmWorkspace.randomBytes(200_000))
        let mirrors = fixture.directory.appending("mirrors")
        let runner = try await WarmRunner.start(fixture, yaml: "git:\n  mirrorDir: \(mirrors)\n")
        defer { Task { await runner.stop() } }
        try await runner.runOK(repo: git.remote)
        let mirror = mirrors + "/" + MirrorName(cloneSource: git.remote).directoryName
        try await Command.run("git", ["--git-dir", mirror, "repack", "-a", "-d", "-q"])
        let pack = try #require(WarmWorkspace.entries(mirror + "/objects/pack").first { $0.hasSuffix(".pack") })
        let packPath = mirror + "/objects/pack/" + pack
        let size = try #require(try FileManager.default.attributesOfItem(atPath: packPath)[.size] as? Int)
        #expect(truncate(packPath, off_t(size / 2)) == 0)

        try await runner.runOK(repo: git.remote)
        #expect(fixture.claude.files?.contains("data.txt") == true)
        #expect(await runner.workspaceSources() == ["new_mirror", "new_mirror"])
        #expect(await runner.log.contains("mirror failed; removing it and making it again"))
        try await Command.run("git", ["--git-dir", mirror, "fsck", "--no-progress"])
        await runner.stop()
    }

    @Test("concurrent runs of one repo share a single fetch")
    func concurrentRuns() async throws {
        try await withServedRepository(extraYAML: "limits:\n  maxConcurrentRuns: 8") { runner, github, _, _ in
            try await runner.runOK(repo: "acme/widgets")
            await github.setGitDelay(.seconds(2))
            await github.clearGitRequests()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<4 {
                    group.addTask { try await runner.runOK(repo: "acme/widgets") }
                }
                try await group.waitForAll()
            }
            #expect(await runner.workspaceSources() == ["new_mirror", "mirror", "mirror", "mirror", "mirror"])
            // One update: one fetch, which learns upstream's HEAD from its own ref advertisement (nothing new,
            // so no pack is asked for).
            let requests = await github.gitRequests
            #expect(requests.map(\.path) == ["/acme/widgets.git/info/refs"], "\(requests)")
        }
    }

    @Test("least recently used mirrors are removed beyond git.mirrorMaxBytes")
    func eviction() async throws {
        let fixture = try RunnerFixture("warm-evict", claudeBehaviour: ["LIST_FILES": "1"])
        defer { fixture.directory.remove() }
        var repos: [String: GitFixture] = [:]
        for name in ["alpha", "beta", "gamma"] {
            let git = try await GitFixture.make(in: fixture.directory.appending("remotes"), name: name)
            try await git.pushCommit(file: "blob.txt", content: WarmWorkspace.randomBytes(1_000_000))
            repos[name] = git
        }
        let mirrors = fixture.directory.appending("mirrors")
        // Room for two mirrors of about 0.8 MB each, not three.
        let runner = try await WarmRunner.start(
            fixture, yaml: "git:\n  mirrorDir: \(mirrors)\n  mirrorMaxBytes: 2000000\n")
        defer { Task { await runner.stop() } }
        for name in ["alpha", "beta", "alpha", "gamma"] {
            try await runner.runOK(repo: repos[name]!.remote)
        }
        func exists(_ name: String) -> Bool {
            FileManager.default.fileExists(
                atPath: mirrors + "/" + MirrorName(cloneSource: repos[name]!.remote).directoryName)
        }
        #expect(exists("alpha") && !exists("beta") && exists("gamma"))
        #expect(await runner.log.contains("mirror evicted"))
        #expect(await runner.workspaceSources() == ["new_mirror", "new_mirror", "mirror", "new_mirror"])
        await runner.stop()
    }

    @Test("git.mirrors: false clones directly every time, as the original does")
    func mirrorsOff() async throws {
        try await withServedRepository(extraYAML: "  mirrors: false") { runner, github, _, _ in
            for _ in 0..<2 {
                await github.clearGitRequests()
                try await runner.runOK(repo: "acme/widgets")
                let requests = await github.gitRequests
                // A full clone: the ref advertisement, then a pack of everything (wants, no haves).
                #expect(requests.first?.method == "GET", "\(requests)")
                let posts = requests.dropFirst()
                #expect(!posts.isEmpty && posts.allSatisfy { $0.method == "POST" && !$0.body.contains("have ") })
                #expect(posts.contains { $0.body.contains("want ") })
            }
            #expect(await runner.workspaceSources() == ["clone", "clone"])
            #expect(!FileManager.default.fileExists(atPath: runner.fixture.directory.appending("config/mirrors")))
        }
    }
}

/// Every git command has a deadline.
@Suite("git deadlines", .timeLimit(.minutes(3)))
struct GitDeadlineTests {
    @Test("a remote that accepts and never answers: the git command times out, its process group is ended")
    func stalledRemote() async throws {
        let (descriptor, port) = try silentLoopbackListener()
        defer { close(descriptor) }
        let repo = "http://127.0.0.1:\(port)/acme/widgets.git"
        for (yaml, expected) in [
            ("", "git fetch timed out after 2s"), ("  mirrors: false\n", "git clone timed out after 2s"),
        ] {
            let fixture = try RunnerFixture("deadline")
            defer { fixture.directory.remove() }
            let runner = try await WarmRunner.start(
                fixture, yaml: "git:\n  allowedProtocols: [http]\n  timeout: 2s\n" + yaml)
            let started = ContinuousClock.now
            let output = try await runner.run(repo: repo)
            let elapsed = ContinuousClock.now - started
            #expect(!output.exit.isSuccess)
            #expect(output.standardError.contains(expected), "\(output.standardError)")
            // The deadline, not a hung run; generous for a loaded machine.
            #expect(elapsed >= .seconds(2) && elapsed < .seconds(20), "\(elapsed)")
            #expect(!fixture.claude.wasCalled)
            #expect(fixture.workDirEntries().isEmpty)
            // git and its remote helper are gone.
            try await eventually(timeout: .seconds(30), "git processes to end") {
                WarmWorkspace.processes(containing: "127.0.0.1:\(port)").isEmpty
            }
            await runner.stop()
        }
    }
}

/// Bad input around mirrors: each ends in a correct workspace or git's own error, and a clear log line.
@Suite("warm workspaces: bad input", .timeLimit(.minutes(5)))
struct WarmWorkspaceBadInputTests {
    func withRunner(
        yaml: (TemporaryDirectory) -> String = { "git:\n  mirrorDir: \($0.appending("mirrors"))\n" },
        _ body: (WarmRunner, GitFixture) async throws -> Void
    ) async throws {
        let fixture = try RunnerFixture("warm-bad", claudeBehaviour: ["LIST_FILES": "1"])
        defer { fixture.directory.remove() }
        let git = try await GitFixture.make(in: fixture.directory.appending("remotes"))
        let runner = try await WarmRunner.start(fixture, yaml: yaml(fixture.directory))
        do {
            try await body(runner, git)
        } catch {
            await runner.stop()
            throw error
        }
        await runner.stop()
    }

    @Test("a mirror root that has become a symbolic link is not followed: the run clones directly and says why")
    func symlinkedMirrorDir() async throws {
        try await withRunner { runner, git in
            // The configured path is resolved once at start-up, as workDir is; what matters is a root
            // swapped for a link afterwards.
            let root = runner.fixture.directory.appending("mirrors")
            let elsewhere = runner.fixture.directory.appending("elsewhere")
            try FileManager.default.createDirectory(atPath: elsewhere, withIntermediateDirectories: true)
            try? FileManager.default.removeItem(atPath: root)
            try FileManager.default.createSymbolicLink(atPath: root, withDestinationPath: elsewhere)
            try await runner.runOK(repo: git.remote)
            #expect(runner.fixture.claude.files?.contains("README.md") == true)
            #expect(await runner.workspaceSources() == ["clone"])
            #expect(await runner.log.contains("is a symbolic link; it is not followed"))
            #expect(WarmWorkspace.entries(elsewhere).isEmpty)
        }
    }

    @Test("a mirror entry that is a symbolic link is replaced by a real mirror; its target is untouched")
    func symlinkedMirrorEntry() async throws {
        try await withRunner { runner, git in
            let mirrors = runner.fixture.directory.appending("mirrors")
            let decoy = runner.fixture.directory.appending("decoy")
            try FileManager.default.createDirectory(atPath: decoy, withIntermediateDirectories: true)
            try Data("keep me\n".utf8).write(to: URL(fileURLWithPath: decoy + "/file"))
            try FileManager.default.createDirectory(atPath: mirrors, withIntermediateDirectories: true)
            let entry = mirrors + "/" + MirrorName(cloneSource: git.remote).directoryName
            try FileManager.default.createSymbolicLink(atPath: entry, withDestinationPath: decoy)

            try await runner.runOK(repo: git.remote)
            #expect(await runner.workspaceSources() == ["new_mirror"])
            #expect(await runner.log.contains("the mirror path is a symbolic link"))
            #expect(WarmWorkspace.entries(decoy) == ["file"])
            let attributes = try FileManager.default.attributesOfItem(atPath: entry)
            #expect(attributes[.type] as? FileAttributeType == .typeDirectory)
        }
    }

    @Test("a mirror dir that cannot be created: the run clones directly and the log says why")
    func unwritableMirrorDir() async throws {
        try await withRunner(yaml: { directory in
            try? Data("not a directory\n".utf8).write(to: URL(fileURLWithPath: directory.appending("plain-file")))
            return "git:\n  mirrorDir: \(directory.appending("plain-file/mirrors"))\n"
        }) { runner, git in
            try await runner.runOK(repo: git.remote)
            #expect(runner.fixture.claude.files?.contains("README.md") == true)
            #expect(await runner.workspaceSources() == ["clone"])
            #expect(await runner.log.contains("cannot create git.mirrorDir"))
        }
    }

    @Test("a mirror dir on a full disk, then on a read-only one: direct clones, a clear log, nothing left behind")
    func fullAndReadOnlyDisk() async throws {
        let fixture = try RunnerFixture("warm-disk", claudeBehaviour: ["LIST_FILES": "1"])
        defer { fixture.directory.remove() }
        let git = try await GitFixture.make(in: fixture.directory.appending("remotes"))
        try await git.pushCommit(file: "big.txt", content: WarmWorkspace.randomBytes(1_000_000))
        let disk = fixture.directory.appending("small-disk")
        try await WarmWorkspace.withTmpfs(at: disk, size: "256k") {
            let runner = try await WarmRunner.start(fixture, yaml: "git:\n  mirrorDir: \(disk)/mirrors\n")
            defer { Task { await runner.stop() } }
            try await runner.runOK(repo: git.remote)
            #expect(fixture.claude.files?.contains("big.txt") == true)
            #expect(await runner.workspaceSources() == ["clone"])
            let log = await runner.log
            #expect(log.contains("mirror failed again; cloning directly"))
            #expect(log.contains("No space left on device"), "\(log)")
            #expect(WarmWorkspace.entries(disk + "/mirrors").isEmpty)

            try await Command.run("mount", ["-o", "remount,ro", disk])
            try await runner.runOK(repo: git.remote)
            #expect(await runner.workspaceSources() == ["clone", "clone"])
            #expect(await runner.log.contains("is not writable"))
            await runner.stop()
        }
    }

    @Test("a warm mirror whose disk turns read-only: direct clones that see upstream, a clear log, the mirror kept")
    func readOnlyDiskWithWarmMirror() async throws {
        let fixture = try RunnerFixture("warm-read-only", claudeBehaviour: ["LIST_FILES": "1"])
        defer { fixture.directory.remove() }
        let git = try await GitFixture.make(in: fixture.directory.appending("remotes"))
        let disk = fixture.directory.appending("disk")
        try await WarmWorkspace.withTmpfs(at: disk, size: "16m") {
            let runner = try await WarmRunner.start(fixture, yaml: "git:\n  mirrorDir: \(disk)/mirrors\n")
            defer { Task { await runner.stop() } }
            try await runner.runOK(repo: git.remote)
            let mirror = disk + "/mirrors/" + MirrorName(cloneSource: git.remote).directoryName
            #expect(FileManager.default.fileExists(atPath: mirror))

            try await Command.run("mount", ["-o", "remount,ro", disk])
            try await git.pushCommit(file: "while-read-only.txt", content: "new upstream\n")
            try await runner.runOK(repo: git.remote)
            // Upstream's truth from a direct clone, not the stale mirror.
            #expect(fixture.claude.files?.contains("while-read-only.txt") == true)
            #expect(await runner.workspaceSources() == ["new_mirror", "clone"])
            let log = await runner.log
            #expect(log.contains("mirror unavailable; cloning directly"), "\(log)")
            #expect(log.contains("is not writable: Read-only file system"), "\(log)")
            try await Command.run("git", ["--git-dir", mirror, "fsck", "--no-progress"])

            // Writable again: the mirror is warm again and catches up.
            try await Command.run("mount", ["-o", "remount,rw", disk])
            try await runner.runOK(repo: git.remote)
            #expect(fixture.claude.files?.contains("while-read-only.txt") == true)
            #expect(await runner.workspaceSources() == ["new_mirror", "clone", "mirror"])
            await runner.stop()
        }
    }

    @Test("a repository that disappears upstream: git's own error, and its mirror is gone")
    func repositoryGone() async throws {
        try await withRunner { runner, git in
            try await runner.runOK(repo: git.remote)
            try FileManager.default.removeItem(atPath: git.remote)
            let output = try await runner.run(repo: git.remote)
            #expect(!output.exit.isSuccess)
            #expect(output.standardError.contains("git clone failed"), "\(output.standardError)")
            #expect(output.standardError.contains("does not exist"))
            let log = await runner.log
            #expect(log.contains("mirror failed; removing it and making it again"))
            #expect(log.contains("mirror failed again; cloning directly"))
            #expect(WarmWorkspace.entries(runner.fixture.directory.appending("mirrors")).isEmpty)
            #expect(runner.fixture.workDirEntries().isEmpty)
        }
    }

    @Test("a ref the mirror has but upstream deleted: the run sees upstream's truth, not the stale ref")
    func refDeletedUpstream() async throws {
        try await withRunner { runner, git in
            try await git.addBranch("doomed", file: "doomed.txt", content: "soon gone\n")
            try await runner.runOK(repo: git.remote, ref: "doomed")
            #expect(runner.fixture.claude.files?.contains("doomed.txt") == true)
            try await git.deleteRemoteBranch("doomed")

            let output = try await runner.run(repo: git.remote, ref: "doomed")
            #expect(!output.exit.isSuccess)
            #expect(output.standardError.contains("git clone failed"), "\(output.standardError)")
            #expect(output.standardError.contains("doomed"))
            let mirror =
                runner.fixture.directory.appending("mirrors") + "/" + MirrorName(cloneSource: git.remote).directoryName
            let refs = try await Command.run(
                "git", ["--git-dir", mirror, "for-each-ref", "--format=%(refname)", "refs/heads", "refs/tags"])
            #expect(refs == "refs/heads/main\n")
            // Not a broken mirror: it was kept, and the next run is warm.
            try await runner.runOK(repo: git.remote)
            #expect(await runner.workspaceSources() == ["new_mirror", "mirror"])
        }
    }

    @Test("upstream's default branch changes: a run without a ref checks out the new one, as a clone would")
    func defaultBranchChanged() async throws {
        try await withRunner { runner, git in
            try await git.addBranch("trunk", file: "trunk.txt", content: "the new default\n")
            try await runner.runOK(repo: git.remote)
            #expect(runner.fixture.claude.files?.contains("trunk.txt") == false)
            try await Command.run("git", ["--git-dir", git.remote, "symbolic-ref", "HEAD", "refs/heads/trunk"])
            try await runner.runOK(repo: git.remote)
            #expect(runner.fixture.claude.files?.contains("trunk.txt") == true)
            #expect(await runner.workspaceSources() == ["new_mirror", "mirror"])
        }
    }

    @Test("a default branch named outside ASCII: runs without a ref check it out, from a warm mirror")
    func nonASCIIDefaultBranch() async throws {
        try await withRunner { runner, git in
            try await git.addBranch("café", file: "cafe.txt", content: "café\n")
            try await Command.run("git", ["--git-dir", git.remote, "symbolic-ref", "HEAD", "refs/heads/café"])
            try await runner.runOK(repo: git.remote)
            try await runner.runOK(repo: git.remote)
            #expect(runner.fixture.claude.files?.contains("cafe.txt") == true)
            #expect(await runner.workspaceSources() == ["new_mirror", "mirror"])
            #expect(!(await runner.log).contains("mirror failed"))
        }
    }

    @Test("sources that look alike get their own mirrors; spellings of one source share one")
    func collidingSources() async throws {
        try await withRunner { runner, git in
            // Same owner/name in another folder: the same readable tag, another repository.
            let other = try await GitFixture.make(in: runner.fixture.directory.appending("other-remotes"))
            try await other.pushCommit(file: "only-in-other.txt", content: "other\n")
            try await runner.runOK(repo: git.remote)
            #expect(runner.fixture.claude.files?.contains("only-in-other.txt") == false)
            try await runner.runOK(repo: other.remote)
            #expect(runner.fixture.claude.files?.contains("only-in-other.txt") == true)
            try await runner.runOK(repo: "file://" + git.remote)
            #expect(runner.fixture.claude.files?.contains("only-in-other.txt") == false)
            try await runner.runOK(repo: String(git.remote.dropLast(4)))
            #expect(runner.fixture.claude.files?.contains("only-in-other.txt") == false)
            #expect(WarmWorkspace.entries(runner.fixture.directory.appending("mirrors")).count == 2)
            #expect(await runner.workspaceSources() == ["new_mirror", "new_mirror", "mirror", "mirror"])
        }
    }

    @Test("URLs that differ only in credentials share one mirror, which never holds them")
    func credentialsShareMirror() async throws {
        let directory = try TemporaryDirectory("warm-credentials")
        defer { directory.remove() }
        let gitRoot = directory.appending("git-root")
        _ = try await GitFixture.make(in: gitRoot)
        let github = FakeGitHub(gitRoot: gitRoot)
        try await github.serve { url in
            let fixture = try RunnerFixture("warm-credentials", claudeBehaviour: ["LIST_FILES": "1"])
            defer { fixture.directory.remove() }
            let mirrors = fixture.directory.appending("mirrors")
            let runner = try await WarmRunner.start(
                fixture, yaml: "git:\n  allowedProtocols: [http]\n  mirrorDir: \(mirrors)\n")
            defer { Task { await runner.stop() } }
            let plain = url + "/acme/widgets.git"
            let withCredentials =
                url.replacingOccurrences(of: "http://", with: "http://tester:s3cr3t-pw@")
                + "/acme/widgets.git"
            try await runner.runOK(repo: plain)
            try await runner.runOK(repo: withCredentials)
            #expect(await runner.workspaceSources() == ["new_mirror", "mirror"])
            #expect(WarmWorkspace.entries(mirrors).count == 1)
            #expect(WarmWorkspace.files(containing: "s3cr3t-pw", under: mirrors).isEmpty)
            #expect(!(await runner.log).contains("s3cr3t-pw"))
            await runner.stop()
        }
    }
}
