import ClaudeRunner
import ClaudeRunnerTesting
import Foundation
import NATS
import NIOCore
import Testing

/// The runner driving the real Claude Code CLI (against the scripted fake Messages API): everything that
/// depends on what Claude prints, checked against what the CLI really prints.
@Suite("the runner with the real Claude Code CLI", .serialized, .timeLimit(.minutes(5)))
struct RealClaudeRunTests {
    typealias Turn = FakeAnthropic.Turn

    static let proofCommand = "echo made-by-claude > proof.txt && cat proof.txt"
    static let proofScript: [Turn] = [
        .tool("Bash", ["command": .string(proofCommand), "description": "Write proof.txt"], text: "Writing it."),
        .text("I wrote proof.txt."),
    ]

    /// An in-process runner whose `claude` is the real CLI talking to a fake serving `script`.
    func withRunner(
        _ script: [Turn], whenExhausted: Turn = .text("done"),
        configure: @escaping @Sendable (inout RunnerFixture) -> Void = { _ in },
        _ body: @escaping @Sendable (RunnerServer, FakeAnthropic, RunnerFixture) async throws -> Void
    ) async throws {
        let fake = FakeAnthropic(script: script, whenExhausted: whenExhausted)
        var fixture = try RunnerFixture("real-claude")
        defer { fixture.directory.remove() }
        let claude = try RealClaude(in: fixture.directory.appending("real"))
        try await fake.serve { [fixture] baseURL in
            var fixture = fixture
            fixture.config.claudeExecutable = try claude.launcher(baseURL: baseURL)
            configure(&fixture)
            try await RunnerServer.with(fixture) { [fixture] server in try await body(server, fake, fixture) }
        }
        _ = fixture
    }

    /// What the CLI itself prints for `script` run directly (the reference for cost and usage).
    func direct(_ script: [Turn], _ arguments: [String]) async throws -> RealClaude.Transcript {
        let fake = FakeAnthropic(script: script)
        return try await TemporaryDirectory.with("real-direct") { directory in
            let claude = try RealClaude(in: directory.appending("claude"))
            let workspace = directory.appending("workspace")
            try FileManager.default.createDirectory(atPath: workspace, withIntermediateDirectories: true)
            return try await fake.serve { baseURL in
                try await claude.run(
                    ["-p", "go", "--output-format", "stream-json", "--verbose"] + arguments, in: workspace,
                    against: baseURL)
            }
        }
    }

