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
        guard let raw = try? decoder.decode(RawEvent.self, from: line), let type = raw.type else { return nil }
        switch type {
        case "system":
            switch raw.subtype {
            case "init": return .initialized(sessionID: raw.sessionID, model: raw.model)
            case "permission_denied":
                return .permissionDenied(tool: raw.toolName ?? "unknown", toolUseID: raw.toolUseID)
            default: return .other(type: type)
            }
        case "assistant":
            let blocks: [AssistantBlock] = (raw.message?.content ?? []).compactMap { block in
                switch block.type {
                case "text": block.text.map { .text($0) }
                case "tool_use": .toolUse(id: block.id, name: block.name ?? "unknown", input: block.input)
                default: nil
                }
            }
            return .assistant(model: raw.message?.model, blocks: blocks)
        case "result":
            return .result(
                ClaudeResultEvent(
                    subtype: raw.subtype, isError: raw.isError ?? false, result: raw.result, errors: raw.errors ?? [],
                    numTurns: raw.numTurns, totalCostUSD: raw.totalCostUSD, durationMS: raw.durationMS,
                    sessionID: raw.sessionID, usage: raw.usage,
                    permissionDenials: (raw.permissionDenials ?? []).map {
                        .init(tool: $0.toolName ?? "unknown", toolUseID: $0.toolUseID, input: $0.toolInput)
                    }))
        default:
            return .other(type: type)
        }
    }

    private static let decoder = JSONDecoder()
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

    static func bool<K: CodingKey>(_ container: KeyedDecodingContainer<K>, _ key: K) -> Bool? {
        try? container.decodeIfPresent(Bool.self, forKey: key)
    }

    static func decode<T: Decodable, K: CodingKey>(
        _ type: T.Type, _ container: KeyedDecodingContainer<K>, _ key: K
    )
        -> T?
    {
        (try? container.decodeIfPresent(type, forKey: key)) ?? nil
    }
}

/// Every field any event type might carry; the event's `type` decides which ones mean something.
private struct RawEvent: Decodable {
    var type: String?
    var subtype: String?
    var sessionID: String?
    var model: String?
    var message: Message?
    var toolName: String?
    var toolUseID: String?
    var isError: Bool?
    var result: String?
    var errors: [String]?
    var numTurns: Int?
    var totalCostUSD: Double?
    var durationMS: Int?
    var usage: TokenUsage?
    var permissionDenials: [Denial]?

    struct Message: Decodable {
        var model: String?
        var content: [Block]?

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            model = Lenient.string(container, .model)
            content = Lenient.decode([Lenient.Item<Block>].self, container, .content)?.compactMap(\.value)
        }

        enum CodingKeys: String, CodingKey { case model, content }
    }

    struct Block: Decodable {
        var type: String?
        var text: String?
        var id: String?
        var name: String?
        var input: JSONValue?

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            type = Lenient.string(container, .type)
            text = Lenient.string(container, .text)
            id = Lenient.string(container, .id)
            name = Lenient.string(container, .name)
            input = type == "tool_use" ? Lenient.decode(JSONValue.self, container, .input) : nil
        }

        enum CodingKeys: String, CodingKey { case type, text, id, name, input }
    }

    struct Denial: Decodable {
        var toolName: String?
        var toolUseID: String?
        var toolInput: JSONValue?

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            toolName = Lenient.string(container, .toolName)
            toolUseID = Lenient.string(container, .toolUseID)
            toolInput = Lenient.decode(JSONValue.self, container, .toolInput)
        }

        enum CodingKeys: String, CodingKey {
            case toolName = "tool_name"
            case toolUseID = "tool_use_id"
            case toolInput = "tool_input"
        }
    }

    enum CodingKeys: String, CodingKey {
        case type, subtype, model, message, result, errors, usage
        case sessionID = "session_id"
        case toolName = "tool_name"
        case toolUseID = "tool_use_id"
        case isError = "is_error"
        case numTurns = "num_turns"
        case totalCostUSD = "total_cost_usd"
        case durationMS = "duration_ms"
        case permissionDenials = "permission_denials"
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        type = Lenient.string(container, .type)
        subtype = Lenient.string(container, .subtype)
        sessionID = Lenient.string(container, .sessionID)
        model = Lenient.string(container, .model)
        // `message` is an object on assistant/user events and a string on some system events.
        message = Lenient.decode(Message.self, container, .message)
        toolName = Lenient.string(container, .toolName)
        toolUseID = Lenient.string(container, .toolUseID)
        isError = Lenient.bool(container, .isError)
        result = Lenient.string(container, .result)
        errors = Lenient.decode([Lenient.Item<String>].self, container, .errors)?.compactMap(\.value)
        numTurns = Lenient.int(container, .numTurns)
        totalCostUSD = Lenient.double(container, .totalCostUSD)
        durationMS = Lenient.int(container, .durationMS)
        usage = Lenient.decode(TokenUsage.self, container, .usage)
        permissionDenials = Lenient.decode([Lenient.Item<Denial>].self, container, .permissionDenials)?.compactMap(
            \.value)
    }
}

extension Lenient {
    /// An array element that is kept when it decodes and dropped (as `nil`) when it does not.
    struct Item<T: Decodable>: Decodable {
        var value: T?
        init(from decoder: any Decoder) throws {
            value = try? decoder.singleValueContainer().decode(T.self)
        }
    }
}
