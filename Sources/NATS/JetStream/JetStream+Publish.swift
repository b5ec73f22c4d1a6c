import NIOCore

extension JetStream {
    /// The header that names a message for de-duplication within the stream's duplicate window.
    public static let messageIDHeader = "Nats-Msg-Id"
    /// The header that makes the server refuse the message unless this stream captures the subject.
    public static let expectedStreamHeader = "Nats-Expected-Stream"

    /// Publishes a message and waits for the stream to store it.
    ///
    /// A publish that timed out may still have been stored. With a `messageID` it is safe to publish again:
    /// within the stream's duplicate window the server keeps one copy and answers ``PubAck/duplicate``.
    ///
    /// - Parameters:
    ///   - payload: The message body.
    ///   - subject: A subject some stream captures.
    ///   - headers: Extra headers for the message.
    ///   - messageID: Sent as `Nats-Msg-Id`.
    ///   - expectedStream: Sent as `Nats-Expected-Stream`: the server refuses the message (err_code 10060) when
    ///     another stream captures the subject.
    /// - Returns: The stream and sequence of the stored message.
    /// - Throws: ``JetStreamError/noStreamForSubject`` when no stream captures `subject`; an API error with the
    ///   server's code when the stream refuses the message (a full stream that discards new messages gives
    ///   503/10077); ``JetStreamError/timeout`` after ``timeout``.
    @discardableResult
    public func publish(
        _ payload: ByteBuffer, to subject: String, headers: NATSHeaders? = nil, messageID: String? = nil,
        expectedStream: String? = nil
    ) async throws -> PubAck {
        var headers = headers
        if let messageID {
            guard !messageID.isEmpty else { throw JetStreamError.invalidArgument("the message ID is empty") }
            headers = headers ?? NATSHeaders()
            headers?[Self.messageIDHeader] = messageID
        }
        if let expectedStream {
            try JetStreamAPI.validateName(expectedStream, "expected stream")
            headers = headers ?? NATSHeaders()
            headers?[Self.expectedStreamHeader] = expectedStream
        }
        do {
            try headers?.validateForEncoding()
        } catch {
            throw JetStreamError.invalidArgument("headers for \(subject): \(error)")
        }
        let reply: NATSMessage
        do {
            reply = try await client.request(payload, to: subject, headers: headers, timeout: timeout)
        } catch let error as NATSError where error.kind == .noResponders {
            throw JetStreamError.noStreamForSubject(subject)
        } catch let error as NATSError where error.kind == .timeout {
            throw JetStreamError.timeout("the publish to \(subject)", after: timeout)
        }
        if let status = reply.statusCode {
            throw JetStreamError.badResponse(
                "publishing to \(subject): status \(status) \(reply.statusDescription ?? "") instead of an acknowledgement"
            )
        }
        return try JetStreamAPI.decode(PubAck.self, from: reply.payload, context: "publishing to \(subject)")
    }
}
