import NIOCore

/// A message delivered by a pull consumer, with the acknowledgements that settle it.
///
/// The fire-and-forget acknowledgements (``ack()``, ``inProgress()``, ``nak(delay:)``, ``term()``) are lost if
/// the connection drops before they reach the server; the message then comes back after the consumer's ack
/// wait. Where that matters (the last acknowledgement of a task), ``sendConfirmed(_:)`` or ``ackSync()`` waits for
/// the server to say it received it.
public struct JetStreamMessage: Sendable {
    /// The subject the message was published to.
    public let subject: String
    /// The headers it was published with (including `Nats-Msg-Id`).
    public let headers: NATSHeaders?
    public let payload: ByteBuffer
    /// The acknowledgement subject (`$JS.ACK.…`) the metadata comes from.
    public let replyTo: String
    /// Stream, consumer, delivery count and sequences, from ``replyTo``.
    public let metadata: Metadata
    let jetStream: JetStream

    /// Wraps a delivered message; its reply subject must be a JetStream acknowledgement subject.
    /// - Throws: ``JetStreamError/invalidAckSubject`` otherwise.
    public init(_ message: NATSMessage, jetStream: JetStream) throws(JetStreamError) {
        guard let replyTo = message.replyTo else {
            throw .invalidAckSubject(nil, "a JetStream message needs one to be acknowledged")
        }
        self.subject = message.subject
        self.headers = message.headers
        self.payload = message.payload
        self.replyTo = replyTo
        self.metadata = try Metadata(ackSubject: replyTo)
        self.jetStream = jetStream
    }

    /// The `Nats-Msg-Id` the message was published with.
    public var messageID: String? { headers?[JetStream.messageIDHeader] }

    /// `+ACK`: done; the message is not delivered again.
    public func ack() throws { try send(.ack) }

    /// `+WPI`: still working; restarts the ack wait. Send it more often than the consumer's ack wait.
    public func inProgress() throws { try send(.inProgress) }

    /// `-NAK`: deliver it again, at once or after `delay`.
    public func nak(delay: Duration? = nil) throws { try send(.nak(delay: delay)) }

    /// `+TERM`: never deliver it again.
    public func term() throws { try send(.term) }

    /// `+ACK`, waiting until the server confirms it received it.
    public func ackSync() async throws { try await sendConfirmed(.ack) }

    /// Sends an acknowledgement without waiting.
    /// - Throws: ``NATSError`` when the client is closed or cannot buffer it.
    public func send(_ acknowledgement: JetStreamAck) throws {
        try jetStream.client.publish(ByteBuffer(string: acknowledgement.payload), to: replyTo)
    }

    /// Sends an acknowledgement as a request and waits (up to the JetStream timeout) for the server's empty
    /// reply: when this returns, the server has processed it.
    /// - Throws: ``JetStreamError/timeout`` when no confirmation came (the acknowledgement may or may not have
    ///   landed: send it again, that is harmless), ``JetStreamError/acknowledgementNotReceived`` when nobody
    ///   listens on the subject (the consumer is gone).
    public func sendConfirmed(_ acknowledgement: JetStreamAck) async throws {
        do {
            _ = try await jetStream.client.request(
                ByteBuffer(string: acknowledgement.payload), to: replyTo, timeout: jetStream.timeout)
        } catch let error as NATSError where error.kind == .noResponders {
            throw JetStreamError.acknowledgementNotReceived(replyTo)
        } catch let error as NATSError where error.kind == .timeout {
            throw JetStreamError.timeout(
                "the acknowledgement \(acknowledgement) on \(replyTo)", after: jetStream.timeout)
        }
    }
}
