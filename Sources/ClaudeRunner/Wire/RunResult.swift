/// The answer to every request: `{"id", "output", "error"?}`, plus what Claude's stream-json events told
/// about the run (section 10 of the spec) when it printed any.
///
/// `error` is present when Claude exited non-zero, reported an error result, or a limit stopped it (its
/// stderr, or the reason); the request itself still succeeded. The further fields are absent when unknown,
/// so the Result of a `claude` that prints plain text is exactly the original runner's.
public struct RunResult: Codable, Sendable, Equatable {
    public var id: String
    public var output: String
    public var error: String?
    /// One of ``RunStatus``'s raw values.
    public var status: String?
    public var sessionID: String?
    public var costUSD: Double?
    public var numTurns: Int?
    public var durationMS: Int?
    public var model: String?
    public var usage: TokenUsage?
    public var permissionDenials: [PermissionDenial]?

    /// A tool call the CLI refused: the tool and a one-line summary of its input.
    public struct PermissionDenial: Codable, Sendable, Equatable {
        public var tool: String
        public var input: String

        public init(tool: String, input: String) {
            self.tool = tool
            self.input = input
        }
    }

    public init(
        id: String, output: String, error: String? = nil, status: String? = nil, sessionID: String? = nil,
        costUSD: Double? = nil, numTurns: Int? = nil, durationMS: Int? = nil, model: String? = nil,
        usage: TokenUsage? = nil, permissionDenials: [PermissionDenial]? = nil
    ) {
        self.id = id
        self.output = output
        self.error = error
        self.status = status
        self.sessionID = sessionID
        self.costUSD = costUSD
        self.numTurns = numTurns
        self.durationMS = durationMS
        self.model = model
        self.usage = usage
        self.permissionDenials = permissionDenials
    }

    enum CodingKeys: String, CodingKey {
        case id, output, error, status, model, usage
        case sessionID = "session_id"
        case costUSD = "cost_usd"
        case numTurns = "num_turns"
        case durationMS = "duration_ms"
        case permissionDenials = "permission_denials"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.id = try container.decodeIfPresent(String.self, forKey: .id) ?? ""
        self.output = try container.decodeIfPresent(String.self, forKey: .output) ?? ""
        self.error = try container.decodeIfPresent(String.self, forKey: .error)
        self.status = Lenient.string(container, .status)
        self.sessionID = Lenient.string(container, .sessionID)
        self.costUSD = Lenient.double(container, .costUSD)
        self.numTurns = Lenient.int(container, .numTurns)
        self.durationMS = Lenient.int(container, .durationMS)
        self.model = Lenient.string(container, .model)
        self.usage = Lenient.decode(TokenUsage.self, container, .usage)
        self.permissionDenials = Lenient.decode([PermissionDenial].self, container, .permissionDenials)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(output, forKey: .output)
        try container.encodeIfPresent(error.nonEmpty, forKey: .error)
        try container.encodeIfPresent(status, forKey: .status)
        try container.encodeIfPresent(sessionID, forKey: .sessionID)
        try container.encodeIfPresent(costUSD, forKey: .costUSD)
        try container.encodeIfPresent(numTurns, forKey: .numTurns)
        try container.encodeIfPresent(durationMS, forKey: .durationMS)
        try container.encodeIfPresent(model, forKey: .model)
        try container.encodeIfPresent(usage, forKey: .usage)
        try container.encodeIfPresent(permissionDenials, forKey: .permissionDenials)
    }
}

/// How a run ended (or where it is): the vocabulary of Results, the ledger and metrics.
public enum RunStatus: String, Sendable, Codable, CaseIterable {
    case queued, running, completed, failed
    case maxTurns = "max_turns"
    case budgetExceeded = "budget_exceeded"
    case timeout, idle, cancelled, interrupted

    /// Whether the run is over.
    public var isFinal: Bool { self != .queued && self != .running }
}
