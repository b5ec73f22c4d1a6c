import AsyncHTTPClient
import ClaudeRunner
import ClaudeRunnerTesting
import ClaudeRunnerTransports
import Foundation
import NATS
import NIOCore
import Testing

/// Live progress: HTTP NDJSON and SSE, NATS progress subjects, the Result's new fields — with a fake
/// `claude` printing stream-json lines slowly enough to be watched while it runs.
@Suite("progress over HTTP and NATS", .timeLimit(.minutes(5)))
struct ProgressTests {
    /// A short session: init, a tool call, a denial, text, the result.
    static let session = [
        #"{"type":"system","subtype":"init","session_id":"sess-1","model":"claude-test-1"}"#,
        #"{"type":"assistant","message":{"model":"claude-test-1","content":[{"type":"tool_use","id":"t1","name":"Bash","input":{"command":"npm test"}}]}}"#,
        #"{"type":"assistant","message":{"content":[{"type":"tool_use","id":"t2","name":"Bash","input":{"command":"git push"}}]}}"#,
        #"{"type":"system","subtype":"permission_denied","tool_name":"Bash","tool_use_id":"t2"}"#,
        #"{"type":"assistant","message":{"content":[{"type":"text","text":"All tests pass."}]}}"#,
        #"{"type":"result","subtype":"success","is_error":false,"result":"All tests pass.","num_turns":2,"total_cost_usd":0.0162,"duration_ms":4200,"session_id":"sess-1","usage":{"input_tokens":120,"output_tokens":45,"cache_read_input_tokens":7,"cache_creation_input_tokens":3},"permission_denials":[{"tool_name":"Bash","tool_use_id":"t2","tool_input":{"command":"git push"}}]}"#,
    ]

    /// The session as a file the fake prints (written once per test process).
    static let sessionFile: String = {
        let file = NSTemporaryDirectory() + "claude-runner-progress-session-\(getpid()).jsonl"
        try? session.joined(separator: "\n").write(toFile: file, atomically: true, encoding: .utf8)
        return file
    }()

    static func fixture(lineDelay: String = "0", extra: [String: String] = [:]) throws -> RunnerFixture {
        try RunnerFixture(
            "progress",
            claudeBehaviour: ["EVENTS_FILE": sessionFile, "LINE_DELAY": lineDelay].merging(extra) { $1 })
    }

    static func decode(_ line: String) throws -> RunEvent {
        try #require(RunEvent.decode(Data(line.utf8)), "not an event: \(line)")
    }

