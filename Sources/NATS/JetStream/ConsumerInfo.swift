/// A consumer's configuration and progress, as `$JS.API.CONSUMER.INFO` (and create) report them.
///
/// A caller that wants a consumer with particular settings compares ``config`` with its own: a durable
/// consumer may have been created by someone else with different ones.
public struct ConsumerInfo: Decodable, Hashable, Sendable {
    /// How far the consumer got: a consumer sequence (per delivery) and the stream sequence it reached.
    public struct SequencePair: Decodable, Hashable, Sendable {
        public var consumerSequence: UInt64
        public var streamSequence: UInt64

        public init(consumerSequence: UInt64 = 0, streamSequence: UInt64 = 0) {
            self.consumerSequence = consumerSequence
            self.streamSequence = streamSequence
        }

        enum CodingKeys: String, CodingKey {
            case consumerSequence = "consumer_seq"
            case streamSequence = "stream_seq"
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            self.consumerSequence = try container.decodeIfPresent(UInt64.self, forKey: .consumerSequence) ?? 0
            self.streamSequence = try container.decodeIfPresent(UInt64.self, forKey: .streamSequence) ?? 0
        }
    }

    public var stream: String
    public var name: String
    public var config: ConsumerConfig
    /// The last message delivered.
    public var delivered: SequencePair
    /// Everything up to here is acknowledged.
    public var ackFloor: SequencePair
    /// Delivered and not yet acknowledged.
    public var numAckPending: Int
    /// Delivered more than once and not yet acknowledged.
    public var numRedelivered: Int
    /// Pull requests waiting at the server.
    public var numWaiting: Int
    /// Messages in the stream not yet delivered to this consumer.
    public var numPending: UInt64

    public init(
        stream: String, name: String, config: ConsumerConfig, delivered: SequencePair = SequencePair(),
        ackFloor: SequencePair = SequencePair(), numAckPending: Int = 0, numRedelivered: Int = 0,
        numWaiting: Int = 0, numPending: UInt64 = 0
    ) {
        self.stream = stream
        self.name = name
        self.config = config
        self.delivered = delivered
        self.ackFloor = ackFloor
        self.numAckPending = numAckPending
        self.numRedelivered = numRedelivered
        self.numWaiting = numWaiting
        self.numPending = numPending
    }

    enum CodingKeys: String, CodingKey {
        case name, config, delivered
        case stream = "stream_name"
        case ackFloor = "ack_floor"
        case numAckPending = "num_ack_pending"
        case numRedelivered = "num_redelivered"
        case numWaiting = "num_waiting"
        case numPending = "num_pending"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.stream = try container.decode(String.self, forKey: .stream)
        self.name = try container.decode(String.self, forKey: .name)
        self.config = try container.decode(ConsumerConfig.self, forKey: .config)
        self.delivered = try container.decodeIfPresent(SequencePair.self, forKey: .delivered) ?? SequencePair()
        self.ackFloor = try container.decodeIfPresent(SequencePair.self, forKey: .ackFloor) ?? SequencePair()
        self.numAckPending = try container.decodeIfPresent(Int.self, forKey: .numAckPending) ?? 0
        self.numRedelivered = try container.decodeIfPresent(Int.self, forKey: .numRedelivered) ?? 0
        self.numWaiting = try container.decodeIfPresent(Int.self, forKey: .numWaiting) ?? 0
        self.numPending = try container.decodeIfPresent(UInt64.self, forKey: .numPending) ?? 0
    }
}
