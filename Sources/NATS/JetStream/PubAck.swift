/// The stream's acknowledgement of a publish: the message is stored (or was already, within the duplicate
/// window).
public struct PubAck: Decodable, Hashable, Sendable {
    /// The stream that stored the message.
    public var stream: String
    /// The message's sequence in the stream.
    public var sequence: UInt64
    /// Whether a message with the same `Nats-Msg-Id` was already stored within the duplicate window; then
    /// ``sequence`` is that of the earlier message and nothing new was stored.
    public var duplicate: Bool
    /// The JetStream domain, if the server has one.
    public var domain: String?

    public init(stream: String, sequence: UInt64, duplicate: Bool = false, domain: String? = nil) {
        self.stream = stream
        self.sequence = sequence
        self.duplicate = duplicate
        self.domain = domain
    }

    enum CodingKeys: String, CodingKey {
        case stream, duplicate, domain
        case sequence = "seq"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.stream = try container.decode(String.self, forKey: .stream)
        self.sequence = try container.decode(UInt64.self, forKey: .sequence)
        self.duplicate = try container.decodeIfPresent(Bool.self, forKey: .duplicate) ?? false
        self.domain = try container.decodeIfPresent(String.self, forKey: .domain)
    }
}
