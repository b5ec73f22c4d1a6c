#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

extension JetStreamMessage {
    /// What the acknowledgement subject of a delivered message says about it.
    ///
    /// Two forms exist: `$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<timestamp>.<pending>`
    /// (nats-server 2.9) and `$JS.ACK.<domain>.<account hash>.<stream>.<consumer>.<delivered>.<stream seq>.
    /// <consumer seq>.<timestamp>.<pending>[.<token>…]` (newer servers; domain `_` means none).
    public struct Metadata: Hashable, Sendable {
        /// The JetStream domain; `nil` when there is none.
        public var domain: String?
        /// The hash of the account (new form only).
        public var accountHash: String?
        public var stream: String
        public var consumer: String
        /// How often this message has been delivered, this delivery included (1 the first time).
        public var deliveryCount: Int
        /// The message's sequence in the stream: the same on every delivery.
        public var streamSequence: UInt64
        /// The delivery's sequence in the consumer: new on every delivery.
        public var consumerSequence: UInt64
        /// When the message was stored, in nanoseconds since 1970.
        public var timestampNanoseconds: Int64
        /// Messages in the stream still to be delivered to this consumer after this one.
        public var pending: UInt64

        /// When the message was stored.
        public var timestamp: Date {
            Date(timeIntervalSince1970: Double(timestampNanoseconds) / 1_000_000_000)
        }

        public init(
            domain: String? = nil, accountHash: String? = nil, stream: String, consumer: String, deliveryCount: Int,
            streamSequence: UInt64, consumerSequence: UInt64, timestampNanoseconds: Int64, pending: UInt64
        ) {
            self.domain = domain
            self.accountHash = accountHash
            self.stream = stream
            self.consumer = consumer
            self.deliveryCount = deliveryCount
            self.streamSequence = streamSequence
            self.consumerSequence = consumerSequence
            self.timestampNanoseconds = timestampNanoseconds
            self.pending = pending
        }

        /// Parses an acknowledgement subject of either form.
        /// - Throws: ``JetStreamError/invalidAckSubject``, naming the subject and what is wrong with it.
        public init(ackSubject subject: String) throws(JetStreamError) {
            let tokens = subject.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            guard tokens.count >= 2, tokens[0] == "$JS", tokens[1] == "ACK" else {
                throw .invalidAckSubject(subject, "it does not start with $JS.ACK")
            }
            // Normalise the old form to the new one: no domain, no account hash.
            let fields: [String]
            switch tokens.count {
            case 9: fields = ["", ""] + tokens[2...]
            case 11...: fields = Array(tokens[2...])
            default: throw .invalidAckSubject(subject, "\(tokens.count) tokens, expected 9 or at least 11")
            }
            guard tokens[2...].allSatisfy({ !$0.isEmpty }) else {
                throw .invalidAckSubject(subject, "an empty token")
            }
            func number<T: FixedWidthInteger>(_ index: Int, _ name: String) throws(JetStreamError) -> T {
                guard let value = T(fields[index]), value >= 0 else {
                    throw .invalidAckSubject(subject, "\(name) \"\(fields[index])\" is not a number")
                }
                return value
            }
            self.domain = fields[0] == "_" || fields[0].isEmpty ? nil : fields[0]
            self.accountHash = fields[1].isEmpty ? nil : fields[1]
            self.stream = fields[2]
            self.consumer = fields[3]
            self.deliveryCount = try number(4, "the delivery count")
            self.streamSequence = try number(5, "the stream sequence")
            self.consumerSequence = try number(6, "the consumer sequence")
            self.timestampNanoseconds = try number(7, "the timestamp")
            self.pending = try number(8, "the pending count")
        }
    }
}
