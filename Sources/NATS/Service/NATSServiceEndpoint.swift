import NIOCore

/// One endpoint of a NATS service: a subject in a queue group and the handler that answers it.
public struct NATSServiceEndpoint: Sendable {
    /// What a handler answers.
    public enum Reply: Sendable {
        case success(ByteBuffer)
        /// An error reply: empty body, `Nats-Service-Error` and `Nats-Service-Error-Code` headers.
        case error(code: Int, description: String)
    }

    public let name: String
    public let subject: String
    public let queueGroup: String
    public let handler: @Sendable (NATSMessage) async -> Reply

    public init(
        name: String, subject: String, queueGroup: String = "q",
        handler: @escaping @Sendable (NATSMessage) async -> Reply
    ) {
        self.name = name
        self.subject = subject
        self.queueGroup = queueGroup
        self.handler = handler
    }
}
