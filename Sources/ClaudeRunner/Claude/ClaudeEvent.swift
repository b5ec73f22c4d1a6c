import Foundation

/// One line of Claude Code's `--output-format stream-json` output, reduced to what the runner uses.
///
/// Parsing is lenient by design: unknown event types and fields are ignored, a field of the wrong type is
/// treated as absent, and a line that is not a JSON object with a string `type` is not an event at all
/// (it is plain output).
public enum ClaudeEvent: Sendable, Equatable {
    /// `system`/`init`: the session started.
    case initialized(sessionID: String?, model: String?)
    /// `assistant`: a message from the model, with its text and tool-use blocks.
    case assistant(model: String?, blocks: [AssistantBlock])
    /// `system`/`permission_denied`: the CLI refused a tool call.
    case permissionDenied(tool: String, toolUseID: String?)
    /// `result`: the run's outcome; the last event of a run.
    case result(ClaudeResultEvent)
    /// Any other event (`user` tool results, other `system` subtypes, new types).
    case other(type: String)

    public enum AssistantBlock: Sendable, Equatable {
        case text(String)
        case toolUse(id: String?, name: String, input: JSONValue?)
    }

    /// Parses one line (without its newline); `nil` when the line is not an event.
    public static func parse(_ line: Data) -> ClaudeEvent? {
        guard let first = line.first(where: { $0 != 0x20 && $0 != 0x09 && $0 != 0x0D }), first == UInt8(ascii: "{")
        else { return nil }
        // Events the runner does not read (tool results above all, most of a session's bytes) are told
        // apart without decoding them.
        if let keys = line.withUnsafeBytes({ EventPeek.keys($0) }) {
            guard let type = keys.type else { return nil }
            if !decodedTypes.contains(type) { return .other(type: type) }
            if type == "system", keys.subtype != "init", keys.subtype != "permission_denied" {
                return .other(type: type)
            }
        }
        guard let event = line.withUnsafeBytes({ JSONBytes.parse($0) }), case .object = event,
            let type = event["type"]?.stringValue
        else { return nil }
        switch type {
        case "system":
            switch event["subtype"]?.stringValue {
            case "init":
                return .initialized(sessionID: event["session_id"]?.stringValue, model: event["model"]?.stringValue)
            case "permission_denied":
                return .permissionDenied(
                    tool: event["tool_name"]?.stringValue ?? "unknown", toolUseID: event["tool_use_id"]?.stringValue)
            default: return .other(type: type)
            }
        case "assistant":
            // `message` is an object on assistant events (a string on some system events: then it is absent).
            let message = event["message"]
            let blocks: [AssistantBlock] = (message?["content"]?.arrayValue ?? []).compactMap { block in
                switch block["type"]?.stringValue {
                case "text": block["text"]?.stringValue.map { .text($0) }
                case "tool_use":
                    .toolUse(
                        id: block["id"]?.stringValue, name: block["name"]?.stringValue ?? "unknown",
                        input: block["input"])
                default: nil
                }
            }
            return .assistant(model: message?["model"]?.stringValue, blocks: blocks)
        case "result":
            return .result(
                ClaudeResultEvent(
                    subtype: event["subtype"]?.stringValue, isError: event["is_error"]?.boolValue ?? false,
                    result: event["result"]?.stringValue,
                    errors: (event["errors"]?.arrayValue ?? []).compactMap(\.stringValue),
                    numTurns: event["num_turns"]?.lenientInt,
                    totalCostUSD: event["total_cost_usd"]?.finiteNumber,
                    durationMS: event["duration_ms"]?.lenientInt, sessionID: event["session_id"]?.stringValue,
                    usage: event["usage"].flatMap(TokenUsage.init(json:)),
                    permissionDenials: (event["permission_denials"]?.arrayValue ?? []).compactMap { denial in
                        guard case .object = denial else { return nil }
                        return .init(
                            tool: denial["tool_name"]?.stringValue ?? "unknown",
                            toolUseID: denial["tool_use_id"]?.stringValue, input: denial["tool_input"])
                    }))
        default:
            return .other(type: type)
        }
    }

    /// The event types whose contents the runner reads.
    private static let decodedTypes: Set<String> = ["system", "assistant", "result"]
}

