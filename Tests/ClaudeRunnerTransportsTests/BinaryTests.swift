import ClaudeRunner
import ClaudeRunnerTesting
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The two executables, run as a user runs them.
@Suite("claude-runner and claude-runner-client binaries", .timeLimit(.minutes(3)))
struct BinaryTests {
    /// Starts `claude-runner --http` for `fixture` with the fake claude first on PATH.
    func startServer(
        _ fixture: RunnerFixture, yaml: String = "", environment: [String: String?] = [:]
    ) async throws
        -> (RunningProcess, String)
    {
        let server = try await fixture.startServer(yaml: yaml, environment: environment)
        return (server.process, server.endpoint)
    }

    func client(_ arguments: [String], environment: [String: String?] = [:]) async throws -> Command.Output {
        try await Command.output(Binaries.client, arguments, environment: environment)
    }

    @Test("no transport: a clear message and a non-zero exit")
    func noTransport() async throws {
        let fixture = try RunnerFixture()
        defer { fixture.directory.remove() }
        let output = try await Command.output(Binaries.server, ["--path", fixture.directory.path])
        #expect(output.exit == .exited(1))
        #expect(output.standardError.contains("no transport enabled"))
        #expect(output.standardError.contains("--http"))
    }

    @Test("a malformed config.yaml stops start-up naming the file, line and key; unknown keys warn")
    func badConfig() async throws {
        let fixture = try RunnerFixture()
        defer { fixture.directory.remove() }
        let path = try fixture.writeConfigFile("model: m\nmaxTurns: lots\n")
        let output = try await Command.output(Binaries.server, ["--http", "--path", path])
        #expect(output.exit == .exited(1))
        #expect(output.standardError.contains("\(path)/config.yaml:2: key 'maxTurns': expected an integer"))

        try "maxTurnz: 3\n".write(toFile: path + "/config.yaml", atomically: true, encoding: .utf8)
        let warned = try await Command.output(Binaries.server, ["--path", path])
        #expect(warned.standardError.contains("unknown key 'maxTurnz'"))
    }

    @Test("serve HTTP, answer the client, exit 0 on SIGTERM")
    func serveAndStop() async throws {
        let fixture = try RunnerFixture(claudeBehaviour: ["OUTPUT": "forty-two"])
        defer { fixture.directory.remove() }
        let workDir = fixture.directory.appending("work")
        let (server, endpoint) = try await startServer(fixture, yaml: "workDir: \(workDir)\nmaxTurns: 4\n")
        defer { Task { await server.stop() } }

        let output = try await client(["--transport", "http", "--endpoint", endpoint, "--prompt", "6 x 7?"])
        #expect(output.exit == .exited(0))
        #expect(output.standardOutput == "forty-two")
        #expect(
            fixture.claude.arguments == [
                "-p", "6 x 7?", "--max-turns", "4", "--output-format", "stream-json", "--verbose",
            ])
        #expect(fixture.claude.workingDirectory == workDir)

        // Every flag can come from the environment instead.
        let fromEnvironment = try await client(
            [], environment: ["TRANSPORT": "http", "ENDPOINT": endpoint, "PROMPT": "from env"])
        #expect(fromEnvironment.exit == .exited(0))
        #expect(fixture.claude.prompt == "from env")

