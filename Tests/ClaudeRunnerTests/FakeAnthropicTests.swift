import ClaudeRunner
import ClaudeRunnerTesting
import Foundation
import Testing

/// The fake Messages API on its own, through `curl`: the wire shapes it promises, so a failure in the
/// real-CLI tests points at the CLI or the runner rather than at the fake.
@Suite("the fake Anthropic Messages API")
struct FakeAnthropicTests {
    typealias JSON = FakeAnthropic.JSON

    struct Answer {
        let status: Int
        let body: String

        /// The server-sent events: (event name, parsed data).
        var events: [(name: String, data: JSON)] {
            body.components(separatedBy: "\n\n").compactMap { record in
                let lines = record.split(separator: "\n")
                guard let name = lines.first(where: { $0.hasPrefix("event: ") })?.dropFirst(7),
                    let data = lines.first(where: { $0.hasPrefix("data: ") })?.dropFirst(6),
                    let json = try? JSON(parsing: Data(data.utf8))
                else { return nil }
                return (String(name), json)
            }
        }

        /// The text and tool input the client would assemble from the deltas.
        var assembled: (text: String, toolInputs: [String]) {
            var text = ""
            var inputs: [Int: String] = [:]
            for (_, data) in events where data["type"]?.string == "content_block_delta" {
                if let piece = data["delta"]?["text"]?.string { text += piece }
                if let piece = data["delta"]?["partial_json"]?.string, let index = data["index"]?.int {
                    inputs[index, default: ""] += piece
                }
            }
            return (text, inputs.sorted { $0.key < $1.key }.map(\.value))
        }
    }

    static func post(_ url: String, _ body: JSON, method: String = "POST") async throws -> Answer {
        try Command.require("curl")
        let output = try await Command.run(
            "curl",
            [
                "-sS", "-N", "--max-time", "30", "-X", method, "-H", "content-type: application/json",
                "-H", "x-api-key: sk-test", "--data-binary", body.text, "-w", "\n%{http_code}", url,
            ])
        let status = Int(output.split(separator: "\n").last ?? "") ?? 0
        return Answer(status: status, body: String(output.dropLast(String(status).count)))
    }

    static let request: JSON = [
        "model": "claude-test-model", "stream": true, "max_tokens": 1024,
        "system": [["type": "text", "text": "You are a test."]],
        "tools": [["name": "Bash", "input_schema": ["type": "object"]]],
        "messages": [["role": "user", "content": [["type": "text", "text": "hello"]]]],
    ]

