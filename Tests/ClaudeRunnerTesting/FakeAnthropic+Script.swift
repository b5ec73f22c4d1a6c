import Foundation

extension FakeAnthropic {
    /// One answer of the scripted model: what the next `POST /v1/messages` gets.
    ///
    /// A turn is either content blocks streamed as server-sent events, the way the Messages API streams
    /// (`message_start`, then per block `content_block_start`/`content_block_delta`/`content_block_stop`,
    /// then `message_delta` with the stop reason and `message_stop`), or an API error answered as JSON
    /// with an HTTP status.
    public struct Turn: Sendable, Equatable {
        /// A content block of the answer.
        public enum Block: Sendable, Equatable {
            case text(String)
            /// A tool call; the CLI runs the tool (if allowed) and sends its `tool_result` in the next request.
            case toolUse(name: String, input: JSON)
        }

        public var blocks: [Block]
        /// Token counts reported for this turn; the CLI computes its cost (and its budget check) from them.
        public var usage: Usage
        /// The `stop_reason` of `message_delta`; `nil` picks `tool_use` when a block calls a tool, else `end_turn`.
        public var stopReason: String?
        /// How long the fake waits after the request arrived before it answers (status line included), so a
        /// test can look at the CLI, or the runner around it, while "the model" is still thinking.
        public var delay: Duration
        /// When set, the request is answered with this error instead of the blocks.
        public var error: APIError?

        public init(
            blocks: [Block], usage: Usage = Usage(), stopReason: String? = nil, delay: Duration = .zero,
            error: APIError? = nil
        ) {
            self.blocks = blocks
            self.usage = usage
            self.stopReason = stopReason
            self.delay = delay
            self.error = error
        }

        /// A final answer: one text block, stop reason `end_turn`.
        public static func text(_ text: String) -> Turn {
            Turn(blocks: [.text(text)])
        }

        /// One tool call, after an optional text block; stop reason `tool_use`.
        public static func tool(_ name: String, _ input: [String: JSON], text: String? = nil) -> Turn {
            tools([(name, input)], text: text)
        }

        /// Several tool calls in one answer (the CLI runs them and answers all results in one request).
        public static func tools(_ calls: [(name: String, input: [String: JSON])], text: String? = nil) -> Turn {
            Turn(
                blocks: (text.map { [.text($0)] } ?? [])
                    + calls.map { .toolUse(name: $0.name, input: .object($0.input)) })
        }

        /// An API error: HTTP `status` with `{"type":"error","error":{"type":type,"message":message}}`.
        public static func error(status: Int, type: String, message: String) -> Turn {
            Turn(blocks: [], error: APIError(status: status, type: type, message: message))
        }

        /// This turn, answered after `delay`.
        public func delayed(by delay: Duration) -> Turn {
            var turn = self
            turn.delay = delay
            return turn
        }

        /// This turn with other token counts.
        public func usage(input: Int, output: Int, cacheCreation: Int = 0, cacheRead: Int = 0) -> Turn {
            var turn = self
            turn.usage = Usage(
                inputTokens: input, outputTokens: output, cacheCreationInputTokens: cacheCreation,
                cacheReadInputTokens: cacheRead)
            return turn
        }

        /// The stop reason sent in `message_delta`.
        public var effectiveStopReason: String {
            stopReason ?? (blocks.contains { if case .toolUse = $0 { true } else { false } } ? "tool_use" : "end_turn")
        }
    }

    /// Token counts of one turn, as the Messages API reports them.
    public struct Usage: Sendable, Equatable {
        public var inputTokens: Int
        public var outputTokens: Int
        public var cacheCreationInputTokens: Int
        public var cacheReadInputTokens: Int

        public init(
            inputTokens: Int = 100, outputTokens: Int = 50, cacheCreationInputTokens: Int = 0,
            cacheReadInputTokens: Int = 0
        ) {
            self.inputTokens = inputTokens
            self.outputTokens = outputTokens
            self.cacheCreationInputTokens = cacheCreationInputTokens
            self.cacheReadInputTokens = cacheReadInputTokens
        }
    }

    /// An error answer of the Messages API.
    public struct APIError: Sendable, Equatable {
        public var status: Int
        /// The error's `type`, e.g. `invalid_request_error`, `overloaded_error`, `rate_limit_error`.
        public var type: String
        public var message: String

        public init(status: Int, type: String, message: String) {
            self.status = status
            self.type = type
            self.message = message
        }

        var body: JSON { ["type": "error", "error": ["type": .string(type), "message": .string(message)]] }
    }
}

extension FakeAnthropic.Turn {
    /// The server-sent events of this turn, each a complete `event:`/`data:` record ending in a blank line.
    ///
    /// - Parameters:
    ///   - messageID: The message's `id`.
    ///   - model: The `model` echoed in `message_start` (the one the request asked for).
    ///   - toolUseIDs: One id per `toolUse` block, in order.
    func serverSentEvents(messageID: String, model: String, toolUseIDs: [String]) -> [String] {
        typealias JSON = FakeAnthropic.JSON
        func event(_ name: String, _ data: JSON) -> String { "event: \(name)\ndata: \(data.text)\n\n" }
        var events = [
            event(
                "message_start",
                [
                    "type": "message_start",
                    "message": [
                        "id": .string(messageID), "type": "message", "role": "assistant", "model": .string(model),
                        "content": [], "stop_reason": nil, "stop_sequence": nil,
                        "usage": [
                            "input_tokens": .number(Double(usage.inputTokens)), "output_tokens": 1,
                            "cache_creation_input_tokens": .number(Double(usage.cacheCreationInputTokens)),
                            "cache_read_input_tokens": .number(Double(usage.cacheReadInputTokens)),
                        ],
                    ],
                ])
        ]
        var toolUseIDs = toolUseIDs.makeIterator()
        for (index, block) in blocks.enumerated() {
            let position = JSON.number(Double(index))
            switch block {
            case .text(let text):
                events.append(
                    event(
                        "content_block_start",
                        [
                            "type": "content_block_start", "index": position,
                            "content_block": ["type": "text", "text": ""],
                        ]))
                events.append(
                    event(
                        "content_block_delta",
                        [
                            "type": "content_block_delta", "index": position,
                            "delta": ["type": "text_delta", "text": .string(text)],
                        ]))
            case .toolUse(let name, let input):
                events.append(
                    event(
                        "content_block_start",
                        [
                            "type": "content_block_start", "index": position,
                            "content_block": [
                                "type": "tool_use", "id": .string(toolUseIDs.next() ?? "toolu_fake"),
                                "name": .string(name), "input": [:],
                            ],
                        ]))
                // The input arrives in pieces, as from the real API; the CLI joins them before parsing.
                let json = input.text
                let middle = json.index(json.startIndex, offsetBy: json.count / 2)
                for piece in [json[..<middle], json[middle...]] where !piece.isEmpty {
                    events.append(
                        event(
                            "content_block_delta",
                            [
                                "type": "content_block_delta", "index": position,
                                "delta": ["type": "input_json_delta", "partial_json": .string(String(piece))],
                            ]))
                }
            }
            events.append(event("content_block_stop", ["type": "content_block_stop", "index": position]))
        }
        events.append(
            event(
                "message_delta",
                [
                    "type": "message_delta",
                    "delta": ["stop_reason": .string(effectiveStopReason), "stop_sequence": nil],
                    "usage": ["output_tokens": .number(Double(usage.outputTokens))],
                ]))
        events.append(event("message_stop", ["type": "message_stop"]))
        return events
    }
}