        await server.signal(SIGTERM)
        #expect(try await server.exit == .exited(0))
        let log = await server.standardError
        #expect(log.contains("run finished"))
        #expect(log.contains("run.id="))
    }

    @Test("a Result error goes to stderr as Error: and the exit status is non-zero; --output-file still written")
    func clientError() async throws {
        let fixture = try RunnerFixture(claudeBehaviour: [
            "OUTPUT": "partial answer", "STDERR": "quota exceeded", "EXIT": "1",
        ])
        defer { fixture.directory.remove() }
        let (server, endpoint) = try await startServer(fixture)
        defer { Task { await server.stop() } }
        let workspace = fixture.directory.appending("gh-workspace")
        let output = try await client(
            ["--transport", "http", "--endpoint", endpoint, "--prompt", "p", "--output-file", "out/claude.md"],
            environment: ["GITHUB_WORKSPACE": workspace])
        #expect(output.exit == .exited(1))
        #expect(output.standardError.contains("Error: quota exceeded\n"))
        #expect(output.standardOutput == "partial answer")
        #expect(FileManager.default.text(at: workspace + "/out/claude.md") == "partial answer")
        await server.stop()
    }

    @Test("client input errors: missing prompt, missing endpoint, unknown transport, NATS without edge id")
    func clientInputErrors() async throws {
        let noPrompt = try await client(["--transport", "http", "--endpoint", "http://127.0.0.1:1"])
        #expect(noPrompt.exit == .exited(1))
        #expect(noPrompt.standardError.contains("--prompt is required unless --event=issue or issue-closed"))
        let noEndpoint = try await client(["--transport", "http", "--prompt", "p"])
        #expect(noEndpoint.standardError.contains("--endpoint is required for HTTP transport"))
        let unknown = try await client(["--transport", "smoke", "--prompt", "p"])
        #expect(unknown.standardError.contains("unsupported transport: smoke"))
        let nats = try await client(["--prompt", "p"])
        #expect(nats.exit == .exited(1))
        #expect(nats.standardError.contains("--edge-id is required for NATS transport"))
        let badNumber = try await client([
            "--transport", "http", "--endpoint", "http://x", "--prompt", "p", "--pr-number", "x",
        ])
        #expect(badNumber.standardError.contains("invalid --pr-number"))
    }

    @Test("a non-200 answer is a failure that shows the server's message")
    func clientServerError() async throws {
        let fixture = try RunnerFixture()
        defer { fixture.directory.remove() }
        let (server, endpoint) = try await startServer(fixture)
        defer { Task { await server.stop() } }
        let output = try await client([
            "--transport", "http", "--endpoint", endpoint, "--prompt", "p", "--repo=--upload-pack=x",
        ])
        #expect(output.exit == .exited(1))
        #expect(output.standardError.contains("unexpected status: 400"))
        #expect(output.standardError.contains("must not start with '-'"))
        await server.stop()
    }

    @Test(
        "--event issue sends RunIssue and --event issue-closed sends CleanupIssue; SIGTERM waits for the background run"
    )
    func issueEventsAndShutdown() async throws {
        let github = FakeGitHub()
        await github.setIssue(
            repo: "acme/widgets", number: 5, body: "<!-- agent-task:v1 -->\ndo it", labels: IssueLabels.required)
        try await github.serve { url in
            let fixture = try RunnerFixture(claudeBehaviour: ["DELAY": "2", "OUTPUT": "implemented"])
            defer { fixture.directory.remove() }
            let git = try await GitFixture.make(in: fixture.directory.appending("remotes"))
            let workDir = fixture.directory.appending("work")
            // This fake changes nothing: requireChanges false keeps the original's "finished".
            let yaml = "workDir: \(workDir)\ngithub:\n  baseURL: \(url)\nissue:\n  requireChanges: false\n"
            let (server, endpoint) = try await startServer(
                fixture, yaml: yaml, environment: ["GITHUB_TOKEN": "ghp_fromenv_abcdef"])
            defer { Task { await server.stop() } }

            let accepted = try await client(
                [
                    "--transport", "http", "--endpoint", endpoint, "--event", "issue", "--repo", git.remote,
                    "--issue-number", "5", "--prompt", "ignored in issue mode",
                ])
            #expect(accepted.exit == .exited(0))
            #expect(
                accepted.standardOutput
                    == "Issue acme/widgets#5 accepted; claude-runner is processing in the background.")
            try await fixture.claude.waitUntilStarted()
            #expect(fixture.claude.prompt?.contains("ignored in issue mode") == false)

            // SIGTERM while Claude works: the runner waits for the run and its report, then exits 0.
            await server.signal(SIGTERM)
            #expect(try await server.exit == .exited(0))
            let comments = await github.comments(repo: "acme/widgets", number: 5)
            #expect(comments.count == 2)
            #expect(comments.last == "claude-runner finished this task.\n\nimplemented")
            let log = await server.standardError
            #expect(!log.contains("ghp_fromenv_abcdef"))

            // Cleanup through a new server.
            let (second, secondEndpoint) = try await startServer(fixture, yaml: yaml)
            defer { Task { await second.stop() } }
            let cleaned = try await client(
                [
                    "--transport", "http", "--endpoint", secondEndpoint, "--event", "issue-closed", "--repo",
                    git.remote,
                    "--issue-number", "5",
                ])
            #expect(cleaned.standardOutput == "Issue workspace gh-issue-acme-widgets-5 cleaned up.")
            #expect(!FileManager.default.fileExists(atPath: workDir + "/gh-issue-acme-widgets-5"))
            await second.stop()
        }
    }

    @Test("run-issue: the whole protocol in the foreground; exit status says whether the task completed")
    func runIssueCommand() async throws {
        let github = FakeGitHub()
        await github.setIssue(
            repo: "acme/widgets", number: 8, body: "<!-- agent-task:v1 -->", labels: IssueLabels.required)
        await github.setIssue(
            repo: "acme/widgets", number: 9, body: "<!-- agent-task:v1 -->", labels: IssueLabels.required)
        await github.setIssue(repo: "acme/widgets", number: 10, body: "no marker", labels: IssueLabels.required)
        try await github.serve { url in
            let fixture = try RunnerFixture(claudeBehaviour: ["OUTPUT": "done"])
            defer { fixture.directory.remove() }
            let git = try await GitFixture.make(in: fixture.directory.appending("remotes"))
            // This fake changes nothing: requireChanges false keeps the original's "finished".
            let path = try fixture.writeConfigFile(
                "github:\n  baseURL: \(url)\n  token: ghp_config_token\nissue:\n  requireChanges: false\n")
            let environment: [String: String?] = [
                "PATH": fixture.pathWithFakeClaude,
                "GITHUB_TOKEN": nil,
            ]

            let success = try await Command.output(
                Binaries.server, ["run-issue", "--path", path, "--repo", git.remote, "--issue-number", "8"],
                environment: environment)
            #expect(success.exit == .exited(0))
            #expect(
                success.standardOutput
                    == "Issue acme/widgets#8 accepted; claude-runner is processing in the background.\n")
            #expect(
                await github.comments(repo: "acme/widgets", number: 8).last
                    == "claude-runner finished this task.\n\ndone")
            #expect(await github.calls.first?.authorization == "Bearer ghp_config_token")

            // --github-token (or GITHUB_TOKEN) overrides the config's token.
            var failing = environment
            failing["FAKE_CLAUDE_EXIT"] = "4"
            failing["GITHUB_TOKEN"] = "ghp_env_override"
            let failed = try await Command.output(
                Binaries.server, ["run-issue", "--path", path, "--repo", git.remote, "--issue-number", "9"],
                environment: failing)
            #expect(failed.exit == .exited(1))
            #expect(failed.standardError.contains("failed (claude_failed): exit status 4"))
            #expect(await github.calls.last?.authorization == "Bearer ghp_env_override")
            #expect(await github.labels(repo: "acme/widgets", number: 9).contains("agent-failed"))

            let rejected = try await Command.output(
                Binaries.server, ["run-issue", "--path", path, "--repo", git.remote, "--issue-number", "10"],
                environment: environment)
            #expect(rejected.exit == .exited(1))
            #expect(rejected.standardError.contains("issue body missing agent task marker"))
            #expect(await github.comments(repo: "acme/widgets", number: 10).isEmpty)

            let missing = try await Command.output(
                Binaries.server, ["run-issue", "--path", path], environment: environment)
            #expect(missing.exit == .exited(1))
            #expect(missing.standardError.contains("missing --repo"))
        }
    }
}