    static func events(_ response: StreamedResponse) async throws -> [RunEvent] {
        try await within(.seconds(120), "the progress stream") {
            var events: [RunEvent] = []
            for try await line in response.lines {
                events.append(try #require(RunEvent.decode(Data(line.utf8)), "not an event: \(line)"))
            }
            return events
        }
    }

    @Test("a real Bash call runs in the workspace; NDJSON shows it live; cost and usage are what the CLI printed")
    func bashOverNDJSON() async throws {
        let reference = try await direct(Self.proofScript, ["--allowedTools", "Bash"])
        let printed = try #require(reference.result, "\(reference.summary)")
        try await withRunner(Self.proofScript, configure: { $0.config.allowedTools = ["Bash"] }) {
            server, fake, fixture in
            let response = try await StreamedResponse.post(
                server.baseURL + "/api/run", body: #"{"prompt":"make proof.txt"}"#,
                headers: ["Accept": "application/x-ndjson"])
            #expect(response.status == 200)
            let events = try await Self.events(response)
            #expect(FileManager.default.text(at: fixture.workDir + "/proof.txt") == "made-by-claude\n")
            #expect(events.map(\.type) == ["started", "text", "tool", "text", "result"], "\(events)")
            guard case .started(let sessionID, let model) = events.first?.payload,
                case .result(let result) = events.last?.payload
            else {
                Issue.record("no started/result: \(events)")
                return
            }
            #expect(sessionID?.isEmpty == false)
            #expect(model == printed["modelUsage"]?.object?.keys.first)
            #expect(events[2].payload == .tool(name: "Bash", input: Self.proofCommand))
            #expect(result.output == "I wrote proof.txt.")
            #expect(result.status == "completed")
            #expect(result.error == nil)
            #expect(result.sessionID == sessionID)
            #expect(result.numTurns == printed["num_turns"]?.int)
            #expect(result.costUSD == printed["total_cost_usd"]?.number)
            #expect((result.costUSD ?? 0) > 0)
            let usage = try #require(result.usage)
            #expect(usage.inputTokens == printed["usage"]?["input_tokens"]?.int)
            #expect(usage.outputTokens == printed["usage"]?["output_tokens"]?.int)
            #expect(result.permissionDenials == [])
            #expect(await fake.requests.count == 2)
        }
    }

    @Test("a tool outside --allowedTools is denied: the run reports the denial although Claude claims success")
    func deniedTool() async throws {
        let script: [Turn] = [
            .tool("Bash", ["command": .string(Self.proofCommand)]),
            .text("I implemented the feature and committed it."),
        ]
        try await withRunner(script, configure: { $0.config.allowedTools = ["Read"] }) { server, _, fixture in
            let response = try await StreamedResponse.post(
                server.baseURL + "/api/run", body: #"{"prompt":"implement it"}"#,
                headers: ["Accept": "application/x-ndjson"])
            let events = try await Self.events(response)
            #expect(!FileManager.default.fileExists(atPath: fixture.workDir + "/proof.txt"))
            #expect(events.contains { $0.payload == .denied(tool: "Bash", input: Self.proofCommand) }, "\(events)")
            guard case .result(let result) = events.last?.payload else {
                Issue.record("no result")
                return
            }
            #expect(result.output == "I implemented the feature and committed it.")
            #expect(result.permissionDenials == [.init(tool: "Bash", input: Self.proofCommand)])
        }
    }

    @Test("max turns: status max_turns and an error naming the limit")
    func maxTurns() async throws {
        let loop: [Turn] = (0..<4).map { .tool("Bash", ["command": .string("echo step \($0)")], text: "step \($0)") }
        try await withRunner(
            loop,
            configure: {
                $0.config.allowedTools = ["Bash"]
                $0.config.maxTurns = 1
            }
        ) { server, _, _ in
            let response = try await server.post("/api/run", #"{"prompt":"loop"}"#)
            #expect(response.status == 200)
            let result = try response.result()
            #expect(result.status == "max_turns")
            #expect(result.error?.hasPrefix("max turns reached (1)") == true, "\(result.error ?? "")")
        }
    }

    @Test("budget: status budget_exceeded and an error naming the budget")
    func budget() async throws {
        let loop: [Turn] = (0..<4).map {
            .tool("Bash", ["command": .string("echo step \($0)")]).usage(input: 50_000, output: 2_000)
        }
        try await withRunner(
            loop,
            configure: {
                $0.config.allowedTools = ["Bash"]
                $0.config.maxBudgetUSD = 0.01
            }
        ) { server, _, _ in
            let result = try await server.post("/api/run", #"{"prompt":"spend"}"#).result()
            #expect(result.status == "budget_exceeded")
            #expect(result.error?.hasPrefix("budget reached ($0.0100)") == true, "\(result.error ?? "")")
            #expect((result.costUSD ?? 0) >= 0.01)
        }
    }

    @Test("an API error is an error, whatever the result's subtype says")
    func apiError() async throws {
        try await withRunner(
            [], whenExhausted: .error(status: 401, type: "authentication_error", message: "invalid x-api-key")
        ) { server, _, _ in
            let result = try await server.post("/api/run", #"{"prompt":"hello"}"#).result()
            #expect(result.status == "failed")
            #expect(result.error?.isEmpty == false)
        }
    }

    @Test("SSE and NATS progress carry the same events from the real CLI")
    func sseAndNATS() async throws {
        let nats = try await NATSServerProcess.start()
        defer { Task { await nats.shutdown() } }
        try await withRunner(Self.proofScript + Self.proofScript, configure: { $0.config.allowedTools = ["Bash"] }) {
            server, _, fixture in
            let response = try await StreamedResponse.post(
                server.baseURL + "/api/run", body: #"{"prompt":"make proof.txt"}"#,
                headers: ["Accept": "text/event-stream"])
            let lines = try await within(.seconds(120), "the SSE stream") {
                var lines: [String] = []
                for try await line in response.lines { lines.append(line) }
                return lines
            }
            let types = lines.filter { $0.hasPrefix("event: ") }.map { String($0.dropFirst(7)) }
            #expect(types == ["started", "text", "tool", "text", "result"], "\(lines)")

            try await NATSIntegrationTests.withRunner(fixture, natsURL: nats.url, edge: "edge-real") { _ in
                try await NATSIntegrationTests.withClient(nats.url) { client in
                    let inbox = NATSClient.newInbox()
                    let subscription = try client.subscribe(to: inbox)
                    let collected = Task {
                        var types: [String] = []
                        for await message in subscription {
                            guard let event = RunEvent.decode(Data(buffer: message.payload)) else { continue }
                            types.append(event.type)
                            if event.isFinal { break }
                        }
                        return types
                    }
                    let reply = try await client.request(
                        ByteBuffer(string: #"{"prompt":"make proof.txt"}"#), to: "edges.edge-real.claude-runner.run",
                        headers: ["Claude-Runner-Progress": inbox], timeout: .seconds(120))
                    let result = try JSONDecoder().decode(RunResult.self, from: Data(buffer: reply.payload))
                    #expect(result.status == "completed")
                    let natsTypes = try await within(.seconds(30), "NATS progress") { await collected.value }
                    #expect(natsTypes == ["started", "text", "tool", "text", "result"])
                }
            }
        }
    }

    @Test("the binary and the client: progress lines on stderr; the CLI's API key never shows")
    func binaryAndClient() async throws {
        let fake = FakeAnthropic(script: [
            .tool("Bash", ["command": .string("echo checking")], text: "Checking."),
            .text("All done; the key was \(RealClaude.apiKey)."),
        ])
        let fixture = try RunnerFixture("real-binary")
        defer { fixture.directory.remove() }
        let claude = try RealClaude(in: fixture.directory.appending("real"))
        try await fake.serve { [fixture] baseURL in
            let server = try await fixture.startServer(
                yaml: "allowedTools: [Bash]\n", environment: claude.environment(baseURL: baseURL))
            defer { Task { await server.process.stop() } }
            let run = try await Command.output(
                Binaries.client,
                ["--transport", "http", "--endpoint", server.endpoint, "--prompt", "check", "--progress", "--json"],
                environment: ["GITHUB_OUTPUT": nil, "GITHUB_STEP_SUMMARY": nil])
            #expect(run.exit == .exited(0), "\(run.standardError)")
            #expect(run.standardError.contains("  started  "))
            #expect(run.standardError.contains("  Bash  echo checking\n"))
            #expect(run.standardError.contains("  done  2 turns  $"))
            let result = try JSONDecoder().decode(RunResult.self, from: Data(run.standardOutput.utf8))
            #expect(result.output == "All done; the key was [REDACTED].")
            #expect(!run.standardOutput.contains(RealClaude.apiKey))
            #expect(!run.standardError.contains(RealClaude.apiKey))
            #expect(!(await server.process.standardError).contains(RealClaude.apiKey))
        }
    }
}
