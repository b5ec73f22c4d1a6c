import Foundation

/// One run in the ledger: what was asked, where it came from, how it ended and what it cost.
///
/// The prompt is never stored. `error` is expected to be redacted by the caller; the ledger cuts it to
/// ``maxErrorLength`` characters when it writes. Times are kept to the millisecond.
///
/// Its JSON form (``encodeJSON()``, ``jsonEncoder``) is the API's: snake_case keys, times as RFC 3339 UTC
/// strings with milliseconds, token counts nested under `usage`, absent fields left out. Apart from key order
/// and escaping, the encoding does not depend on the encoder's settings, so a record nested in a larger body
/// encodes the same with any `JSONEncoder`.
public struct RunRecord: Codable, Sendable, Equatable, Identifiable {
    /// A ULID, so that ids sort by creation time.
    public let id: String
    public var kind: Kind
    public var transport: Transport
    public var repo: String?
    public var ref: String?
    public var baseRef: String?
    public var event: String?
    public var prNumber: Int?
    public var issueNumber: Int?
    public var model: String?
    public var status: Status
    public var error: String?
    public var createdAt: Date
    public var startedAt: Date?
    public var endedAt: Date?
    public var durationMs: Int?
    public var exitCode: Int?
    public var sessionId: String?
    public var costUSD: Double?
    public var numTurns: Int?
    public var usage: Usage?
    /// How many tool calls were refused.
    public var permissionDenials: Int?
    /// The pull request an issue run opened or found (URL).
    public var pullRequest: String?
    /// The name of the runner that ran it (`nats.runnerName`).
    public var runner: String?
    public var workspaceSource: WorkspaceSource?
    public var workspaceMs: Int?
    /// How many times a durable issue task was delivered.
    public var deliveries: Int?

    /// The longest `error` the ledger keeps, in characters.
    public static let maxErrorLength = 4000

    public typealias Kind = RunKind
    public typealias Transport = RunTransport
    /// The status vocabulary shared by results, the ledger and metrics.
    public typealias Status = RunStatus

    /// Where a run's workspace came from.
    public typealias WorkspaceSource = ClaudeRunner.WorkspaceSource

    /// Tokens a run used, as Claude reports them.
    public struct Usage: Codable, Sendable, Equatable {
        public var inputTokens: Int?
        public var outputTokens: Int?
        public var cacheReadInputTokens: Int?
        public var cacheCreationInputTokens: Int?

        public init(
            inputTokens: Int? = nil, outputTokens: Int? = nil, cacheReadInputTokens: Int? = nil,
            cacheCreationInputTokens: Int? = nil
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

        var isEmpty: Bool {
            inputTokens == nil && outputTokens == nil && cacheReadInputTokens == nil
                && cacheCreationInputTokens == nil
        }
    }

    /// A new record; a run entering the ledger is `queued`, created now, with a new ULID.
    public init(
        id: String = ULID().description, kind: Kind, transport: Transport, status: Status = .queued,
        createdAt: Date = Date(), repo: String? = nil, ref: String? = nil, baseRef: String? = nil,
        event: String? = nil, prNumber: Int? = nil, issueNumber: Int? = nil, model: String? = nil,
        error: String? = nil, startedAt: Date? = nil, endedAt: Date? = nil, durationMs: Int? = nil,
        exitCode: Int? = nil, sessionId: String? = nil, costUSD: Double? = nil, numTurns: Int? = nil,
        usage: Usage? = nil, permissionDenials: Int? = nil, pullRequest: String? = nil, runner: String? = nil,
        workspaceSource: WorkspaceSource? = nil, workspaceMs: Int? = nil, deliveries: Int? = nil
    ) {
        self.id = id
        self.kind = kind
        self.transport = transport
        self.repo = repo
        self.ref = ref
        self.baseRef = baseRef
        self.event = event
        self.prNumber = prNumber
        self.issueNumber = issueNumber
        self.model = model
        self.status = status
        self.error = error
        self.createdAt = createdAt
        self.startedAt = startedAt
        self.endedAt = endedAt
        self.durationMs = durationMs
        self.exitCode = exitCode
        self.sessionId = sessionId
        self.costUSD = costUSD
        self.numTurns = numTurns
        self.usage = usage
        self.permissionDenials = permissionDenials
        self.pullRequest = pullRequest
        self.runner = runner
        self.workspaceSource = workspaceSource
        self.workspaceMs = workspaceMs
        self.deliveries = deliveries
    }

    /// The record as the ledger stores it and gives it back: times rounded to the millisecond, `error` cut to
    /// ``maxErrorLength``, empty usage dropped, a cost that is not a finite number dropped.
    public func normalized() -> RunRecord {
        var copy = self
        copy.createdAt = LedgerTime.rounded(createdAt)
        copy.startedAt = startedAt.map(LedgerTime.rounded)
        copy.endedAt = endedAt.map(LedgerTime.rounded)
        if let error, error.count > Self.maxErrorLength { copy.error = String(error.prefix(Self.maxErrorLength)) }
        if usage?.isEmpty == true { copy.usage = nil }
        if let costUSD, !costUSD.isFinite { copy.costUSD = nil }
        return copy
    }
}

// MARK: - JSON

extension RunRecord {
    /// The encoder for the API's JSON: compact, keys sorted (the same record always gives the same bytes),
    /// slashes left as they are (repos and URLs stay readable).
    public static let jsonEncoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    /// The record's API JSON.
    public func encodeJSON() throws -> Data {
        try Self.jsonEncoder.encode(self)
    }

