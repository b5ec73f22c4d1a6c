import NIOCore

/// A message delivered by the server through `MSG` or `HMSG`.
public struct NATSMessage: Hashable, Sendable {
    /// The status code the server uses to say that a request found no responders.
    public static let noRespondersStatus = 503

    /// The subject the message was published to.
    public var subject: String
    /// The subscription identifier the message was delivered for.
    public var sid: UInt64
    /// The subject to reply to, if any.
    public var replyTo: String?
    /// The headers; `nil` for a message delivered with `MSG`.
    public var headers: NATSHeaders?
    /// The payload bytes.
    public var payload: ByteBuffer

    /// Creates a message.
    public init(
        subject: String,
        sid: UInt64,
        replyTo: String? = nil,
        headers: NATSHeaders? = nil,
        payload: ByteBuffer
    ) {
        self.subject = subject
        self.sid = sid
        self.replyTo = replyTo
        self.headers = headers
        self.payload = payload
    }

    /// The status code from the header status line, such as 503 for no responders.
    public var statusCode: Int? { self.headers?.statusCode }

    /// The status description from the header status line, if any.
    public var statusDescription: String? { self.headers?.statusDescription }

    /// Whether this is the server's "no responders" reply to a request (status 503).
    public var isNoResponders: Bool { self.statusCode == Self.noRespondersStatus }
}
