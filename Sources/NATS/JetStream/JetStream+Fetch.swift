import NIOCore

extension JetStream {
    /// Pulls up to `batch` messages from a pull consumer (`$JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>`).
    ///
    /// The replies come to a fresh `_INBOX.` subject subscribed for this call only and unsubscribed when it
    /// returns, throws or is cancelled. The call returns when `batch` messages arrived, or with what arrived so
    /// far (possibly nothing) when the server says there are no more: status 404 "No Messages" (`noWait`) or 408
    /// "Request Timeout" (after `expires`). Idle heartbeats (status 100) are ignored. Messages the server sends
    /// after a cancelled fetch are lost to this caller and come back after the consumer's ack wait.
    ///
    /// - Parameters:
    ///   - stream: The stream's name.
    ///   - consumer: The pull consumer's name (its durable name for a durable one).
    ///   - batch: The most messages to return.
    ///   - expires: How long the server holds the request open while fewer than `batch` messages are there.
    ///   - noWait: Answer at once with what is there. `expires` is then not sent: nats-server 2.9 would hold a
    ///     no-wait request with an expiry open until it expires.
    /// - Returns: The messages, in delivery order; each is to be acknowledged.
    /// - Throws: ``JetStreamError/timeout`` when nothing at all came back within `expires` plus ``timeout``
    ///   (nats-server says nothing to a pull on a consumer or stream that does not exist);
    ///   ``JetStreamError/pullRejected`` for status 409 ("Exceeded MaxWaiting", "Consumer Deleted", …) when no
    ///   message came before it; ``JetStreamError/notEnabled`` without JetStream; `CancellationError`.
    public func fetch(
        stream: String, consumer: String, batch: Int = 1, expires: Duration = .seconds(30), noWait: Bool = false
    ) async throws -> [JetStreamMessage] {
        try JetStreamAPI.validateName(stream, "stream")
        try JetStreamAPI.validateName(consumer, "consumer")
        guard batch >= 1 else { throw JetStreamError.invalidArgument("a fetch needs a batch of at least 1") }
        guard noWait || expires > .zero else {
            throw JetStreamError.invalidArgument("a fetch that waits needs a positive expires")
        }
        let body = try JetStreamAPI.encode(
            JetStreamAPI.PullRequest(batch: batch, expires: noWait ? nil : expires, noWait: noWait))
        let subject = apiSubject("CONSUMER.MSG.NEXT.\(stream).\(consumer)")
        let inbox = "\(client.options.inboxPrefix).\(NUID.next())"
        let limit = (noWait ? .zero : expires) + timeout

        let subscription = try client.subscribe(to: inbox)
        defer { subscription.unsubscribe() }
        try client.publish(body, to: subject, replyTo: inbox)
        let (messages, end) = await collect(from: subscription, batch: batch, until: .now + limit)
        try Task.checkCancellation()

        switch end {
        case .batchComplete, .noMessages, .requestTimeout:
            return messages
        case .deadline:
            guard messages.isEmpty else { return messages }
            throw JetStreamError.timeout(
                "the pull request for consumer \(consumer) on stream \(stream) (no reply at all: do the stream and "
                    + "the consumer exist?)", after: limit)
        case .rejected(let code, let description):
            guard messages.isEmpty else { return messages }
            throw JetStreamError.pullRejected(stream: stream, consumer: consumer, code: code, description: description)
        case .notEnabled:
            throw JetStreamError.notEnabled(subject)
        case .closed:
            throw NATSError.closed
        case .badMessage(let error):
            throw error
        }
    }

    /// How a fetch ended.
    enum FetchEnd: Hashable {
        case batchComplete
        /// 404 "No Messages".
        case noMessages
        /// 408 "Request Timeout": the request expired.
        case requestTimeout
        /// 409 and other refusals.
        case rejected(code: Int, description: String)
        /// 503: no JetStream behind the API subject.
        case notEnabled
        /// Our own bound passed (or the caller cancelled).
        case deadline
        /// The client closed.
        case closed
        case badMessage(JetStreamError)
    }

    /// What one message on a fetch's inbox means.
    enum PullEvent {
        case message(JetStreamMessage)
        case heartbeat
        case end(FetchEnd)
    }

    func pullEvent(for message: NATSMessage) -> PullEvent {
        if let status = message.statusCode {
            let description = message.statusDescription ?? ""
            switch status {
            case 100: return .heartbeat
            case 404: return .end(.noMessages)
            case 408: return .end(.requestTimeout)
            case NATSMessage.noRespondersStatus: return .end(.notEnabled)
            default: return .end(.rejected(code: status, description: description))
            }
        }
        do {
            return .message(try JetStreamMessage(message, jetStream: self))
        } catch {
            return .end(.badMessage(error))
        }
    }

    private func collect(
        from subscription: NATSSubscription, batch: Int, until deadline: ContinuousClock.Instant
    ) async -> ([JetStreamMessage], FetchEnd) {
        await withTaskGroup(of: ([JetStreamMessage], FetchEnd)?.self) { group in
            group.addTask {
                var messages: [JetStreamMessage] = []
                // Cancellation (our deadline or the caller's) ends the iteration.
                for await message in subscription {
                    switch self.pullEvent(for: message) {
                    case .heartbeat:
                        continue
                    case .message(let delivered):
                        messages.append(delivered)
                        if messages.count >= batch { return (messages, .batchComplete) }
                    case .end(let end):
                        return (messages, end)
                    }
                }
                return (messages, Task.isCancelled ? .deadline : .closed)
            }
            group.addTask {
                // In short slices: a cancelled sleep's timer stays queued until its deadline on this runtime.
                while ContinuousClock.now < deadline, !Task.isCancelled {
                    try? await Task.sleep(until: min(deadline, .now + .seconds(1)), clock: .continuous)
                }
                return nil
            }
            var outcome: ([JetStreamMessage], FetchEnd)?
            for await result in group {
                if let result { outcome = result }
                group.cancelAll()
            }
            return outcome ?? ([], .deadline)
        }
    }
}
