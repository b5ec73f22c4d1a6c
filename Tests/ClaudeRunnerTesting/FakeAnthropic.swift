import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// The Anthropic Messages API on loopback for tests, answering from a script, so the real Claude Code CLI
/// (``RealClaude``) can run end to end without Anthropic: real tools, real permission checks, real
/// `stream-json` output.
///
/// Each `POST /v1/messages` (any query string) takes the next ``Turn`` of the script and streams it as
/// server-sent events, written event by event; once the script is used up every request gets the
/// `whenExhausted` turn (a plain "done" text by default). `POST /v1/messages/count_tokens` answers
/// `{"input_tokens": N}`; anything else is answered 404. Every request is recorded (``requests``,
/// ``allRequests``), in arrival order, before it is answered. Concurrent requests are safe: the script is
/// consumed inside the actor.
///
/// ```swift
/// let fake = FakeAnthropic(script: [
///     .tool("Bash", ["command": "echo hi > hi.txt"]),
///     .text("Created hi.txt."),
/// ])
/// try await fake.serve { baseURL in
///     let claude = try RealClaude(in: directory.path)
///     let run = try await claude.run(["-p", "make hi.txt", "--allowedTools", "Bash"],
///                                    in: workspace, against: baseURL)
///     #expect(await fake.requests[1].toolResults.count == 1)
/// }
/// ```
public actor FakeAnthropic {
    /// Every request received, in arrival order.
    public private(set) var allRequests: [RecordedRequest] = []
    private var script: [Turn]
    private var turnsTaken = 0
    private let exhaustedTurn: Turn
    private let countTokensAnswer: Int

    /// - Parameters:
    ///   - script: The answers, one per `POST /v1/messages`, in order.
    ///   - whenExhausted: The answer to every request after the script. An error here fails every
    ///     retry, which is how to make the CLI give up on a 400: it retries an `invalid_request_error`
    ///     several times, dropping beta features each time.
    ///   - countTokens: The `input_tokens` answered to `count_tokens` requests.
    public init(script: [Turn] = [], whenExhausted: Turn = .text("done"), countTokens: Int = 100) {
        self.script = script
        self.exhaustedTurn = whenExhausted
        self.countTokensAnswer = countTokens
    }

    /// The `POST /v1/messages` requests, in arrival order.
    public var requests: [RecordedRequest] { allRequests.filter { $0.kind == .messages } }

    /// Requests answered 404 (a path the fake does not serve).
    public var unhandledRequests: [RecordedRequest] { allRequests.filter { $0.kind == .unhandled } }

    /// Script turns not answered yet.
    public var remainingTurns: Int { script.count - min(turnsTaken, script.count) }

    /// Adds turns to the end of the script (they are answered after those already there).
    public func append(_ turns: [Turn]) {
        script.append(contentsOf: turns)
    }

    /// Waits until at least `count` `POST /v1/messages` requests have arrived (answered or not).
    public nonisolated func waitForRequests(_ count: Int, timeout: Duration = .seconds(60)) async throws {
        try await eventually(timeout: timeout, "\(count) Messages API request(s) at the fake") {
            await self.requests.count >= count
        }
    }

    /// How the fake answers one request, decided (and recorded) inside the actor.
    enum Answer: Sendable {
        case events([String], delay: Duration, requestID: String)
        case json(status: Int, JSON, delay: Duration, requestID: String)
    }

    func answer(method: String, path: String, query: String?, headers: [String: String], body: JSON) -> Answer {
        let requestID = "req_fake_\(allRequests.count + 1)"
        let kind: RecordedRequest.Kind =
            switch (method, path) {
            case ("POST", "/v1/messages"): .messages
            case ("POST", "/v1/messages/count_tokens"): .countTokens
            default: .unhandled
            }
        guard kind == .messages else {
            allRequests.append(
                RecordedRequest(
                    kind: kind, method: method, path: path, query: query, headers: headers, body: body, answer: nil,
                    toolUseIDs: []))
            if kind == .countTokens {
                return .json(
                    status: 200, ["input_tokens": .number(Double(countTokensAnswer))], delay: .zero,
                    requestID: requestID)
            }
            let error = APIError(status: 404, type: "not_found_error", message: "\(method) \(path) is not served")
            return .json(status: 404, error.body, delay: .zero, requestID: requestID)
        }
        let turn = turnsTaken < script.count ? script[turnsTaken] : exhaustedTurn
        turnsTaken += 1
        let number = requests.count + 1
        let toolUseIDs = turn.blocks.indices.compactMap { index -> String? in
            if case .toolUse = turn.blocks[index] { return "toolu_fake_\(number)_\(index)" }
            return nil
        }
        allRequests.append(
            RecordedRequest(
                kind: kind, method: method, path: path, query: query, headers: headers, body: body, answer: turn,
                toolUseIDs: toolUseIDs))
        if let error = turn.error {
            return .json(status: error.status, error.body, delay: turn.delay, requestID: requestID)
        }
        let events = turn.serverSentEvents(
            messageID: "msg_fake_\(number)", model: body["model"]?.string ?? "claude-fake", toolUseIDs: toolUseIDs)
        return .events(events, delay: turn.delay, requestID: requestID)
    }

    /// Serves the fake on a free loopback port while `body` runs; `body` gets the base URL
    /// (`http://127.0.0.1:<port>`, for `ANTHROPIC_BASE_URL`). The server stops when `body` returns.
    public func serve<T: Sendable>(_ body: @escaping @Sendable (String) async throws -> T) async throws -> T {
        let router = Router()
        for method in [HTTPRequest.Method.get, .head, .post, .put, .patch, .delete] {
            router.on("**", method: method) { request, context in try await self.respond(request, context) }
        }
        var logger = Logger(label: "fake-anthropic")
        logger.logLevel = .critical
        let (portStream, portContinuation) = AsyncStream<Int>.makeStream()
        let app = Application(
            router: router,
            configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in
                portContinuation.yield(channel.localAddress?.port ?? 0)
                portContinuation.finish()
            },
            logger: logger
        )
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                try await app.runService()
                return nil
            }
            var iterator = portStream.makeAsyncIterator()
            guard let port = await iterator.next(), port != 0 else {
                throw Command.Failure(description: "fake Anthropic API did not start")
            }
            group.addTask { try await body("http://127.0.0.1:\(port)") }
            defer { group.cancelAll() }
            while let result = try await group.next() {
                if let result { return result }
            }
            throw Command.Failure(description: "fake Anthropic API stopped")
        }
    }

    private nonisolated func respond(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let buffer = try await request.body.collect(upTo: 64 << 20)
        var headers: [String: String] = [:]
        for field in request.headers {
            let name = field.name.canonicalName
            headers[name] = headers[name].map { $0 + ", " + field.value } ?? field.value
        }
        let body = buffer.readableBytes == 0 ? .null : (try? JSON(parsing: Data(buffer: buffer))) ?? .null
        let answer = await answer(
            method: request.method.rawValue, path: request.uri.path, query: request.uri.query, headers: headers,
            body: body)
        switch answer {
        case .json(let status, let json, let delay, let requestID):
            if delay > .zero { try await Task.sleep(for: delay) }
            return Response(
                status: .init(code: status),
                headers: [.contentType: "application/json", HTTPField.Name("request-id")!: requestID],
                body: .init(byteBuffer: ByteBuffer(string: json.text)))
        case .events(let events, let delay, let requestID):
            if delay > .zero { try await Task.sleep(for: delay) }
            return Response(
                status: .ok,
                headers: [
                    .contentType: "text/event-stream", .cacheControl: "no-cache",
                    HTTPField.Name("request-id")!: requestID,
                ],
                body: ResponseBody { writer in
                    // One write per event: each reaches the CLI as it is written, as from the real API.
                    for event in events {
                        try await writer.write(ByteBuffer(string: event))
                    }
                    try await writer.finish(nil)
                })
        }
    }
}
