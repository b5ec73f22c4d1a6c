/// A stream's configuration and state, as `$JS.API.STREAM.INFO` (and create, update) report them.
public struct StreamInfo: Decodable, Hashable, Sendable {
    /// What the stream holds now.
    public struct State: Decodable, Hashable, Sendable {
        /// Messages in the stream.
        public var messages: UInt64
        public var bytes: UInt64
        /// The sequence of the oldest message (one past ``lastSequence`` when the stream is empty).
        public var firstSequence: UInt64
        /// The sequence of the newest message ever stored.
        public var lastSequence: UInt64
        /// Messages removed from between first and last (acknowledged out of order, deleted).
        public var deleted: UInt64
        public var subjects: UInt64
        public var consumers: Int

        public init(
            messages: UInt64 = 0, bytes: UInt64 = 0, firstSequence: UInt64 = 0, lastSequence: UInt64 = 0,
            deleted: UInt64 = 0, subjects: UInt64 = 0, consumers: Int = 0
        ) {
            self.messages = messages
            self.bytes = bytes
            self.firstSequence = firstSequence
            self.lastSequence = lastSequence
            self.deleted = deleted
            self.subjects = subjects
            self.consumers = consumers
        }

        enum CodingKeys: String, CodingKey {
            case messages, bytes
            case firstSequence = "first_seq"
            case lastSequence = "last_seq"
            case deleted = "num_deleted"
            case subjects = "num_subjects"
            case consumers = "consumer_count"
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            self.messages = try container.decodeIfPresent(UInt64.self, forKey: .messages) ?? 0
            self.bytes = try container.decodeIfPresent(UInt64.self, forKey: .bytes) ?? 0
            self.firstSequence = try container.decodeIfPresent(UInt64.self, forKey: .firstSequence) ?? 0
            self.lastSequence = try container.decodeIfPresent(UInt64.self, forKey: .lastSequence) ?? 0
            self.deleted = try container.decodeIfPresent(UInt64.self, forKey: .deleted) ?? 0
            self.subjects = try container.decodeIfPresent(UInt64.self, forKey: .subjects) ?? 0
            self.consumers = try container.decodeIfPresent(Int.self, forKey: .consumers) ?? 0
        }
    }

    public var config: StreamConfig
    public var state: State

    public init(config: StreamConfig, state: State) {
        self.config = config
        self.state = state
    }
}