    enum CodingKeys: String, CodingKey {
        case id, kind, transport, repo, ref
        case baseRef = "base_ref"
        case event
        case prNumber = "pr_number"
        case issueNumber = "issue_number"
        case model, status, error
        case createdAt = "created_at"
        case startedAt = "started_at"
        case endedAt = "ended_at"
        case durationMs = "duration_ms"
        case exitCode = "exit_code"
        case sessionId = "session_id"
        case costUSD = "cost_usd"
        case numTurns = "num_turns"
        case usage
        case permissionDenials = "permission_denials"
        case pullRequest = "pull_request"
        case runner
        case workspaceSource = "workspace_source"
        case workspaceMs = "workspace_ms"
        case deliveries
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        func date(_ key: CodingKeys) throws -> Date? {
            guard let text = try container.decodeIfPresent(String.self, forKey: key) else { return nil }
            guard let date = Timestamp.date(from: text) else {
                throw DecodingError.dataCorruptedError(
                    forKey: key, in: container, debugDescription: "expected an RFC 3339 time, got \"\(text)\"")
            }
            return LedgerTime.rounded(date)
        }
        self.id = try container.decode(String.self, forKey: .id)
        self.kind = try container.decode(Kind.self, forKey: .kind)
        self.transport = try container.decode(Transport.self, forKey: .transport)
        self.repo = try container.decodeIfPresent(String.self, forKey: .repo)
        self.ref = try container.decodeIfPresent(String.self, forKey: .ref)
        self.baseRef = try container.decodeIfPresent(String.self, forKey: .baseRef)
        self.event = try container.decodeIfPresent(String.self, forKey: .event)
        self.prNumber = try container.decodeIfPresent(Int.self, forKey: .prNumber)
        self.issueNumber = try container.decodeIfPresent(Int.self, forKey: .issueNumber)
        self.model = try container.decodeIfPresent(String.self, forKey: .model)
        self.status = try container.decode(Status.self, forKey: .status)
        self.error = try container.decodeIfPresent(String.self, forKey: .error)
        guard let createdAt = try date(.createdAt) else {
            throw DecodingError.keyNotFound(
                CodingKeys.createdAt,
                .init(codingPath: container.codingPath, debugDescription: "created_at is required"))
        }
        self.createdAt = createdAt
        self.startedAt = try date(.startedAt)
        self.endedAt = try date(.endedAt)
        self.durationMs = try container.decodeIfPresent(Int.self, forKey: .durationMs)
        self.exitCode = try container.decodeIfPresent(Int.self, forKey: .exitCode)
        self.sessionId = try container.decodeIfPresent(String.self, forKey: .sessionId)
        self.costUSD = try container.decodeIfPresent(Double.self, forKey: .costUSD)
        self.numTurns = try container.decodeIfPresent(Int.self, forKey: .numTurns)
        self.usage = try container.decodeIfPresent(Usage.self, forKey: .usage)
        self.permissionDenials = try container.decodeIfPresent(Int.self, forKey: .permissionDenials)
        self.pullRequest = try container.decodeIfPresent(String.self, forKey: .pullRequest)
        self.runner = try container.decodeIfPresent(String.self, forKey: .runner)
        self.workspaceSource = try container.decodeIfPresent(WorkspaceSource.self, forKey: .workspaceSource)
        self.workspaceMs = try container.decodeIfPresent(Int.self, forKey: .workspaceMs)
        self.deliveries = try container.decodeIfPresent(Int.self, forKey: .deliveries)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(kind, forKey: .kind)
        try container.encode(transport, forKey: .transport)
        try container.encodeIfPresent(repo, forKey: .repo)
        try container.encodeIfPresent(ref, forKey: .ref)
        try container.encodeIfPresent(baseRef, forKey: .baseRef)
        try container.encodeIfPresent(event, forKey: .event)
        try container.encodeIfPresent(prNumber, forKey: .prNumber)
        try container.encodeIfPresent(issueNumber, forKey: .issueNumber)
        try container.encodeIfPresent(model, forKey: .model)
        try container.encode(status, forKey: .status)
        try container.encodeIfPresent(error, forKey: .error)
        try container.encode(LedgerTime.string(createdAt), forKey: .createdAt)
        try container.encodeIfPresent(startedAt.map(LedgerTime.string), forKey: .startedAt)
        try container.encodeIfPresent(endedAt.map(LedgerTime.string), forKey: .endedAt)
        try container.encodeIfPresent(durationMs, forKey: .durationMs)
        try container.encodeIfPresent(exitCode, forKey: .exitCode)
        try container.encodeIfPresent(sessionId, forKey: .sessionId)
        // JSON has no NaN or infinity; such a cost is unknown, not an encoding failure.
        try container.encodeIfPresent(costUSD.flatMap { $0.isFinite ? $0 : nil }, forKey: .costUSD)
        try container.encodeIfPresent(numTurns, forKey: .numTurns)
        try container.encodeIfPresent(usage.flatMap { $0.isEmpty ? nil : $0 }, forKey: .usage)
        try container.encodeIfPresent(permissionDenials, forKey: .permissionDenials)
        try container.encodeIfPresent(pullRequest, forKey: .pullRequest)
        try container.encodeIfPresent(runner, forKey: .runner)
        try container.encodeIfPresent(workspaceSource, forKey: .workspaceSource)
        try container.encodeIfPresent(workspaceMs, forKey: .workspaceMs)
        try container.encodeIfPresent(deliveries, forKey: .deliveries)
    }
}
