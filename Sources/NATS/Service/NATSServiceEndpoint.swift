import NIOCore

/// One endpoint of a NATS service: a subject, usually in a queue group, and the handler that answers it.
public struct NATSServiceEndpoint: Sendable {
    /// What a handler answers.
    public enum Reply: Sendable {
        case success(ByteBuffer)
        /// An error reply: empty body, `Nats-Service-Error` and `Nats-Service-Error-Code` headers.
        case error(code: Int, description: String)
        /// No reply at all: for an endpoint every instance receives (no queue group), where only the
        /// instance the request concerns answers and the others stay silent.
        case none
    }

    public let name: String
    public let subject: String
    /// The queue group, or `nil` for an endpoint every instance of the service receives.
    public let queueGroup: String?
    public let handler: @Sendable (NATSMessage) async -> Reply

    public init(
        name: String, subject: String, queueGroup: String? = "q",
        handler: @escaping @Sendable (NATSMessage) async -> Reply
    ) {
        self.name = name
        self.subject = subject
        self.queueGroup = queueGroup
        self.handler = handler
    }
}
