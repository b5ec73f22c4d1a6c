import ClaudeRunner
import ClaudeRunnerTesting
import Foundation
import Logging
import Testing

/// Claude's stream-json output through the real process path (a fake `claude` printing transcripts the
/// real CLI printed, or crafted lines for cases the real CLI cannot be made to produce).
@Suite("stream-json events", .timeLimit(.minutes(3)))
struct ClaudeStreamTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
        "Fixtures")
    /// The workspace the fixtures were recorded in.
    static let recordedWorkspace = "/tmp/cli/ws"

    struct Run {
        let outcome: ClaudeOutcome
        let events: [RunEvent]
    }

    /// Runs `ClaudeProcess` with a fake `claude` that prints `lines` (or a fixture file).
    func run(
        fixture: String? = nil, lines: [String] = [], behaviour: [String: String] = [:],
        configure: (inout RunnerConfig) -> Void = { _ in }, invocation: ClaudeInvocation = .init(prompt: "p"),
        redactor: Redactor = Redactor()
    ) async throws -> Run {
        let directory = try TemporaryDirectory("stream")
        defer { directory.remove() }
        var behaviour = behaviour
        if let fixture {
            behaviour["EVENTS_FILE"] = Self.fixtures.appendingPathComponent(fixture).path
        } else if !lines.isEmpty {
            let file = directory.appending("events.jsonl")
            try lines.joined(separator: "\n").write(toFile: file, atomically: true, encoding: .utf8)
            behaviour["EVENTS_FILE"] = file
        }
        let claude = try FakeClaude(in: directory.path, behaviour)
        var config = RunnerConfig(configDirectory: directory.appending("config"))
        config.claudeExecutable = claude.executable
        config.terminationGrace = .seconds(2)
        configure(&config)
        let progress = RunProgress(runID: "01TESTRUN0000000000000000")
        let events = progress.subscribe(bufferSize: 10_000)
        let process = ClaudeProcess(config: config, redactor: redactor)
        let outcome = try await process.run(
            invocation, in: directory.path,
            paths: HostPaths(workspace: Self.recordedWorkspace, workRoot: "/tmp/cli", home: "/root"),
            progress: progress, logger: RunnerFixture.logger)
        progress.emit(.result(outcome.result(id: progress.runID)))
        var collected: [RunEvent] = []
        for await event in events { collected.append(event) }
        return Run(outcome: outcome, events: collected)
    }

    @Test("a denied Bash call (real CLI transcript): success claimed, the denial listed with its command")
    func deniedTool() async throws {
        let run = try await run(fixture: "cli-denied-bash.jsonl")
        let result = run.outcome.result(id: "x")
        #expect(result.output == "I implemented the feature and committed it.")
        #expect(result.error == nil)
        #expect(result.status == "completed")
        #expect(result.sessionID == "4d3b4c31-9805-47ab-aa7c-fcc0704018a4")
        #expect(result.costUSD == 0.0028)
        #expect(result.numTurns == 2)
        #expect(result.durationMS == 1260)
        #expect(result.model == "claude-opus-5-5")
        #expect(result.usage == TokenUsage(inputTokens: 200, outputTokens: 100))
        #expect(result.permissionDenials == [.init(tool: "Bash", input: "echo hello-from-bash > out.txt; ls")])
        #expect(
            run.events.map(\.type) == ["started", "text", "tool", "denied", "text", "result"])
        #expect(run.events[0].payload == .started(sessionID: result.sessionID, model: "claude-opus-5-5"))
        #expect(run.events[2].payload == .tool(name: "Bash", input: "echo hello-from-bash > out.txt; ls"))
        #expect(run.events[3].payload == .denied(tool: "Bash", input: "echo hello-from-bash > out.txt; ls"))
        #expect(run.events.allSatisfy { $0.runID == "01TESTRUN0000000000000000" })
        #expect(zip(run.events, run.events.dropFirst()).allSatisfy { $0.elapsedMS <= $1.elapsedMS })
    }

    @Test("max turns (real CLI transcript): status max_turns, the error names the limit, output the last text")
    func maxTurns() async throws {
        let run = try await run(
            fixture: "cli-max-turns.jsonl", behaviour: ["EXIT": "1"], invocation: .init(prompt: "p", maxTurns: 2))
        let result = run.outcome.result(id: "x")
        #expect(result.status == "max_turns")
        #expect(result.error == "max turns reached (2)")
        #expect(result.output == "step2")
        #expect(result.numTurns == 3)
        #expect(run.events.filter { $0.type == "tool" }.count == 2)
    }

    @Test("budget (real CLI transcript): status budget_exceeded, the error names the budget")
    func budget() async throws {
        let run = try await run(
            fixture: "cli-budget.jsonl", behaviour: ["EXIT": "1"], invocation: .init(prompt: "p", maxBudgetUSD: 0.001))
        let result = run.outcome.result(id: "x")
        #expect(result.status == "budget_exceeded")
        #expect(result.error == "budget reached ($0.0010)")
        #expect(result.costUSD == 0.0014)
        #expect(result.output == "step")
    }

    @Test("an API failure arrives as subtype success with is_error: it is an error")
    func apiError() async throws {
        let run = try await run(fixture: "cli-api-error.jsonl", behaviour: ["EXIT": "1", "STDERR": "api said no"])
        let result = run.outcome.result(id: "x")
        #expect(result.status == "failed")
        let error = try #require(result.error)
        #expect(error.hasPrefix("Prompt is too long"))
        #expect(error.hasSuffix("\napi said no"))
    }

    @Test("events but no result event: failed, saying so; output is the last assistant text")
    func noResult() async throws {
        let run = try await run(lines: [
            #"{"type":"system","subtype":"init","session_id":"s1","model":"m1"}"#,
            #"{"type":"assistant","message":{"content":[{"type":"text","text":"half done"}]}}"#,
        ])
        let result = run.outcome.result(id: "x")
        #expect(result.status == "failed")
        #expect(result.error == "claude exited without a result event (exit status 0)")
        #expect(result.output == "half done")
        #expect(result.sessionID == "s1")
    }

    @Test("bad lines: not JSON, JSON that is not an event, wrong types, unknown events — none breaks the run")
    func badLines() async throws {
        let run = try await run(lines: [
            "plain words",
            "[1,2,3]",
            #"{"no":"type"}"#,
            #"{"type":"brand_new_event","payload":{"x":1}}"#,
            #"{"type":"assistant","message":"not an object"}"#,
            #"{"type":"assistant","message":{"content":[{"type":"tool_use","name":42,"input":"x"},{"type":"text","text":7}]}}"#,
            #"{"type":"result","subtype":"success","is_error":"nope","result":["x"],"num_turns":"two","total_cost_usd":"free","usage":{"input_tokens":"many"}}"#,
            #"{"broken json"#,
        ])
        let result = run.outcome.result(id: "x")
        // The result event's fields of the wrong type are absent; it is still the result (is_error absent = false).
        #expect(result.status == "completed")
        #expect(result.numTurns == nil)
        #expect(result.costUSD == nil)
        #expect(result.usage == TokenUsage())
        #expect(run.events.filter { $0.type == "tool" }.map(\.payload) == [.tool(name: "unknown", input: "\"x\"")])
    }

    @Test("a claude that prints plain text: output is stdout byte for byte, no stream fields")
    func plainText() async throws {
        let text = "line one\n{ not json\n\n  indented {\"type\":\"x\"}\nno newline at the end ✓"
        let run = try await run(behaviour: ["OUTPUT": text])
        let result = run.outcome.result(id: "x")
        #expect(result.output == text)
        #expect(result.status == nil)
        #expect(result.sessionID == nil)
        #expect(result.permissionDenials == nil)
        #expect(run.events.map(\.type) == ["started", "result"])
    }

    @Test("a line longer than the output cap is skipped without being kept; the result after it is read")
    func oversizedLine() async throws {
        let directory = try TemporaryDirectory("stream-big")
        defer { directory.remove() }
        let file = directory.appending("events.jsonl")
        let big =
            #"{"type":"assistant","message":{"content":[{"type":"text","text":""#
            + String(repeating: "y", count: 3 << 20) + #""}]}}"#
        let lines = [
            #"{"type":"system","subtype":"init","session_id":"s2"}"#, big,
            #"{"type":"result","subtype":"success","is_error":false,"result":"small result","num_turns":1}"#,
        ]
        try lines.joined(separator: "\n").write(toFile: file, atomically: true, encoding: .utf8)
        let run = try await run(behaviour: ["EVENTS_FILE": file], configure: { $0.limits.maxOutputBytes = 1 << 20 })
        let result = run.outcome.result(id: "x")
        #expect(result.output == "small result")
        #expect(result.status == "completed")
        #expect(!run.events.contains { $0.type == "text" })
    }

    @Test("Claude hanging after its result is ended after limits.afterResultGrace; the run keeps its status")
    func hangAfterResult() async throws {
        let started = ContinuousClock.now
        let run = try await run(
            lines: [#"{"type":"result","subtype":"success","is_error":false,"result":"all done","num_turns":1}"#],
            behaviour: ["HANG_AFTER": "120", "SPAWN_CHILD": "1"],
            configure: { $0.limits.afterResultGrace = .seconds(1) })
        // Far below the 120 s the fake would hang: the group was ended after the grace.
        #expect(ContinuousClock.now - started < .seconds(60))
        let result = run.outcome.result(id: "x")
        #expect(result.status == "completed")
        #expect(result.error == nil)
        #expect(result.output == "all done")
    }

    @Test("tool inputs are redacted: secrets and host paths outside the workspace never reach an event")
    func redaction() async throws {
        let token = "ghp_secretsecretsecret1234"
        let run = try await run(
            lines: [
                #"{"type":"assistant","message":{"content":[{"type":"tool_use","id":"t1","name":"Bash","input":{"command":"curl -H 'Authorization: token "#
                    + token + #"' https://api.github.com && cat /root/.ssh/id_rsa /tmp/cli/other/x"}}]}}"#,
                #"{"type":"assistant","message":{"content":[{"type":"tool_use","id":"t2","name":"Read","input":{"file_path":"/tmp/cli/ws/src/main.swift"}}]}}"#,
                #"{"type":"system","subtype":"permission_denied","tool_name":"Bash","tool_use_id":"t1"}"#,
                #"{"type":"assistant","message":{"content":[{"type":"text","text":"I used "# + token
                    + #" in /tmp/cli/ws"}]}}"#,
                #"{"type":"result","subtype":"success","is_error":false,"result":"token "# + token
                    + #" at /root/notes","permission_denials":[{"tool_name":"Bash","tool_use_id":"t1","tool_input":{"command":"echo "#
                    + token + #""}}]}"#,
            ], redactor: Redactor(secrets: [token]))
        let lines = run.events.map(\.jsonLine).joined(separator: "\n")
        #expect(!lines.contains(token))
        #expect(!lines.contains("/root"))
        #expect(!lines.contains("/tmp/cli"))
        #expect(lines.contains("[REDACTED]"))
        #expect(run.events.contains { $0.payload == .tool(name: "Read", input: "src/main.swift") })
        let result = run.outcome.result(id: "x")
        #expect(result.output == "token [REDACTED] at ~/notes")
        #expect(result.permissionDenials == [.init(tool: "Bash", input: "echo [REDACTED]")])
    }
}
