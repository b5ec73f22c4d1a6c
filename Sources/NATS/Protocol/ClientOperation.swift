import NIOCore

/// An operation sent from the client to a NATS server.
public enum ClientOperation: Hashable, Sendable {
    /// `CONNECT {json}`: the client's options and credentials.
    case connect(ConnectOptions)
    /// `PUB` (or `HPUB` when `headers` is not `nil`): publishes a message.
    case publish(subject: String, replyTo: String? = nil, headers: NATSHeaders? = nil, payload: ByteBuffer)
    /// `SUB <subject> [queue group] <sid>`: subscribes to a subject.
    case subscribe(subject: String, queueGroup: String? = nil, sid: UInt64)
    /// `UNSUB <sid> [max]`: unsubscribes now, or after `max` more messages.
    case unsubscribe(sid: UInt64, max: UInt64? = nil)
    /// `PING`: asks the server for a `PONG`.
    case ping
    /// `PONG`: the answer to a server `PING`.
    case pong

    /// Appends the wire form of the operation to `buffer`.
    ///
    /// Subjects, reply subjects and queue groups are validated first: they must be non-empty and contain no
    /// whitespace or control characters. Nothing is written when this throws.
    ///
    /// - Throws: ``NATSProtocolError`` of kind ``NATSProtocolError/Kind/invalidSubject``,
    ///   ``NATSProtocolError/Kind/invalidHeaders`` or ``NATSProtocolError/Kind/invalidConnectOptions``.
    public func write(into buffer: inout ByteBuffer) throws(NATSProtocolError) {
        switch self {
        case .connect(let options):
            let json = try options.jsonBytes()
            buffer.writeString("CONNECT ")
            buffer.writeBytes(json)
            buffer.writeString("\r\n")

        case .publish(let subject, let replyTo, let headers, let payload):
            try Self.validate(subject, "subject")
            if let replyTo {
                try Self.validate(replyTo, "reply subject")
            }
            let replyPart = replyTo.map { " " + $0 } ?? ""
            if let headers {
                try headers.validateForEncoding()
                var block = ByteBufferAllocator().buffer(capacity: 64)
                try headers.write(into: &block)
                let total = block.readableBytes + payload.readableBytes
                buffer.writeString("HPUB \(subject)\(replyPart) \(block.readableBytes) \(total)\r\n")
                buffer.writeImmutableBuffer(block)
            } else {
                buffer.writeString("PUB \(subject)\(replyPart) \(payload.readableBytes)\r\n")
            }
            buffer.writeImmutableBuffer(payload)
            buffer.writeString("\r\n")

        case .subscribe(let subject, let queueGroup, let sid):
            try Self.validate(subject, "subject")
            if let queueGroup {
                try Self.validate(queueGroup, "queue group")
            }
            let queuePart = queueGroup.map { " " + $0 } ?? ""
            buffer.writeString("SUB \(subject)\(queuePart) \(sid)\r\n")

        case .unsubscribe(let sid, let max):
            let maxPart = max.map { " \($0)" } ?? ""
            buffer.writeString("UNSUB \(sid)\(maxPart)\r\n")

        case .ping:
            buffer.writeString("PING\r\n")

        case .pong:
            buffer.writeString("PONG\r\n")
        }
    }

    /// Checks that a subject-like token is non-empty and has no whitespace or control characters.
    ///
    /// - Throws: ``NATSProtocolError`` of kind ``NATSProtocolError/Kind/invalidSubject``.
    public static func validateSubject(_ subject: String) throws(NATSProtocolError) {
        try Self.validate(subject, "subject")
    }

    private static func validate(_ token: String, _ what: String) throws(NATSProtocolError) {
        guard !token.isEmpty else {
            throw NATSProtocolError(.invalidSubject, "\(what) must not be empty")
        }
        guard !token.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7F }) else {
            throw NATSProtocolError(
                .invalidSubject,
                "\(what) must not contain whitespace or control characters: \(NATSProtocolError.quote(token))"
            )
        }
    }
}
