/// What JetStream holds for the account and what it may hold, from `$JS.API.INFO`.
public struct AccountInfo: Decodable, Hashable, Sendable {
    /// The account's JetStream limits; `nil` is unlimited.
    public struct Limits: Decodable, Hashable, Sendable {
        public var maxMemory: Int64?
        public var maxStorage: Int64?
        public var maxStreams: Int?
        public var maxConsumers: Int?

        public init(maxMemory: Int64? = nil, maxStorage: Int64? = nil, maxStreams: Int? = nil, maxConsumers: Int? = nil)
        {
            self.maxMemory = maxMemory
            self.maxStorage = maxStorage
            self.maxStreams = maxStreams
            self.maxConsumers = maxConsumers
        }

        enum CodingKeys: String, CodingKey {
            case maxMemory = "max_memory"
            case maxStorage = "max_storage"
            case maxStreams = "max_streams"
            case maxConsumers = "max_consumers"
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            self.maxMemory = try container.decodeLimitIfPresent(Int64.self, forKey: .maxMemory)
            self.maxStorage = try container.decodeLimitIfPresent(Int64.self, forKey: .maxStorage)
            self.maxStreams = try container.decodeLimitIfPresent(Int.self, forKey: .maxStreams)
            self.maxConsumers = try container.decodeLimitIfPresent(Int.self, forKey: .maxConsumers)
        }
    }

    /// Bytes in memory streams.
    public var memory: UInt64
    /// Bytes in file streams.
    public var storage: UInt64
    public var streams: Int
    public var consumers: Int
    public var limits: Limits
    /// The JetStream domain of the server, if it has one.
    public var domain: String?

    public init(
        memory: UInt64 = 0, storage: UInt64 = 0, streams: Int = 0, consumers: Int = 0, limits: Limits = Limits(),
        domain: String? = nil
    ) {
        self.memory = memory
        self.storage = storage
        self.streams = streams
        self.consumers = consumers
        self.limits = limits
        self.domain = domain
    }

    enum CodingKeys: String, CodingKey {
        case memory, storage, streams, consumers, limits, domain
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.memory = try container.decodeIfPresent(UInt64.self, forKey: .memory) ?? 0
        self.storage = try container.decodeIfPresent(UInt64.self, forKey: .storage) ?? 0
        self.streams = try container.decodeIfPresent(Int.self, forKey: .streams) ?? 0
        self.consumers = try container.decodeIfPresent(Int.self, forKey: .consumers) ?? 0
        self.limits = try container.decodeIfPresent(Limits.self, forKey: .limits) ?? Limits()
        self.domain = try container.decodeIfPresent(String.self, forKey: .domain)
    }
}