    @Test("NDJSON: events flushed as they happen (the first tool event arrives while Claude runs), result last")
    func ndjson() async throws {
        let fixture = try Self.fixture()
        defer { fixture.directory.remove() }
        try await RunnerServer.with(fixture) { server in
            let response = try await StreamedResponse.post(
                server.baseURL + "/api/run", body: #"{"prompt":"run the tests"}"#,
                headers: ["Accept": "application/x-ndjson"])
            #expect(response.status == 200)
            #expect(response.contentType == "application/x-ndjson")
            let events = try await within(.seconds(60), "the whole stream") {
                var events: [RunEvent] = []
                for try await line in response.lines { events.append(try Self.decode(line)) }
                return events
            }
            #expect(events.map(\.type) == ["started", "tool", "tool", "denied", "text", "result"])
            let id = events[0].runID
            #expect(ULID.isValid(id))
            #expect(events.allSatisfy { $0.runID == id })
            #expect(events[0].payload == .started(sessionID: "sess-1", model: "claude-test-1"))
            #expect(events[1].payload == .tool(name: "Bash", input: "npm test"))
            #expect(events[3].payload == .denied(tool: "Bash", input: "git push"))
            guard case .result(let result) = events.last?.payload else {
                Issue.record("last event is not the result")
                return
            }
            #expect(result.id == id)
            #expect(result.output == "All tests pass.")
            #expect(result.status == "completed")
            #expect(result.costUSD == 0.0162)
            #expect(result.numTurns == 2)
            #expect(
                result.usage
                    == TokenUsage(
                        inputTokens: 120, outputTokens: 45, cacheReadInputTokens: 7, cacheCreationInputTokens: 3))
            #expect(result.permissionDenials == [.init(tool: "Bash", input: "git push")])
        }
    }

    @Test("NDJSON from the binary: the first tool event arrives while Claude still runs")
    func ndjsonWhileRunning() async throws {
        // Claude prints its first tool call, then works on for 30 s without printing anything.
        let file = NSTemporaryDirectory() + "claude-runner-progress-early-\(getpid()).jsonl"
        try Array(Self.session.prefix(2)).joined(separator: "\n").write(toFile: file, atomically: true, encoding: .utf8)
        let fixture = try RunnerFixture("progress-live", claudeBehaviour: ["EVENTS_FILE": file, "HANG_AFTER": "30"])
        defer { fixture.directory.remove() }
        let server = try await fixture.startServer()
        defer { Task { await server.process.stop() } }
        let response = try await StreamedResponse.post(
            server.endpoint + "/api/run", body: #"{"prompt":"run the tests"}"#,
            headers: ["Accept": "application/x-ndjson"])
        let (firstTool, aliveThen) = try await within(.seconds(60), "the first tool event") {
            for try await line in response.lines {
                let event = try Self.decode(line)
                if event.type == "tool" {
                    let pid = try #require(fixture.claude.processID)
                    return (event, processIsAlive(pid))
                }
            }
            throw Command.Failure(description: "the stream ended without a tool event")
        }
        #expect(firstTool.payload == .tool(name: "Bash", input: "npm test"))
        #expect(aliveThen, "the first tool event arrived only after Claude had finished")
    }

    @Test("the Result's new fields follow id, output and error, in the documented order")
    func resultFields() async throws {
        let fixture = try Self.fixture()
        defer { fixture.directory.remove() }
        try await RunnerServer.with(fixture) { server in
            let response = try await server.post("/api/run", #"{"prompt":"go"}"#)
            #expect(response.status == 200)
            let result = try response.result()
            #expect(
                response.body
                    == #"{"id":"\#(result.id)","output":"All tests pass.","status":"completed","session_id":"sess-1","cost_usd":0.0162,"num_turns":2,"duration_ms":4200,"model":"claude-test-1","usage":{"input_tokens":120,"output_tokens":45,"cache_read_input_tokens":7,"cache_creation_input_tokens":3},"permission_denials":[{"tool":"Bash","input":"git push"}]}"#
            )
        }
    }

    @Test("SSE: event/data frames and a keep-alive comment while Claude is quiet")
    func serverSentEvents() async throws {
        let fixture = try RunnerFixture("sse", claudeBehaviour: ["DELAY": "17", "OUTPUT": "late answer"])
        defer { fixture.directory.remove() }
        try await RunnerServer.with(fixture) { server in
            let response = try await StreamedResponse.post(
                server.baseURL + "/api/run", body: #"{"prompt":"slow"}"#, headers: ["Accept": "text/event-stream"])
            #expect(response.status == 200)
            #expect(response.contentType == "text/event-stream")
            let lines = try await within(.seconds(90), "the SSE stream") {
                var lines: [String] = []
                for try await line in response.lines { lines.append(line) }
                return lines
            }
            #expect(lines.contains(": keep-alive"))
            // A plain-text Claude says nothing for 17 s: keep-alive comments come first, then the events.
            #expect(lines.first { !$0.hasPrefix(":") && !$0.isEmpty } == "event: started")
            let resultIndex = try #require(lines.firstIndex(of: "event: result"))
            let data = lines[resultIndex + 1]
            #expect(data.hasPrefix("data: "))
            let event = try Self.decode(String(data.dropFirst(6)))
            #expect(event.payload == .result(RunResult(id: event.runID, output: "late answer")))
            #expect(lines[resultIndex + 2] == "")
        }
    }

    @Test("streaming: a bad request and a missing token are answered before streaming, as without it")
    func errorsBeforeStreaming() async throws {
        var fixture = try Self.fixture()
        defer { fixture.directory.remove() }
        fixture.config.http.tokens = ["s3cret-token-for-tests"]
        try await RunnerServer.with(fixture) { [fixture] server in
            let unauthorized = try await server.post(
                "/api/run", #"{"prompt":"x"}"#, headers: ["Accept": "application/x-ndjson"])
            #expect(unauthorized.status == 401)
            #expect(unauthorized.body == #"{"error":"unauthorized"}"#)
            let auth = ["Authorization": "Bearer s3cret-token-for-tests", "Accept": "application/x-ndjson"]
            let empty = try await server.post("/api/run", #"{"prompt":"  "}"#, headers: auth)
            #expect(empty.status == 400)
            #expect(empty.body == #"{"error":"invalid prompt"}"#)
            let wrongType = try await server.post("/api/run", #"{"prompt":5}"#, headers: auth)
            #expect(wrongType.status == 400)
            #expect(wrongType.errorMessage == #"field "prompt" must be a string"#)
            #expect(!fixture.claude.wasCalled)
            // An Accept the runner does not stream gets the plain JSON Result.
            let plain = try await server.post(
                "/api/run", #"{"prompt":"x"}"#,
                headers: ["Authorization": "Bearer s3cret-token-for-tests", "Accept": "text/html, application/json"])
            #expect(plain.status == 200)
            #expect(plain.header("Content-Type") == "application/json; charset=utf-8")
            #expect(try plain.result().output == "All tests pass.")
        }
    }

    @Test("streaming: a clone that fails after streaming began ends the stream with an error event")
    func errorEvent() async throws {
        let fixture = try Self.fixture()
        defer { fixture.directory.remove() }
        try await RunnerServer.with(fixture) { [fixture] server in
            let missing = fixture.directory.appending("no-such-repo")
            let response = try await StreamedResponse.post(
                server.baseURL + "/api/run", body: #"{"prompt":"x","repo":"\#(missing)"}"#,
                headers: ["Accept": "application/x-ndjson"])
            #expect(response.status == 200)
            let events = try await within(.seconds(60), "the stream") {
                var events: [RunEvent] = []
                for try await line in response.lines { events.append(try Self.decode(line)) }
                return events
            }
            let last = try #require(events.last)
            guard case .error(let message) = last.payload else {
                Issue.record("last event is \(last.type), not error")
                return
            }
            #expect(message.contains("git clone failed"))
            #expect(!fixture.claude.wasCalled)
        }
    }

    @Test("streaming: a client that goes away cancels the run and its process group")
    func disconnectCancels() async throws {
        let fixture = try RunnerFixture("gone", claudeBehaviour: ["DELAY": "120", "SPAWN_CHILD": "1"])
        defer { fixture.directory.remove() }
        try await RunnerServer.with(fixture) { [fixture] server in
            let client = HTTPClient(eventLoopGroupProvider: .singleton)
            let pid: Int32
            let child: Int32
            do {
                let response = try await StreamedResponse.post(
                    server.baseURL + "/api/run", body: #"{"prompt":"long"}"#,
                    headers: ["Accept": "application/x-ndjson"], httpClient: client)
                try await fixture.claude.waitUntilStarted()
                try await eventually("the fake's child started") { fixture.claude.childProcessID != nil }
                pid = try #require(fixture.claude.processID)
                child = try #require(fixture.claude.childProcessID)
                _ = response
            } catch {
                try? await client.shutdown()
                throw error
            }
            // Gone: the connection closes.
            try await client.shutdown()
            try await eventually(timeout: .seconds(30), "claude and its child stopped") {
                !processIsAlive(pid) && !processIsAlive(child)
            }
        }
    }

    @Test("NATS: Claude-Runner-Progress gets every event on its _INBOX subject; the reply is the Result")
    func natsProgress() async throws {
        let nats = try await NATSServerProcess.start()
        defer { Task { await nats.shutdown() } }
        let fixture = try Self.fixture(lineDelay: "0.2")
        defer { fixture.directory.remove() }
        try await NATSIntegrationTests.withRunner(fixture, natsURL: nats.url, edge: "edge-progress") { _ in
            try await NATSIntegrationTests.withClient(nats.url) { client in
                let inbox = NATSClient.newInbox()
                let subscription = try client.subscribe(to: inbox)
                let collected = Task {
                    var events: [RunEvent] = []
                    for await message in subscription {
                        if let event = RunEvent.decode(Data(buffer: message.payload)) { events.append(event) }
                        if events.last?.isFinal == true { break }
                    }
                    return events
                }
                let reply = try await client.request(
                    ByteBuffer(string: #"{"prompt":"go"}"#), to: "edges.edge-progress.claude-runner.run",
                    headers: ["Claude-Runner-Progress": inbox], timeout: .seconds(60))
                let result = try JSONDecoder().decode(RunResult.self, from: Data(buffer: reply.payload))
                #expect(result.output == "All tests pass.")
                #expect(result.status == "completed")
                let events = try await within(.seconds(30), "the progress events") { await collected.value }
                #expect(events.map(\.type) == ["started", "tool", "tool", "denied", "text", "result"])
                #expect(events.last?.payload == .result(result))
            }
        }
    }

    @Test("NATS: a progress subject outside _INBOX. is a 400 error reply and nothing runs")
    func natsProgressSubjectRefused() async throws {
        let nats = try await NATSServerProcess.start()
        defer { Task { await nats.shutdown() } }
        let fixture = try Self.fixture()
        defer { fixture.directory.remove() }
        try await NATSIntegrationTests.withRunner(fixture, natsURL: nats.url, edge: "edge-bad") { _ in
            try await NATSIntegrationTests.withClient(nats.url) { client in
                for subject in ["edges.edge-bad.claude-runner.run", "_INBOX.>", "_INBOX.*", "_INBOX..x", "_INBOX. x"] {
                    let reply = try await client.request(
                        ByteBuffer(string: #"{"prompt":"go"}"#), to: "edges.edge-bad.claude-runner.run",
                        headers: ["Claude-Runner-Progress": subject], timeout: .seconds(30))
                    #expect(reply.headers?["Nats-Service-Error-Code"] == "400", "\(subject)")
                    #expect(reply.headers?["Nats-Service-Error"]?.contains("_INBOX.") == true)
                }
                #expect(!fixture.claude.wasCalled)
            }
        }
    }

    @Test("NATS: a reply with a huge stderr is cut to fit max_payload, every field trimmed, never refused")
    func natsReplyFits() async throws {
        let nats = try await NATSServerProcess.start(config: "max_payload: 8192")
        defer { Task { await nats.shutdown() } }
        let fixture = try RunnerFixture(
            "fit",
            claudeBehaviour: ["EXIT": "1", "STDERR": String(repeating: "e", count: 50_000), "OUTPUT_BYTES": "40000"])
        defer { fixture.directory.remove() }
        try await NATSIntegrationTests.withRunner(fixture, natsURL: nats.url, edge: "edge-fit") { _ in
            try await NATSIntegrationTests.withClient(nats.url) { client in
                let reply = try await client.request(
                    ByteBuffer(string: #"{"prompt":"go"}"#), to: "edges.edge-fit.claude-runner.run",
                    timeout: .seconds(60))
                #expect(reply.headers?["Nats-Service-Error"] == nil)
                #expect(reply.payload.readableBytes <= 8192)
                let result = try JSONDecoder().decode(RunResult.self, from: Data(buffer: reply.payload))
                #expect(
                    result.output.hasSuffix(
                        "[claude-runner: output truncated to fit the NATS max_payload of 8192 bytes]"))
                let error = try #require(result.error)
                #expect(error.hasPrefix("eeee"))
                #expect(error.hasSuffix("[claude-runner: error truncated to fit the NATS max_payload of 8192 bytes]"))
            }
        }
    }

    @Test("the client: --progress prints a line per event on stderr, --json the Result; Action outputs written")
    func clientOverHTTP() async throws {
        let fixture = try Self.fixture()
        defer { fixture.directory.remove() }
        try await RunnerServer.with(fixture) { [fixture] server in
            let outputs = fixture.directory.appending("github-output")
            let summary = fixture.directory.appending("step-summary")
            let run = try await Command.output(
                Binaries.client,
                ["--transport", "http", "--endpoint", server.baseURL, "--prompt", "go", "--progress", "--json"],
                environment: ["GITHUB_OUTPUT": outputs, "GITHUB_STEP_SUMMARY": summary, "PROGRESS": nil])
            #expect(run.exit == .exited(0), "\(run.standardError)")
            let lines = run.standardError.split(separator: "\n").map { String($0) }
            let whats = lines.map { $0.split(separator: "s  ", maxSplits: 1).last.map(String.init) ?? $0 }
            #expect(
                whats == [
                    "started  claude-test-1  session sess-1", "Bash  npm test", "Bash  git push",
                    "denied  Bash  git push",
                    "text  All tests pass.", "done  2 turns  $0.0162  1 denied",
                ], "\(lines)")
            let result = try JSONDecoder().decode(RunResult.self, from: Data(run.standardOutput.utf8))
            #expect(result.status == "completed")
            #expect(result.output == "All tests pass.")
            #expect(
                FileManager.default.text(at: outputs) == "run-id=\(result.id)\ncost-usd=0.0162\nnum-turns=2\n")
            let text = try #require(FileManager.default.text(at: summary))
            #expect(text.contains("All tests pass."))
            #expect(text.contains("| completed | 2 | $0.0162 | 4.2s | 1 |"))
        }
    }

    @Test("the client over NATS with PROGRESS=1: the same lines, then the output on stdout")
    func clientOverNATS() async throws {
        let nats = try await NATSServerProcess.start()
        defer { Task { await nats.shutdown() } }
        let fixture = try Self.fixture()
        defer { fixture.directory.remove() }
        try await NATSIntegrationTests.withRunner(fixture, natsURL: nats.url, edge: "edge-client") { _ in
            let run = try await Command.output(
                Binaries.client,
                ["--transport", "nats", "--nats-url", nats.url, "--edge-id", "edge-client", "--prompt", "go"],
                environment: ["PROGRESS": "1", "GITHUB_OUTPUT": nil, "GITHUB_STEP_SUMMARY": nil])
            #expect(run.exit == .exited(0), "\(run.standardError)")
            #expect(run.standardOutput == "All tests pass.")
            #expect(run.standardError.contains("Bash  npm test\n"))
            #expect(run.standardError.contains("denied  Bash  git push\n"))
            #expect(run.standardError.contains("done  2 turns  $0.0162  1 denied\n"))
        }
    }
}