/// The `result` event: how Claude Code says the run ended.
public struct ClaudeResultEvent: Sendable, Equatable {
    /// `success`, `error_max_turns`, `error_max_budget_usd`, `error_during_execution`, …
    public var subtype: String?
    /// True for every failure, including API failures reported with subtype `success`.
    public var isError: Bool
    /// Claude's final text (absent on most error subtypes).
    public var result: String?
    /// The reasons Claude gives on error subtypes.
    public var errors: [String]
    public var numTurns: Int?
    public var totalCostUSD: Double?
    public var durationMS: Int?
    public var sessionID: String?
    public var usage: TokenUsage?
    public var permissionDenials: [Denial]

    public struct Denial: Sendable, Equatable {
        public var tool: String
        public var toolUseID: String?
        public var input: JSONValue?
    }

    public init(
        subtype: String? = nil, isError: Bool = false, result: String? = nil, errors: [String] = [],
        numTurns: Int? = nil, totalCostUSD: Double? = nil, durationMS: Int? = nil, sessionID: String? = nil,
        usage: TokenUsage? = nil, permissionDenials: [Denial] = []
    ) {
        self.subtype = subtype
        self.isError = isError
        self.result = result
        self.errors = errors
        self.numTurns = numTurns
        self.totalCostUSD = totalCostUSD
        self.durationMS = durationMS
        self.sessionID = sessionID
        self.usage = usage
        self.permissionDenials = permissionDenials
    }
}

/// Token counts of a run, as Claude Code reports them.
public struct TokenUsage: Sendable, Equatable, Codable {
    public var inputTokens: Int
    public var outputTokens: Int
    public var cacheReadInputTokens: Int
    public var cacheCreationInputTokens: Int

    public init(
        inputTokens: Int = 0, outputTokens: Int = 0, cacheReadInputTokens: Int = 0, cacheCreationInputTokens: Int = 0
    ) {
        self.inputTokens = inputTokens
        self.outputTokens = outputTokens
        self.cacheReadInputTokens = cacheReadInputTokens
        self.cacheCreationInputTokens = cacheCreationInputTokens
    }

    /// From a `usage` object of Claude's (a value of the wrong type counts as 0); `nil` when it is not an object.
    init?(json: JSONValue) {
        guard case .object = json else { return nil }
        inputTokens = json["input_tokens"]?.lenientInt ?? 0
        outputTokens = json["output_tokens"]?.lenientInt ?? 0
        cacheReadInputTokens = json["cache_read_input_tokens"]?.lenientInt ?? 0
        cacheCreationInputTokens = json["cache_creation_input_tokens"]?.lenientInt ?? 0
    }

    enum CodingKeys: String, CodingKey {
        case inputTokens = "input_tokens"
        case outputTokens = "output_tokens"
        case cacheReadInputTokens = "cache_read_input_tokens"
        case cacheCreationInputTokens = "cache_creation_input_tokens"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        inputTokens = Lenient.int(container, .inputTokens) ?? 0
        outputTokens = Lenient.int(container, .outputTokens) ?? 0
        cacheReadInputTokens = Lenient.int(container, .cacheReadInputTokens) ?? 0
        cacheCreationInputTokens = Lenient.int(container, .cacheCreationInputTokens) ?? 0
    }
}

/// Field readers that treat a value of the wrong type as absent instead of failing the whole event.
enum Lenient {
    static func int<K: CodingKey>(_ container: KeyedDecodingContainer<K>, _ key: K) -> Int? {
        if let value = try? container.decodeIfPresent(Int.self, forKey: key) { return value }
        if let value = try? container.decodeIfPresent(Double.self, forKey: key), value.isFinite,
            abs(value) < 1e15
        {
            return Int(value)
        }
        return nil
    }

    static func double<K: CodingKey>(_ container: KeyedDecodingContainer<K>, _ key: K) -> Double? {
        guard let value = try? container.decodeIfPresent(Double.self, forKey: key), value.isFinite else { return nil }
        return value
    }

    static func string<K: CodingKey>(_ container: KeyedDecodingContainer<K>, _ key: K) -> String? {
        try? container.decodeIfPresent(String.self, forKey: key)
    }

    static func decode<T: Decodable, K: CodingKey>(
        _ type: T.Type, _ container: KeyedDecodingContainer<K>, _ key: K
    )
        -> T?
    {
        (try? container.decodeIfPresent(type, forKey: key)) ?? nil
    }
}
