/// The configuration of a JetStream stream, in the JSON of the JetStream API (`$JS.API.STREAM.CREATE`).
///
/// Limits that are `nil` are unlimited (the server writes -1, or 0 for ``maxAge``); durations travel as
/// integer nanoseconds. Fields the server sends that this type does not know are ignored.
public struct StreamConfig: Codable, Hashable, Sendable {
    /// What removes a message from the stream besides its limits.
    public struct Retention: RawRepresentable, Codable, Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// Messages stay until a limit removes them.
        public static let limits = Retention(rawValue: "limits")
        /// Messages stay while a consumer has not acknowledged them.
        public static let interest = Retention(rawValue: "interest")
        /// Each message goes to one consumer and leaves the stream when acknowledged (or terminated).
        public static let workQueue = Retention(rawValue: "workqueue")
    }

    /// Where the server keeps the messages.
    public struct Storage: RawRepresentable, Codable, Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// On disk: survives a restart of the server.
        public static let file = Storage(rawValue: "file")
        /// In memory: lost when the server stops.
        public static let memory = Storage(rawValue: "memory")
    }

    /// What a full stream does with one message more.
    public struct Discard: RawRepresentable, Codable, Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// The oldest message makes room.
        public static let old = Discard(rawValue: "old")
        /// The new message is refused: the publisher gets an error.
        public static let new = Discard(rawValue: "new")
    }

    public var name: String
    public var description: String?
    /// The subjects the stream captures (wildcards allowed).
    public var subjects: [String]
    public var retention: Retention
    public var storage: Storage
    public var maxConsumers: Int?
    public var maxMessages: Int64?
    public var maxBytes: Int64?
    /// The oldest a message may get.
    public var maxAge: Duration?
    public var maxMessagesPerSubject: Int64?
    public var maxMessageSize: Int?
    public var discard: Discard
    public var replicas: Int
    /// How long a `Nats-Msg-Id` is remembered to drop duplicates; the server's default is two minutes.
    public var duplicateWindow: Duration?
    /// Whether publishes go unacknowledged.
    public var noAck: Bool
    public var denyDelete: Bool
    public var denyPurge: Bool
    public var allowRollup: Bool

    public init(
        name: String, description: String? = nil, subjects: [String], retention: Retention = .limits,
        storage: Storage = .file, maxConsumers: Int? = nil, maxMessages: Int64? = nil, maxBytes: Int64? = nil,
        maxAge: Duration? = nil, maxMessagesPerSubject: Int64? = nil, maxMessageSize: Int? = nil,
        discard: Discard = .old, replicas: Int = 1, duplicateWindow: Duration? = nil, noAck: Bool = false,
        denyDelete: Bool = false, denyPurge: Bool = false, allowRollup: Bool = false
    ) {
        self.name = name
        self.description = description
        self.subjects = subjects
        self.retention = retention
        self.storage = storage
        self.maxConsumers = maxConsumers
        self.maxMessages = maxMessages
        self.maxBytes = maxBytes
        self.maxAge = maxAge
        self.maxMessagesPerSubject = maxMessagesPerSubject
        self.maxMessageSize = maxMessageSize
        self.discard = discard
        self.replicas = replicas
        self.duplicateWindow = duplicateWindow
        self.noAck = noAck
        self.denyDelete = denyDelete
        self.denyPurge = denyPurge
        self.allowRollup = allowRollup
    }

    enum CodingKeys: String, CodingKey {
        case name, description, subjects, retention, storage, discard
        case maxConsumers = "max_consumers"
        case maxMessages = "max_msgs"
        case maxBytes = "max_bytes"
        case maxAge = "max_age"
        case maxMessagesPerSubject = "max_msgs_per_subject"
        case maxMessageSize = "max_msg_size"
        case replicas = "num_replicas"
        case duplicateWindow = "duplicate_window"
        case noAck = "no_ack"
        case denyDelete = "deny_delete"
        case denyPurge = "deny_purge"
        case allowRollup = "allow_rollup_hdrs"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.name = try container.decode(String.self, forKey: .name)
        self.description = try container.decodeIfPresent(String.self, forKey: .description)
        self.subjects = try container.decodeIfPresent([String].self, forKey: .subjects) ?? []
        self.retention = try container.decodeIfPresent(Retention.self, forKey: .retention) ?? .limits
        self.storage = try container.decodeIfPresent(Storage.self, forKey: .storage) ?? .file
        self.maxConsumers = try container.decodeLimitIfPresent(Int.self, forKey: .maxConsumers)
        self.maxMessages = try container.decodeLimitIfPresent(Int64.self, forKey: .maxMessages)
        self.maxBytes = try container.decodeLimitIfPresent(Int64.self, forKey: .maxBytes)
        self.maxAge = try container.decodeNonZeroDurationIfPresent(forKey: .maxAge)
        self.maxMessagesPerSubject = try container.decodeLimitIfPresent(Int64.self, forKey: .maxMessagesPerSubject)
        self.maxMessageSize = try container.decodeLimitIfPresent(Int.self, forKey: .maxMessageSize)
        self.discard = try container.decodeIfPresent(Discard.self, forKey: .discard) ?? .old
        self.replicas = try container.decodeIfPresent(Int.self, forKey: .replicas) ?? 1
        self.duplicateWindow = try container.decodeNonZeroDurationIfPresent(forKey: .duplicateWindow)
        self.noAck = try container.decodeIfPresent(Bool.self, forKey: .noAck) ?? false
        self.denyDelete = try container.decodeIfPresent(Bool.self, forKey: .denyDelete) ?? false
        self.denyPurge = try container.decodeIfPresent(Bool.self, forKey: .denyPurge) ?? false
        self.allowRollup = try container.decodeIfPresent(Bool.self, forKey: .allowRollup) ?? false
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        try container.encodeIfPresent(description, forKey: .description)
        try container.encode(subjects, forKey: .subjects)
        try container.encode(retention, forKey: .retention)
        try container.encode(storage, forKey: .storage)
        try container.encode(maxConsumers ?? -1, forKey: .maxConsumers)
        try container.encode(maxMessages ?? -1, forKey: .maxMessages)
        try container.encode(maxBytes ?? -1, forKey: .maxBytes)
        try container.encode(maxAge?.jetStreamNanoseconds ?? 0, forKey: .maxAge)
        try container.encode(maxMessagesPerSubject ?? -1, forKey: .maxMessagesPerSubject)
        try container.encode(maxMessageSize ?? -1, forKey: .maxMessageSize)
        try container.encode(discard, forKey: .discard)
        try container.encode(replicas, forKey: .replicas)
        try container.encodeDurationIfPresent(duplicateWindow, forKey: .duplicateWindow)
        if noAck { try container.encode(true, forKey: .noAck) }
        if denyDelete { try container.encode(true, forKey: .denyDelete) }
        if denyPurge { try container.encode(true, forKey: .denyPurge) }
        if allowRollup { try container.encode(true, forKey: .allowRollup) }
    }
}
