/// The configuration of a JetStream consumer, in the JSON of the JetStream API.
///
/// A consumer with a ``durableName`` survives while nobody pulls; one without is ephemeral (the server names it
/// and removes it after ``inactiveThreshold``). Durations travel as integer nanoseconds; a `nil` field is left
/// to the server's default. Fields the server sends that this type does not know are ignored.
public struct ConsumerConfig: Codable, Hashable, Sendable {
    /// Where in the stream the consumer starts.
    public struct DeliverPolicy: RawRepresentable, Codable, Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        public static let all = DeliverPolicy(rawValue: "all")
        public static let last = DeliverPolicy(rawValue: "last")
        public static let new = DeliverPolicy(rawValue: "new")
        /// From ``ConsumerConfig/startSequence``.
        public static let byStartSequence = DeliverPolicy(rawValue: "by_start_sequence")
        public static let lastPerSubject = DeliverPolicy(rawValue: "last_per_subject")
    }

    /// Which messages need an acknowledgement.
    public struct AckPolicy: RawRepresentable, Codable, Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// Every message is acknowledged by itself; unacknowledged ones come back after ``ConsumerConfig/ackWait``.
        public static let explicit = AckPolicy(rawValue: "explicit")
        /// Acknowledging a message acknowledges every earlier one.
        public static let all = AckPolicy(rawValue: "all")
        /// Nothing is acknowledged (not allowed for pull consumers).
        public static let none = AckPolicy(rawValue: "none")
    }

    /// How fast messages are delivered.
    public struct ReplayPolicy: RawRepresentable, Codable, Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        public static let instant = ReplayPolicy(rawValue: "instant")
        public static let original = ReplayPolicy(rawValue: "original")
    }

    public var durableName: String?
    /// The name of a non-durable consumer (the server picks one when `nil`).
    public var name: String?
    public var description: String?
    public var deliverPolicy: DeliverPolicy
    /// The first stream sequence for ``DeliverPolicy/byStartSequence``.
    public var startSequence: UInt64?
    public var ackPolicy: AckPolicy
    /// How long the server waits for an acknowledgement before it delivers the message again (default 30 s).
    public var ackWait: Duration?
    /// How often a message is delivered at most; `nil` is unlimited.
    public var maxDeliver: Int?
    /// Redelivery delays, one per delivery; overrides ``ackWait`` for redeliveries.
    public var backoff: [Duration]?
    /// Only messages on this subject (wildcards allowed).
    public var filterSubject: String?
    public var replayPolicy: ReplayPolicy
    /// Pull requests the server keeps waiting at once (default 512).
    public var maxWaiting: Int?
    /// Messages delivered and not yet acknowledged at most (default 1000; -1 is unlimited).
    public var maxAckPending: Int?
    /// The largest `batch` of a pull request.
    public var maxBatch: Int?
    /// The longest `expires` of a pull request.
    public var maxExpires: Duration?
    /// How long an unused ephemeral consumer lives.
    public var inactiveThreshold: Duration?
    /// Deliver only headers (with `Nats-Msg-Size`), not payloads.
    public var headersOnly: Bool
    /// Replicas of the consumer's state; 0 or `nil` follows the stream.
    public var replicas: Int?
    public var memoryStorage: Bool
    /// Set only for push consumers (this library pulls); shown so a caller can see what someone else created.
    public var deliverSubject: String?

    public init(
        durableName: String? = nil, name: String? = nil, description: String? = nil,
        deliverPolicy: DeliverPolicy = .all, startSequence: UInt64? = nil, ackPolicy: AckPolicy = .explicit,
        ackWait: Duration? = nil, maxDeliver: Int? = nil, backoff: [Duration]? = nil, filterSubject: String? = nil,
        replayPolicy: ReplayPolicy = .instant, maxWaiting: Int? = nil, maxAckPending: Int? = nil,
        maxBatch: Int? = nil, maxExpires: Duration? = nil, inactiveThreshold: Duration? = nil,
        headersOnly: Bool = false, replicas: Int? = nil, memoryStorage: Bool = false, deliverSubject: String? = nil
    ) {
        self.durableName = durableName
        self.name = name
        self.description = description
        self.deliverPolicy = deliverPolicy
        self.startSequence = startSequence
        self.ackPolicy = ackPolicy
        self.ackWait = ackWait
        self.maxDeliver = maxDeliver
        self.backoff = backoff
        self.filterSubject = filterSubject
        self.replayPolicy = replayPolicy
        self.maxWaiting = maxWaiting
        self.maxAckPending = maxAckPending
        self.maxBatch = maxBatch
        self.maxExpires = maxExpires
        self.inactiveThreshold = inactiveThreshold
        self.headersOnly = headersOnly
        self.replicas = replicas
        self.memoryStorage = memoryStorage
        self.deliverSubject = deliverSubject
    }

    enum CodingKeys: String, CodingKey {
        case name, description, backoff
        case durableName = "durable_name"
        case deliverPolicy = "deliver_policy"
        case startSequence = "opt_start_seq"
        case ackPolicy = "ack_policy"
        case ackWait = "ack_wait"
        case maxDeliver = "max_deliver"
        case filterSubject = "filter_subject"
        case replayPolicy = "replay_policy"
        case maxWaiting = "max_waiting"
        case maxAckPending = "max_ack_pending"
        case maxBatch = "max_batch"
        case maxExpires = "max_expires"
        case inactiveThreshold = "inactive_threshold"
        case headersOnly = "headers_only"
        case replicas = "num_replicas"
        case memoryStorage = "mem_storage"
        case deliverSubject = "deliver_subject"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.durableName = try container.decodeIfPresent(String.self, forKey: .durableName)
        self.name = try container.decodeIfPresent(String.self, forKey: .name)
        self.description = try container.decodeIfPresent(String.self, forKey: .description)
        self.deliverPolicy = try container.decodeIfPresent(DeliverPolicy.self, forKey: .deliverPolicy) ?? .all
        self.startSequence = try container.decodeIfPresent(UInt64.self, forKey: .startSequence)
        self.ackPolicy = try container.decodeIfPresent(AckPolicy.self, forKey: .ackPolicy) ?? .none
        self.ackWait = try container.decodeDurationIfPresent(forKey: .ackWait)
        self.maxDeliver = try container.decodeLimitIfPresent(Int.self, forKey: .maxDeliver)
        self.backoff = try container.decodeIfPresent([Int64].self, forKey: .backoff)?.map(
            Duration.init(jetStreamNanoseconds:))
        self.filterSubject = try container.decodeIfPresent(String.self, forKey: .filterSubject)
        self.replayPolicy = try container.decodeIfPresent(ReplayPolicy.self, forKey: .replayPolicy) ?? .instant
        self.maxWaiting = try container.decodeIfPresent(Int.self, forKey: .maxWaiting)
        self.maxAckPending = try container.decodeIfPresent(Int.self, forKey: .maxAckPending)
        self.maxBatch = try container.decodeIfPresent(Int.self, forKey: .maxBatch)
        self.maxExpires = try container.decodeNonZeroDurationIfPresent(forKey: .maxExpires)
        self.inactiveThreshold = try container.decodeNonZeroDurationIfPresent(forKey: .inactiveThreshold)
        self.headersOnly = try container.decodeIfPresent(Bool.self, forKey: .headersOnly) ?? false
        self.replicas = try container.decodeIfPresent(Int.self, forKey: .replicas)
        self.memoryStorage = try container.decodeIfPresent(Bool.self, forKey: .memoryStorage) ?? false
        self.deliverSubject = try container.decodeIfPresent(String.self, forKey: .deliverSubject)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeIfPresent(durableName, forKey: .durableName)
        try container.encodeIfPresent(name, forKey: .name)
        try container.encodeIfPresent(description, forKey: .description)
        try container.encode(deliverPolicy, forKey: .deliverPolicy)
        try container.encodeIfPresent(startSequence, forKey: .startSequence)
        try container.encode(ackPolicy, forKey: .ackPolicy)
        try container.encodeDurationIfPresent(ackWait, forKey: .ackWait)
        try container.encodeIfPresent(maxDeliver, forKey: .maxDeliver)
        try container.encodeIfPresent(backoff?.map(\.jetStreamNanoseconds), forKey: .backoff)
        try container.encodeIfPresent(filterSubject, forKey: .filterSubject)
        try container.encode(replayPolicy, forKey: .replayPolicy)
        try container.encodeIfPresent(maxWaiting, forKey: .maxWaiting)
        try container.encodeIfPresent(maxAckPending, forKey: .maxAckPending)
        try container.encodeIfPresent(maxBatch, forKey: .maxBatch)
        try container.encodeDurationIfPresent(maxExpires, forKey: .maxExpires)
        try container.encodeDurationIfPresent(inactiveThreshold, forKey: .inactiveThreshold)
        if headersOnly { try container.encode(true, forKey: .headersOnly) }
        try container.encodeIfPresent(replicas, forKey: .replicas)
        if memoryStorage { try container.encode(true, forKey: .memoryStorage) }
        try container.encodeIfPresent(deliverSubject, forKey: .deliverSubject)
    }
}