    @Test("a text turn streams the Messages API events in order and the request is recorded", .timeLimit(.minutes(1)))
    func textTurn() async throws {
        let fake = FakeAnthropic(script: [Turn.text("Hi there.").usage(input: 12, output: 7, cacheRead: 3)])
        try await fake.serve { baseURL in
            let answer = try await Self.post(baseURL + "/v1/messages?beta=true", Self.request)
            #expect(answer.status == 200)
            #expect(
                answer.events.map(\.name) == [
                    "message_start", "content_block_start", "content_block_delta", "content_block_stop",
                    "message_delta", "message_stop",
                ])
            #expect(answer.assembled.text == "Hi there.")
            let start = try #require(answer.events.first?.data["message"])
            #expect(start["model"]?.string == "claude-test-model")
            #expect(start["usage"]?["input_tokens"]?.int == 12)
            #expect(start["usage"]?["cache_read_input_tokens"]?.int == 3)
            let delta = try #require(answer.events.first { $0.name == "message_delta" }?.data)
            #expect(delta["delta"]?["stop_reason"]?.string == "end_turn")
            #expect(delta["usage"]?["output_tokens"]?.int == 7)

            let request = try #require(await fake.requests.first)
            #expect(request.path == "/v1/messages")
            #expect(request.query == "beta=true")
            #expect(request.model == "claude-test-model")
            #expect(request.apiKey == "sk-test")
            #expect(request.isStreaming)
            #expect(request.system == "You are a test.")
            #expect(request.toolNames == ["Bash"])
            #expect(request.userTexts == ["hello"])
            #expect(request.answer == .text("Hi there.").usage(input: 12, output: 7, cacheRead: 3))
        }
    }

    @Test("a tool turn streams tool_use blocks with unique ids and the input in pieces", .timeLimit(.minutes(1)))
    func toolTurn() async throws {
        let fake = FakeAnthropic(script: [
            .tools(
                [("Bash", ["command": "ls -la", "timeout": 5]), ("Read", ["file_path": "a.txt"])], text: "Looking.")
        ])
        try await fake.serve { baseURL in
            let answer = try await Self.post(baseURL + "/v1/messages", Self.request)
            let starts = answer.events.filter { $0.name == "content_block_start" }.map { $0.data["content_block"] }
            #expect(starts.map { $0?["type"]?.string } == ["text", "tool_use", "tool_use"])
            #expect(starts.map { $0?["name"]?.string } == [nil, "Bash", "Read"])
            let ids = starts.compactMap { $0?["id"]?.string }
            #expect(Set(ids).count == 2)
            #expect(await fake.requests.first?.toolUseIDs == ids)
            #expect(answer.assembled.text == "Looking.")
            let inputs = try answer.assembled.toolInputs.map { try JSON(parsing: Data($0.utf8)) }
            #expect(inputs == [["command": "ls -la", "timeout": 5], ["file_path": "a.txt"]])
            // The input arrives in more than one delta, as from the real API.
            let pieces = answer.events.filter { $0.data["delta"]?["type"]?.string == "input_json_delta" }
            #expect(pieces.count == 4)
            let delta = try #require(answer.events.first { $0.name == "message_delta" }?.data)
            #expect(delta["delta"]?["stop_reason"]?.string == "tool_use")
        }
    }

    @Test(
        "after the script: 'done'; API errors as JSON with their status; count_tokens; anything else 404, recorded",
        .timeLimit(.minutes(1)))
    func otherAnswers() async throws {
        let fake = FakeAnthropic(
            script: [.error(status: 529, type: "overloaded_error", message: "Overloaded")], countTokens: 42)
        try await fake.serve { baseURL in
            let error = try await Self.post(baseURL + "/v1/messages", Self.request)
            #expect(error.status == 529)
            let body = try JSON(parsing: Data(error.body.utf8))
            #expect(body == ["type": "error", "error": ["type": "overloaded_error", "message": "Overloaded"]])

            let done = try await Self.post(baseURL + "/v1/messages", Self.request)
            #expect(done.status == 200)
            #expect(done.assembled.text == "done")

            let count = try await Self.post(baseURL + "/v1/messages/count_tokens?beta=true", Self.request)
            #expect(count.status == 200)
            #expect(try JSON(parsing: Data(count.body.utf8)) == ["input_tokens": 42])

            let other = try await Self.post(baseURL + "/api/hello", [:], method: "GET")
            #expect(other.status == 404)
            #expect(await fake.unhandledRequests.map(\.description) == ["GET /api/hello"])
            #expect(await fake.requests.count == 2)
            #expect(await fake.allRequests.count == 4)
        }
    }

    @Test("concurrent requests each get a different turn of the script", .timeLimit(.minutes(1)))
    func concurrentRequests() async throws {
        let texts = (0..<12).map { "answer \($0)" }
        let fake = FakeAnthropic(script: texts.map { Turn.text($0) })
        try await fake.serve { baseURL in
            let answered = try await withThrowingTaskGroup(of: String.self) { group in
                for _ in texts {
                    group.addTask { try await Self.post(baseURL + "/v1/messages", Self.request).assembled.text }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(answered.sorted() == texts.sorted())
            #expect(await fake.requests.count == texts.count)
            #expect(await fake.remainingTurns == 0)
        }
    }

    @Test("a delayed answer is held back, and stopping the fake does not wait for it", .timeLimit(.minutes(2)))
    func delayedAnswer() async throws {
        let fake = FakeAnthropic(script: [
            Turn.text("quick").delayed(by: .seconds(1)), Turn.text("late").delayed(by: .seconds(600)),
        ])
        let stopping = try await fake.serve { baseURL in
            let started = ContinuousClock.now
            let quick = try await Self.post(baseURL + "/v1/messages", Self.request)
            #expect(quick.assembled.text == "quick")
            #expect(ContinuousClock.now - started >= .seconds(1))
            // The late answer's request is recorded on arrival; the fake stops with it still pending.
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { _ = try await Self.post(baseURL + "/v1/messages", Self.request) }
                try await fake.waitForRequests(2, timeout: .seconds(20))
                group.cancelAll()
            }
            return ContinuousClock.now
        }
        // Far less than the 600 s the pending answer would take.
        #expect(ContinuousClock.now - stopping < .seconds(30))
    }

    typealias Turn = FakeAnthropic.Turn
}