@Suite("shutdown and start-up failures", .timeLimit(.minutes(3)))
struct ShutdownTests {
    @Test("an HTTP run longer than the shutdown grace is stopped and the runner still exits 0")
    func graceEnds() async throws {
        let fixture = try RunnerFixture(claudeBehaviour: ["DELAY": "120", "IGNORE_TERM": "1"])
        defer { fixture.directory.remove() }
        let runner = try await fixture.startServer(yaml: "limits:\n  shutdownGrace: 1s\n")
        let server = runner.process
        defer { Task { await server.stop() } }
        let request = Task {
            try await Command.output(
                Binaries.client, ["--transport", "http", "--endpoint", runner.endpoint, "--prompt", "long"])
        }
        try await fixture.claude.waitUntilStarted()
        let pid = try #require(fixture.claude.processID)
        let started = ContinuousClock.now
        await server.signal(SIGTERM)
        #expect(try await server.exit == .exited(0))
        #expect(ContinuousClock.now - started < .seconds(40))
        try await eventually("claude stopped") { !processIsAlive(pid) }
        _ = try? await request.value
    }

    @Test("a listen address already in use is a start-up failure, not exit 0")
    func addressInUse() async throws {
        let fixture = try RunnerFixture()
        defer { fixture.directory.remove() }
        let first = try await fixture.startServer()
        defer { Task { await first.process.stop() } }
        let second = try await Command.output(
            Binaries.server,
            ["--http", "--http-addr", "127.0.0.1:\(first.port)", "--path", fixture.directory.appending("b")])
        #expect(second.exit == .exited(1))
        #expect(second.standardError.contains("claude-runner: stopped: bind"))
        #expect(second.standardError.contains("Address already in use"))
        await first.process.stop()
    }
}
