import ClaudeRunner
import ClaudeRunnerClient
import ClaudeRunnerTesting
import ClaudeRunnerTransports
import Foundation
import NATS
import NIOCore
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite("authentication", .timeLimit(.minutes(3)))
struct AuthenticationTests {
    @Test("only an exact bearer token gets in; missing and wrong tokens get the same 401 and run nothing")
    func bearerTokens() async throws {
        var fixture = try RunnerFixture(claudeBehaviour: ["OUTPUT": "ok"])
        defer { fixture.directory.remove() }
        fixture.config.http.tokens = ["first-token-123456", "second-token-abcdef"]
        try await RunnerServer.with(fixture) { [fixture] server in
            let missing = try await server.post("/api/run", #"{"prompt":"p"}"#)
            let wrong = try await server.post(
                "/api/run", #"{"prompt":"p"}"#, headers: ["Authorization": "Bearer first-token-12345"])
            let basic = try await server.post(
                "/api/run", #"{"prompt":"p"}"#, headers: ["Authorization": "Basic Zmlyc3QtdG9rZW4tMTIzNDU2"])
            for response in [missing, wrong, basic] {
                #expect(response.status == 401)
                #expect(response.body == #"{"error":"unauthorized"}"#)
                #expect(response.header("WWW-Authenticate") == "Bearer")
            }
            #expect(!fixture.claude.wasCalled)
            let issue = try await server.post("/api/run-issue", #"{"repo":"a/b","issue_number":1}"#)
            #expect(issue.status == 401)

            for token in ["first-token-123456", "second-token-abcdef"] {
                let ok = try await server.post(
                    "/api/run", #"{"prompt":"p"}"#, headers: ["Authorization": "Bearer \(token)"])
                #expect(ok.status == 200)
            }
            // Authentication comes before the body limit: an unauthorised caller learns nothing.
            let huge = try await server.post("/api/run", String(repeating: "x", count: 2 << 20))
            #expect(huge.status == 401)
        }
    }

    @Test("the exposure rule: no tokens on a non-loopback address refuses to start unless http.insecure")
    func exposure() async throws {
        let fixture = try RunnerFixture()
        defer { fixture.directory.remove() }
        let path = fixture.directory.appending("config")
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        for address in [":18080", "0.0.0.0:18080"] {
            let refused = try await Command.output(Binaries.server, ["--http", "--http-addr", address, "--path", path])
            #expect(refused.exit == .exited(1))
            #expect(refused.standardError.contains("refusing to serve HTTP"))
        }
        let insecure = try await fixture.startServer(yaml: "http:\n  insecure: true\n", host: "0.0.0.0")
        defer { Task { await insecure.process.stop() } }
        #expect(await insecure.process.standardError.contains("without authentication (http.insecure is true)"))
        await insecure.process.stop()
    }

    @Test("the client sends the token from --token-file or CLAUDE_RUNNER_TOKEN; no token reaches a log")
    func clientToken() async throws {
        let fixture = try RunnerFixture(claudeBehaviour: ["OUTPUT": "authorised"])
        defer { fixture.directory.remove() }
        let tokenFile = fixture.directory.appending("token")
        try "# the runner's token\nfile-token-0987654321\n".write(toFile: tokenFile, atomically: true, encoding: .utf8)
        let started = try await fixture.startServer(
            yaml: "http:\n  tokenFile: \(tokenFile)\n", host: "0.0.0.0", arguments: ["--log-level", "trace"],
            environment: ["CLAUDE_RUNNER_HTTP_TOKEN": "env-token-1122334455"])
        let server = started.process
        defer { Task { await server.stop() } }
        let endpoint = started.endpoint
        let withFile = try await Command.output(
            Binaries.client,
            ["--transport", "http", "--endpoint", endpoint, "--prompt", "p", "--token-file", tokenFile])
        #expect(withFile.standardOutput == "authorised")
        let withEnvironment = try await Command.output(
            Binaries.client, ["--transport", "http", "--endpoint", endpoint, "--prompt", "p"],
            environment: ["CLAUDE_RUNNER_TOKEN": "env-token-1122334455"])
        #expect(withEnvironment.standardOutput == "authorised")
        let without = try await Command.output(
            Binaries.client, ["--transport", "http", "--endpoint", endpoint, "--prompt", "p"],
            environment: ["CLAUDE_RUNNER_TOKEN": nil])
        #expect(without.exit == .exited(1))
        #expect(without.standardError.contains("unexpected status: 401"))
        await server.stop()
        let log = await server.standardError
        #expect(!log.contains("file-token-0987654321"))
        #expect(!log.contains("env-token-1122334455"))
        // Claude's environment does not carry the runner's own token, under any name.
        let claudeEnvironment = try #require(fixture.claude.environment)
        #expect(claudeEnvironment["PATH"] == fixture.pathWithFakeClaude, "the fake recorded the runner's environment")
        #expect(claudeEnvironment["CLAUDE_RUNNER_HTTP_TOKEN"] == nil)
        #expect(claudeEnvironment["CLAUDE_RUNNER_TOKEN"] == nil)
        for (name, value) in claudeEnvironment {
            #expect(!value.contains("file-token-0987654321"), "\(name) carries the token file's token")
            #expect(!value.contains("env-token-1122334455"), "\(name) carries CLAUDE_RUNNER_HTTP_TOKEN's token")
        }
    }
}

@Suite("limits", .timeLimit(.minutes(3)))
struct LimitTests {
    @Test("a full queue answers 503 with Retry-After at once; queued runs wait their turn")
    func queueFull() async throws {
        // The fake sleeps 60 s, so "at once" is: answered while the run ahead of it is still going.
        var fixture = try RunnerFixture(claudeBehaviour: ["OUTPUT": "done", "DELAY": "60"])
        defer { fixture.directory.remove() }
        fixture.config.limits.maxConcurrentRuns = 1
        fixture.config.limits.maxQueuedRuns = 1
        try await RunnerServer.with(fixture) { [fixture] server in
            let first = Task { try await server.post("/api/run", #"{"prompt":"1"}"#) }
            try await fixture.claude.waitUntilStarted()
            let firstClaude = try #require(fixture.claude.processID)
            let second = Task { try await server.post("/api/run", #"{"prompt":"2"}"#) }
            try await eventually("second run queued") { server.service.slots.counts.waiting == 1 }
            let busy = "runner is busy: 1 runs in progress and 1 waiting (limits.maxQueuedRuns); retry later"
            let third = try await server.post("/api/run", #"{"prompt":"3"}"#)
            #expect(third.status == 503)
            #expect(third.header("Retry-After") == "5")
            #expect(third.errorMessage == busy)
            #expect(processIsAlive(firstClaude))
            // The slot check comes before the issue is looked at: this runner has no GitHub client, which
            // would be a 400, yet a full runner says so first.
            let issue = try await server.post("/api/run-issue", #"{"repo":"a/b","issue_number":1}"#)
            #expect(issue.status == 503)
            #expect(issue.errorMessage == busy)
            #expect(processIsAlive(firstClaude))
            // The queued run has not started while the first holds the slot; it starts once the first ends.
            #expect(fixture.claude.callCount == 1)
            kill(firstClaude, SIGTERM)
            #expect(try await first.value.status == 200)
            try await eventually("queued run started") { fixture.claude.callCount == 2 }
            let secondClaude = try #require(fixture.claude.processID)
            #expect(secondClaude != firstClaude)
            #expect(fixture.claude.prompt == "2")
            kill(secondClaude, SIGTERM)
            #expect(try await second.value.status == 200)
        }
    }
}

@Suite("crash recovery", .timeLimit(.minutes(3)))
struct RecoveryTests {
    @Test("killed with -9 mid-issue: the next start marks the attempt interrupted, comments and labels the issue")
    func killedRunner() async throws {
        let github = FakeGitHub()
        await github.setIssue(repo: "acme/widgets", number: 11, body: IssueLabels.marker, labels: IssueLabels.required)
        try await github.serve { url in
            let fixture = try RunnerFixture(claudeBehaviour: ["DELAY": "60"])
            defer { fixture.directory.remove() }
            let git = try await GitFixture.make(in: fixture.directory.appending("remotes"))
            let workDir = fixture.directory.appending("work")
            let yaml = "workDir: \(workDir)\ngithub:\n  baseURL: \(url)\n  token: ghp_recovery_token\n"
            let started = try await fixture.startServer(yaml: yaml)
            let first = started.process
            let port = started.port
            let accepted = try await Command.output(
                Binaries.client,
                [
                    "--transport", "http", "--endpoint", "http://127.0.0.1:\(port)", "--event", "issue", "--repo",
                    git.remote,
                    "--issue-number", "11",
                ])
            #expect(accepted.exit == .exited(0))
            try await fixture.claude.waitUntilStarted()
            try await eventually("claude pid in the lock") {
                FileManager.default.text(at: workDir + "/gh-issue-acme-widgets-11/.claude-runner/lock.json")?
                    .contains("claude_pid") == true
            }
            await first.signal(SIGKILL)
            _ = try? await first.exit
            let orphan = try #require(fixture.claude.processID)
            #expect(processIsAlive(orphan))

            let taskRoot = workDir + "/gh-issue-acme-widgets-11"
            #expect(FileManager.default.text(at: taskRoot + "/.claude-runner/state.json")?.contains("running") == true)
            #expect(FileManager.default.fileExists(atPath: taskRoot + "/.claude-runner/lock.json"))

            let second = try await fixture.startServer(yaml: yaml, port: port).process
            defer { Task { await second.stop() } }
            let comments = await github.comments(repo: "acme/widgets", number: 11)
            #expect(comments.count == 2)
            #expect(comments.last?.contains("The run was interrupted") == true)
            #expect(comments.last?.contains("Run ID: `") == true)
            #expect(await github.labels(repo: "acme/widgets", number: 11).contains("agent-failed"))
            #expect(!FileManager.default.fileExists(atPath: taskRoot + "/.claude-runner/lock.json"))
            // The dead runner's claude, still working in the task root, is stopped too.
            try await eventually("orphaned claude stopped") { !processIsAlive(orphan) }
            let state = FileManager.default.text(at: taskRoot + "/.claude-runner/state.json") ?? ""
            #expect(state.contains("interrupted"))
            #expect(state.contains(#""last_status" : "failed""#) || state.contains(#""last_status":"failed""#))
            await second.stop()
        }
    }

    @Test("a run still going when the shutdown grace ends is recorded as interrupted and reported")
    func shutdownGrace() async throws {
        let github = FakeGitHub()
        await github.setIssue(repo: "acme/widgets", number: 12, body: IssueLabels.marker, labels: IssueLabels.required)
        try await github.serve { url in
            let fixture = try RunnerFixture(claudeBehaviour: ["DELAY": "60", "SPAWN_CHILD": "1"], githubURL: url)
            defer { fixture.directory.remove() }
            let git = try await GitFixture.make(in: fixture.directory.appending("remotes"))
            try await fixture.withService { service, _ in
                _ = try await service.runIssue(
                    RunIssueRequest(repo: git.remote, issueNumber: 12), logger: RunnerFixture.logger)
                try await fixture.claude.waitUntilStarted()
            }
            // withService cancelled the background work (as the end of the shutdown grace does).
            try await eventually("interrupted comment") {
                await github.comments(repo: "acme/widgets", number: 12).count == 2
            }
            #expect(await github.comments(repo: "acme/widgets", number: 12)[1].contains("interrupted"))
            #expect(await github.labels(repo: "acme/widgets", number: 12).contains("agent-failed"))
            let stateDirectory = fixture.workDir + "/gh-issue-acme-widgets-12/.claude-runner"
            try await eventually("lock released") {
                !FileManager.default.fileExists(atPath: stateDirectory + "/lock.json")
            }
            #expect(FileManager.default.text(at: stateDirectory + "/state.json")?.contains("interrupted") == true)
            let pid = try #require(fixture.claude.processID)
            try await eventually("claude stopped") { !processIsAlive(pid) }
        }
    }
}

@Suite("GitHub resilience and workspace safety", .timeLimit(.minutes(3)))
struct GitHubResilienceTests {
    @Test("reading the issue is retried on 502 and after a rate limit with Retry-After")
    func retries() async throws {
        try await HTTPIssueTests().withIssue { server, github, _, git in
            await github.fail("GET", "/repos/acme/widgets/issues/42", status: 502, count: 1)
            await github.fail(
                "DELETE", "/repos/acme/widgets/issues/42/labels/agent-ready", status: 429, count: 1,
                headers: ["Retry-After": "1"])
            let response = try await server.post(
                "/api/run-issue", json: RunIssueRequest(repo: git.remote, issueNumber: 42))
            #expect(response.status == 200, "\(response.body)")
            let gets = await github.calls.filter { $0.method == "GET" }.count
            #expect(gets == 2)
        }
    }

    @Test("a comment is never retried, so never posted twice; the failed claim is reported")
    func commentNotRetried() async throws {
        try await HTTPIssueTests().withIssue { server, github, _, git in
            await github.fail("POST", "/repos/acme/widgets/issues/42/comments", status: 502, count: 1)
            let response = try await server.post(
                "/api/run-issue", json: RunIssueRequest(repo: git.remote, issueNumber: 42))
            #expect(response.status == 500)
            #expect(response.errorMessage?.hasPrefix("claim issue: comment claim: GitHub POST") == true)
            // The claim comment was tried once; then the half-done claim was reported, not left hanging.
            let posts = await github.calls.filter { $0.path.hasSuffix("/comments") }.count
            #expect(posts == 2)
            #expect(
                await github.comments(repo: "acme/widgets", number: 42).last?.hasPrefix("claude-runner could not claim")
                    == true)
            #expect(await github.labels(repo: "acme/widgets", number: 42).contains("agent-failed"))
        }
    }

    @Test("a task root that is a symlink is never followed out of workDir")
    func symlinkTaskRoot() async throws {
        try await HTTPIssueTests().withIssue { server, github, fixture, git in
            let elsewhere = fixture.directory.appending("elsewhere")
            try FileManager.default.createDirectory(atPath: elsewhere, withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: fixture.workDir, withIntermediateDirectories: true)
            try FileManager.default.createSymbolicLink(
                atPath: fixture.workDir + "/gh-issue-acme-widgets-42", withDestinationPath: elsewhere)
            _ = try await server.post("/api/run-issue", json: RunIssueRequest(repo: git.remote, issueNumber: 42))
            try await eventually("failure comment") {
                await github.comments(repo: "acme/widgets", number: 42).count == 2
            }
            #expect(await github.comments(repo: "acme/widgets", number: 42)[1].contains("symbolic link"))
            #expect(try FileManager.default.contentsOfDirectory(atPath: elsewhere).isEmpty)
            #expect(!fixture.claude.wasCalled)
        }
    }

    @Test("injection strings never run anything: no marker file appears")
    func injection() async throws {
        let fixture = try RunnerFixture()
        defer { fixture.directory.remove() }
        let marker = fixture.directory.appending("pwned")
        try await RunnerServer.with(fixture) { server in
            // Each is refused as a bad request before git runs (a clone that ran and failed would be a 500).
            for (repo, problem) in [
                ("--upload-pack=touch \(marker)", "must not start with '-'"),
                ("ext::sh -c touch% \(marker)", "invalid repo: protocol ext not allowed"),
                ("-oProxyCommand=touch \(marker)", "must not start with '-'"),
                ("ssh://-oProxyCommand=touch%20\(marker)/x/y", "host must not start with '-'"),
                ("../../\(marker)", "expected owner/repo, a git URL (https, ssh, git, file) or an absolute path"),
            ] {
                let response = try await server.post("/api/run", json: RunRequest(prompt: "p", repo: repo))
                #expect(response.status == 400, "\(repo)")
                let message = try #require(response.errorMessage, "\(repo): \(response.body)")
                #expect(message.hasPrefix("invalid repo"), "\(repo)")
                #expect(message.contains(problem), "\(repo): \(message)")
            }
            let git = try await GitFixture.make(in: fixture.directory.appending("remotes"))
            for ref in ["--upload-pack=touch \(marker)", "main..other", "main@{1}"] {
                let response = try await server.post(
                    "/api/run", json: RunRequest(prompt: "p", repo: git.remote, ref: ref))
                #expect(response.status == 400, "\(ref)")
                #expect(response.errorMessage?.hasPrefix("invalid ref") == true, "\(ref): \(response.body)")
            }
            #expect(!FileManager.default.fileExists(atPath: marker))
            #expect(!fixture.claude.wasCalled)
            #expect(fixture.workDirEntries().isEmpty)
        }
    }
}

@Suite("HTTPS", .timeLimit(.minutes(2)))
struct HTTPSTests {
    @Test("http.tls serves HTTPS with the configured certificate")
    func https() async throws {
        try Command.require("curl")
        let fixture = try RunnerFixture(claudeBehaviour: ["OUTPUT": "over https"])
        defer { fixture.directory.remove() }
        let certificates = try await TestCertificates.make(in: fixture.directory)
        let started = try await fixture.startServer(
            yaml: "http:\n  tls:\n    cert: \(certificates.certificateFile)\n    key: \(certificates.keyFile)\n")
        let server = started.process
        let port = started.port
        defer { Task { await server.stop() } }
        let body = try await Command.run(
            "curl",
            [
                "-sS", "--cacert", certificates.caFile, "-X", "POST", "-d", #"{"prompt":"p"}"#,
                "https://127.0.0.1:\(port)/api/run",
            ])
        #expect(body.contains(#""output":"over https""#))
        let plain = try await Command.output(
            "curl", ["-sS", "-X", "POST", "-d", "{}", "http://127.0.0.1:\(port)/api/run"])
        // Plain HTTP on the TLS port gets no answer at all (the TLS handshake fails and the connection is
        // closed), not an HTTP error page and not a run.
        #expect(plain.exit == .exited(52))
        #expect(plain.standardError == "curl: (52) Empty reply from server\n")
        #expect(plain.standardOutputBytes.isEmpty)
        #expect(fixture.claude.callCount == 1)
        await server.stop()
    }

    @Test("a missing certificate file stops start-up with a clear message")
    func badCertificate() async throws {
        let fixture = try RunnerFixture()
        defer { fixture.directory.remove() }
        let path = try fixture.writeConfigFile(
            "http:\n  tls:\n    cert: /nonexistent/cert.pem\n    key: /nonexistent/key.pem\n")
        let output = try await Command.output(
            Binaries.server, ["--http", "--http-addr", "127.0.0.1:0", "--path", path])
        #expect(output.exit == .exited(1))
        #expect(output.standardError.contains("cannot load http.tls cert /nonexistent/cert.pem"))
    }
}

@Suite("review fixes", .timeLimit(.minutes(3)))
struct ReviewFixTests {
    @Test("a NATS peer that accepts TCP and then says nothing is dropped after the connect timeout")
    func stalledPeer() async throws {
        // What the connect timeout itself reports; without it, the only error would be the wait's own
        // "could not connect to ... within 10 seconds".
        for (scheme, reason) in [
            ("ws", "no answer within 1.0 seconds while connecting"),
            ("nats", "connection closed during waiting for the server's INFO"),
        ] {
            // A listener each, so that the attempts of one cannot fill the accept queue of the other.
            let (descriptor, port) = try silentLoopbackListener()
            defer { close(descriptor) }
            let url = "\(scheme)://127.0.0.1:\(port)"
            let client = NATSClient(
                options: NATSClientOptions(
                    url: try NATSServerURL(url), connectTimeout: .seconds(1), reconnectWait: .milliseconds(100),
                    maxReconnectWait: .milliseconds(200)),
                logger: RunnerFixture.logger)
            let error: NATSError? = await withTaskGroup(of: NATSError??.self) { group in
                group.addTask {
                    try? await client.run()
                    return nil
                }
                defer { group.cancelAll() }
                do {
                    try await client.waitUntilConnected(timeout: .seconds(10))
                    return nil
                } catch {
                    await client.close()
                    return error as? NATSError
                }
            }
            #expect(error?.kind == .connectionFailed, "\(url)")
            #expect(error?.description == "\(url): \(reason)")
        }
    }

    @Test("a reply larger than the server's max_payload is cut to fit, not lost")
    func replyTooLarge() async throws {
        let server = try await NATSServerProcess.start(config: "max_payload: 8192")
        defer { Task { await server.shutdown() } }
        let fixture = try RunnerFixture(claudeBehaviour: ["OUTPUT_BYTES": "50000"])
        defer { fixture.directory.remove() }
        try await NATSIntegrationTests.withRunner(fixture, natsURL: server.url) { _ in
            let result = try await NATSIntegrationTests.runner(server.url).send(.run(RunRequest(prompt: "big")))
            #expect(result.output.hasPrefix("xxxx"))
            #expect(
                result.output.hasSuffix("[claude-runner: output truncated to fit the NATS max_payload of 8192 bytes]"))
        }
        await server.shutdown()
    }

    @Test("client values that start with '-' are values, as with the original's flag parser")
    func dashValues() async throws {
        let fixture = try RunnerFixture(claudeBehaviour: ["OUTPUT": "ok"])
        defer { fixture.directory.remove() }
        try await RunnerServer.with(fixture) { [fixture] server in
            let output = try await Command.output(
                Binaries.client,
                ["--transport", "http", "--endpoint", server.baseURL, "--prompt", "- Review all files"])
            #expect(output.exit == .exited(0), "\(output.standardError)")
            #expect(fixture.claude.prompt == " - Review all files")
        }
    }

    @Test("run-issue interrupted by SIGTERM stops claude, reports the attempt as interrupted, exits non-zero")
    func runIssueSignal() async throws {
        let github = FakeGitHub()
        await github.setIssue(repo: "acme/widgets", number: 21, body: IssueLabels.marker, labels: IssueLabels.required)
        try await github.serve { url in
            let fixture = try RunnerFixture(claudeBehaviour: ["DELAY": "60"])
            defer { fixture.directory.remove() }
            let git = try await GitFixture.make(in: fixture.directory.appending("remotes"))
            let path = try fixture.writeConfigFile("github:\n  baseURL: \(url)\n  token: ghp_signal_token\n")
            let process = RunningProcess(
                Binaries.server, ["run-issue", "--path", path, "--repo", git.remote, "--issue-number", "21"],
                environment: [
                    "PATH": fixture.pathWithFakeClaude
                ])
            defer { Task { await process.stop() } }
            try await fixture.claude.waitUntilStarted()
            let pid = try #require(fixture.claude.processID)
            await process.signal(SIGTERM)
            let exit = try await process.exit
            #expect(exit == .exited(1))
            #expect(
                await process.standardError.contains(
                    "failed (interrupted): The run was interrupted: the runner shut down before Claude finished."))
            try await eventually("claude stopped") { !processIsAlive(pid) }
            let comments = await github.comments(repo: "acme/widgets", number: 21)
            #expect(comments.last?.contains("interrupted") == true)
            #expect(await github.labels(repo: "acme/widgets", number: 21).contains("agent-failed"))
        }
    }
}

@Suite("shutdown gate", .timeLimit(.minutes(2)))
struct ShutdownGateTests {
    @Test("once the runner stops accepting, new HTTP runs and issues get 503 and nothing runs")
    func httpRefusesNewWork() async throws {
        let fixture = try RunnerFixture()
        defer { fixture.directory.remove() }
        try await RunnerServer.with(fixture) { [fixture] server in
            server.service.stopAccepting()
            let run = try await server.post("/api/run", #"{"prompt":"p"}"#)
            #expect(run.status == 503)
            #expect(run.errorMessage == "runner is shutting down; not accepting new work")
            let issue = try await server.post("/api/run-issue", #"{"repo":"a/b","issue_number":1}"#)
            #expect(issue.status == 503)
            #expect(!fixture.claude.wasCalled)
        }
    }

    @Test("a NATS service that stops accepting leaves its endpoints (no responders) but still answers discovery")
    func natsStopsAccepting() async throws {
        let server = try await NATSServerProcess.start()
        defer { Task { await server.shutdown() } }
        try await NATSIntegrationTests.withClient(server.url) { client in
            let service = NATSService(
                client: client, name: "gate-test", version: "1.0.0",
                endpoints: [NATSServiceEndpoint(name: "echo", subject: "gate.echo") { .success($0.payload) }],
                logger: RunnerFixture.logger)
            let running = Task { try await service.run() }
            defer { running.cancel() }
            // Bounds for liveness, not speed: the whole suite runs at once on two cores.
            try await eventually(timeout: .seconds(60), "endpoint up") {
                (try? await client.request(ByteBuffer(string: "x"), to: "gate.echo", timeout: .seconds(5))) != nil
            }
            service.stopAccepting()
            try await client.flush(timeout: .seconds(30))
            await #expect(throws: NATSError.noResponders) {
                try await client.request(ByteBuffer(string: "x"), to: "gate.echo", timeout: .seconds(30))
            }
            let ping = try await client.request(ByteBuffer(), to: "$SRV.PING.gate-test", timeout: .seconds(30))
            #expect(String(buffer: ping.payload).contains("io.nats.micro.v1.ping_response"))
        }
        await server.shutdown()
    }
}

@Suite("HTTP server cancelled under load", .timeLimit(.minutes(3)))
struct HTTPCancelUnderLoadTests {
    @Test("connections that arrive while the HTTP server is being cancelled are closed, and nothing traps")
    func connectionsDuringCancel() async throws {
        let fixture = try RunnerFixture(claudeBehaviour: ["OUTPUT": "ok"])
        defer { fixture.directory.remove() }
        for round in 0..<30 {
            let connector = Connector()
            defer { connector.stop() }
            // The server is cancelled as the body returns, while the connector still connects; `with` returns
            // once it has ended. (Whether the port still answers is not asked: in a parallel suite another
            // test's server can be given the same port a moment later.)
            try await RunnerServer.with(fixture) { server in
                connector.start(port: server.port)
                try await eventually("round \(round): a connection accepted") { connector.connections > 0 }
                try await Task.sleep(for: .milliseconds(round % 10))
            }
            try await connector.stopAndWait()
        }
    }
}

/// Two threads of their own that keep connecting to a port, so that some connections are always being
/// accepted, until stopped.
private final class Connector: Sendable {
    private let stopped = Atomic(false)
    private let connected = Atomic(0)
    private let running = Atomic(0)

    var connections: Int { connected.load(ordering: .relaxed) }

    func start(port: Int) {
        for _ in 0..<2 {
            running.add(1, ordering: .relaxed)
            Thread { [self] in
                defer { running.subtract(1, ordering: .releasing) }
                while !stopped.load(ordering: .relaxed) {
                    if connectAndClose(port: port) { connected.add(1, ordering: .relaxed) }
                    // A few thousand connections a second: enough to meet the cancel, without taking the CPU
                    // from the tests that run beside this one.
                    usleep(300)
                }
            }.start()
        }
    }

    func stop() { stopped.store(true, ordering: .relaxed) }

    func stopAndWait() async throws {
        stop()
        while running.load(ordering: .acquiring) > 0 { try await Task.sleep(for: .milliseconds(5)) }
    }
}
