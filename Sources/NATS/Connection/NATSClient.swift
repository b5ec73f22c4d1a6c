import Foundation
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// A NATS client on SwiftNIO: publish, subscribe (with queue groups), request/reply over one wildcard inbox
/// subscription, automatic reconnect with re-subscription, and a clean close.
///
/// It is a `Service`: ``run()`` keeps the connection up (reconnecting with backoff and jitter when the
/// server goes away) until graceful shutdown or ``close()``. Publishing and subscribing work while
/// disconnected: subscriptions are re-sent on every (re)connect and publishes are buffered up to
/// ``NATSClientOptions/reconnectBufferBytes``.
public final class NATSClient: Service, Sendable {
    public let options: NATSClientOptions
    let logger: Logger
    let inboxPrefix: String
    private let state: Mutex<ClientState>

    public init(options: NATSClientOptions, logger: Logger) {
        self.options = options
        self.logger = logger
        self.inboxPrefix = "\(options.inboxPrefix).\(NUID.next())"
        self.state = Mutex(
            ClientState(
                machine: NATSConnectionStateMachine(
                    reconnectWait: options.reconnectWait, maxReconnectWait: options.maxReconnectWait)))
    }

    // MARK: State

    struct Subscription {
        let subject: String
        let queueGroup: String?
        let continuation: AsyncStream<NATSMessage>.Continuation
    }

    enum PendingReply {
        case waiting(CheckedContinuation<NATSMessage, any Error>?)
        case arrived(NATSMessage)
        case cancelled
    }

    struct ClientState {
        var machine: NATSConnectionStateMachine
        var channel: (any Channel)?
        var serverInfo: ServerInfo?
        var subscriptions: [UInt64: Subscription] = [:]
        var nextSID: UInt64 = 1
        var connectionCount = 0
        var inboxSID: UInt64?
        var replies: [String: PendingReply] = [:]
        var nextReplyID: UInt64 = 0
        var buffered: [ClientOperation] = []
        var bufferedBytes = 0
        /// In PING order; a timed-out flush keeps its place (with no continuation) so that PONGs still match.
        var pongWaiters: [(id: Int, continuation: CheckedContinuation<Void, any Error>?)] = []
        var nextPongWaiter = 0
        var cancelledPongWaiters: Set<Int> = []
        var pingsOutstanding = 0
        var lastError: NATSError?
    }

    /// Whether a connection is up now.
    public var isConnected: Bool { state.withLock { $0.channel != nil } }

    /// How many times the connection was made again after it had been up (for a reconnects metric).
    public var reconnectCount: Int { state.withLock { max(0, $0.connectionCount - 1) } }

    /// Subscriptions open now (the request inbox not counted); tests check that nothing leaks.
    var subscriptionCount: Int { state.withLock { $0.subscriptions.count } }

    /// The INFO of the current (or last) server.
    public var serverInfo: ServerInfo? { state.withLock { $0.serverInfo } }

    /// Why the last connection attempt failed, if it did.
    public var lastError: NATSError? { state.withLock { $0.lastError } }

    // MARK: Service

    public func run() async throws {
        await withGracefulShutdownHandler {
            await connectionLoop()
        } onGracefulShutdown: {
            self.shutDown()
        }
    }

    /// Flushes what was published (best effort, briefly) and closes the connection; ``run()`` returns.
    public func close() async {
        if isConnected { try? await flush(timeout: .seconds(2)) }
        shutDown()
    }

    /// Waits until connected; throws the reason of the last failure when that takes longer than `timeout`.
    public func waitUntilConnected(timeout: Duration) async throws {
        let deadline = ContinuousClock.now + timeout
        while true {
            let (connected, closing, lastError) = state.withLock {
                ($0.channel != nil, $0.machine.isClosing, $0.lastError)
            }
            if connected { return }
            if closing { throw NATSError.closed }
            if ContinuousClock.now >= deadline {
                throw lastError
                    ?? NATSError(.connectionFailed, "could not connect to \(options.url) within \(timeout)")
            }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    // MARK: Publish / subscribe / request

    /// Publishes `payload` to `subject`.
    /// - Throws: ``NATSError`` when closed, when the payload is larger than the server allows, or when
    ///   disconnected and the reconnect buffer is full.
    public func publish(
        _ payload: ByteBuffer, to subject: String, replyTo: String? = nil, headers: NATSHeaders? = nil
    ) throws {
        try ClientOperation.validateSubject(subject)
        // Checked here: an operation that fails to encode in the pipeline would be lost without a word.
        if let replyTo { try ClientOperation.validateSubject(replyTo) }
        try headers?.validateForEncoding()
        let operation = ClientOperation.publish(subject: subject, replyTo: replyTo, headers: headers, payload: payload)
        let channel: (any Channel)? = try state.withLock { state in
            guard !state.machine.isClosing else { throw NATSError.closed }
            let headerBytes =
                headers.map { $0.fields.reduce(12) { $0 + $1.name.utf8.count + $1.value.utf8.count + 4 } } ?? 0
            if let info = state.serverInfo, payload.readableBytes + headerBytes > info.maxPayload {
                throw NATSError(.protocolError, "nats: maximum payload exceeded (\(info.maxPayload) bytes)")
            }
            if let channel = state.channel { return channel }
            let size = payload.readableBytes + subject.utf8.count + 64
            guard state.bufferedBytes + size <= options.reconnectBufferBytes else {
                throw NATSError(.notConnected, "nats: not connected and the reconnect buffer is full")
            }
            state.buffered.append(operation)
            state.bufferedBytes += size
            return nil
        }
        channel?.writeAndFlush(operation, promise: nil)
    }

    /// A fresh, unique subject under `_INBOX.`, for replies or progress a caller subscribes to itself.
    public static func newInbox() -> String {
        "_INBOX.\(NUID.next())"
    }

    /// Subscribes to `subject`, in `queueGroup` when given. Messages arrive on the returned sequence until
    /// ``NATSSubscription/unsubscribe()`` or close.
    public func subscribe(to subject: String, queueGroup: String? = nil) throws -> NATSSubscription {
        try ClientOperation.validateSubject(subject)
        if let queueGroup { try ClientOperation.validateSubject(queueGroup) }
        let (stream, continuation) = AsyncStream<NATSMessage>.makeStream()
        let (sid, channel): (UInt64, (any Channel)?) = try state.withLock { state in
            guard !state.machine.isClosing else { throw NATSError.closed }
            let sid = state.nextSID
            state.nextSID += 1
            state.subscriptions[sid] = Subscription(
                subject: subject, queueGroup: queueGroup, continuation: continuation)
            return (sid, state.channel)
        }
        channel?.writeAndFlush(
            ClientOperation.subscribe(subject: subject, queueGroup: queueGroup, sid: sid), promise: nil)
        return NATSSubscription(sid: sid, subject: subject, messages: stream, client: self)
    }

    func unsubscribe(sid: UInt64) {
        let (subscription, channel) = state.withLock { state in
            (state.subscriptions.removeValue(forKey: sid), state.channel)
        }
        guard let subscription else { return }
        channel?.writeAndFlush(ClientOperation.unsubscribe(sid: sid, max: nil), promise: nil)
        subscription.continuation.finish()
    }

    /// Sends a request and waits for the first reply.
    /// - Throws: ``NATSError`` `.noResponders` when nobody listens on `subject`, `.timeout` after `timeout`.
    public func request(
        _ payload: ByteBuffer, to subject: String, headers: NATSHeaders? = nil, timeout: Duration
    ) async throws -> NATSMessage {
        let (token, newInbox, channel): (String, UInt64?, (any Channel)?) = try state.withLock { state in
            guard !state.machine.isClosing else { throw NATSError.closed }
            var newInbox: UInt64?
            if state.inboxSID == nil {
                let sid = state.nextSID
                state.nextSID += 1
                state.inboxSID = sid
                newInbox = sid
            }
            state.nextReplyID += 1
            let token = String(state.nextReplyID)
            state.replies[token] = .waiting(nil)
            return (token, newInbox, state.channel)
        }
        if let newInbox {
            channel?.writeAndFlush(ClientOperation.subscribe(subject: "\(inboxPrefix).*", sid: newInbox), promise: nil)
        }
        defer { _ = state.withLock { $0.replies.removeValue(forKey: token) } }
        try publish(payload, to: subject, replyTo: "\(inboxPrefix).\(token)", headers: headers)
        let reply = try await withThrowingTaskGroup(of: NATSMessage.self) { group in
            group.addTask { try await self.awaitReply(token) }
            group.addTask {
                // In short slices: a cancelled sleep's timer stays queued until its deadline on this runtime.
                let deadline = ContinuousClock.now + timeout
                while ContinuousClock.now < deadline {
                    try await Task.sleep(until: min(deadline, .now + .seconds(1)), clock: .continuous)
                }
                throw NATSError.timeout
            }
            defer { group.cancelAll() }
            guard let first = try await group.next() else { throw NATSError.timeout }
            return first
        }
        if reply.isNoResponders { throw NATSError.noResponders }
        return reply
    }

    private func awaitReply(_ token: String) async throws -> NATSMessage {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                enum Outcome { case wait, ready(NATSMessage), cancelled }
                let outcome: Outcome = state.withLock { state in
                    switch state.replies[token] {
                    case .arrived(let message):
                        state.replies[token] = nil
                        return .ready(message)
                    case .cancelled, nil:
                        return .cancelled
                    case .waiting:
                        state.replies[token] = .waiting(continuation)
                        return .wait
                    }
                }
                switch outcome {
                case .wait: break
                case .ready(let message): continuation.resume(returning: message)
                case .cancelled: continuation.resume(throwing: CancellationError())
                }
            }
        } onCancel: {
            let waiting: CheckedContinuation<NATSMessage, any Error>? = state.withLock { state in
                guard case .waiting(let continuation) = state.replies[token] else { return nil }
                state.replies[token] = .cancelled
                return continuation
            }
            waiting?.resume(throwing: CancellationError())
        }
    }

    /// Sends PING and waits for the PONG: everything sent before has been processed by the server.
    /// - Throws: ``NATSError`` `.timeout` after `timeout`, `.notConnected` when there is no connection.
    public func flush(timeout: Duration = .seconds(5)) async throws {
        let channel = state.withLock { $0.channel }
        guard let channel else { throw NATSError(.notConnected, "nats: not connected") }
        let waiter = state.withLock { state -> Int in
            state.nextPongWaiter += 1
            return state.nextPongWaiter
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await withTaskCancellationHandler {
                    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                        let cancelled = self.state.withLock { state in
                            if state.cancelledPongWaiters.remove(waiter) != nil { return true }
                            state.pongWaiters.append((waiter, continuation))
                            return false
                        }
                        if cancelled {
                            continuation.resume(throwing: CancellationError())
                        } else {
                            channel.writeAndFlush(ClientOperation.ping, promise: nil)
                        }
                    }
                } onCancel: {
                    // A timed-out flush leaves no waiter behind.
                    let continuation = self.state.withLock { state -> CheckedContinuation<Void, any Error>? in
                        if let index = state.pongWaiters.firstIndex(where: { $0.id == waiter }) {
                            defer { state.pongWaiters[index].continuation = nil }
                            return state.pongWaiters[index].continuation
                        }
                        state.cancelledPongWaiters.insert(waiter)
                        return nil
                    }
                    continuation?.resume(throwing: CancellationError())
                }
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                throw NATSError.timeout
            }
            defer { group.cancelAll() }
            try await group.next()
        }
        state.withLock { _ = $0.cancelledPongWaiters.remove(waiter) }
    }

    // MARK: Connection loop

    private func connectionLoop() async {
        while true {
            let action = state.withLock { $0.machine.start() }
            guard action == .connect else { break }
            var failure: NATSError?
            do {
                try await connectAndServe()
            } catch let error as NATSError {
                failure = error
            } catch {
                failure = NATSError(.connectionFailed, "\(options.url): \(NATSTLS.describe(error))")
            }
            let (next, closing) = state.withLock { state in
                state.channel = nil
                if let failure { state.lastError = failure }
                return (state.machine.disconnected(failure: failure?.description), state.machine.isClosing)
            }
            if closing { break }
            guard case .reconnect(let delay, let log) = next else { break }
            if log {
                if let failure {
                    let level: Logger.Level = failure.kind == .authorization || failure.kind == .tls ? .error : .warning
                    logger.log(
                        level: level, "NATS connection failed; retrying",
                        metadata: ["nats.url": "\(options.url)", "error": "\(failure)", "retry_in": "\(delay)"])
                } else {
                    logger.warning(
                        "NATS connection lost; reconnecting",
                        metadata: ["nats.url": "\(options.url)", "retry_in": "\(delay)"])
                }
            }
            // Sleep in slices so that close() is noticed promptly.
            let wakeAt = ContinuousClock.now + delay
            while ContinuousClock.now < wakeAt, !state.withLock({ $0.machine.isClosing }) {
                try? await Task.sleep(for: min(.milliseconds(100), wakeAt - .now))
                if Task.isCancelled { shutDown() }
            }
        }
        finishAll()
        logger.debug("NATS client stopped", metadata: ["nats.url": "\(options.url)"])
    }

    /// One connection: open, handshake, serve until it ends.
    private func connectAndServe() async throws {
        let connector = NATSConnector(
            url: options.url, tlsConfiguration: options.tlsConfiguration, connectTimeout: options.connectTimeout,
            maxPayload: 64 << 20)
        let connection: NATSConnector.Connection
        do {
            connection = try await connector.connect()
        } catch let error as NATSError {
            throw error
        } catch {
            throw NATSError(.connectionFailed, "\(options.url): \(NATSTLS.describe(error))")
        }
        let channel = connection.channel
        var iterator = connection.operations.makeAsyncIterator()
        do {
            try await handshake(channel, &iterator, connector: connector, alreadyTLS: connection.isTLS)
        } catch {
            channel.close(promise: nil)
            throw error
        }
        try await serve(channel, &iterator)
    }

    private func handshake(
        _ channel: any Channel, _ iterator: inout AsyncThrowingStream<ServerOperation, any Error>.AsyncIterator,
        connector: NATSConnector, alreadyTLS: Bool
    ) async throws {
        // The whole handshake has the connect timeout: a server that says nothing is dropped.
        let timeout = channel.eventLoop.scheduleTask(
            in: .nanoseconds(Int64(options.connectTimeout.components.seconds) * 1_000_000_000)
        ) {
            channel.close(promise: nil)
        }
        defer { timeout.cancel() }

        guard case .info(let info) = try await nextOperation(&iterator, during: "waiting for the server's INFO") else {
            throw NATSError(.protocolError, "\(options.url): the server did not start with INFO")
        }
        var tls = alreadyTLS
        if options.url.scheme == .tls || (options.url.scheme == .nats && info.tlsRequired) {
            try await connector.upgradeToTLS(channel)
            tls = true
        } else if info.tlsRequired && !tls {
            throw NATSError(.tls, "\(options.url): the server requires TLS; use a wss:// URL")
        }

        var connect = ConnectOptions(
            tlsRequired: tls, name: options.name, version: "1.0.0", headers: true, noResponders: true,
            echo: options.echo, user: options.url.user, pass: options.url.password, authToken: options.url.token)
        if let credentials = options.credentials {
            guard let nonce = info.nonce else {
                throw NATSError(.authorization, "\(options.url): the server sent no nonce to sign for the credentials")
            }
            connect.jwt = credentials.jwt
            connect.sig = try credentials.sign(nonce: nonce)
        } else if let nkey = options.nkey {
            guard let nonce = info.nonce else {
                throw NATSError(.authorization, "\(options.url): the server sent no nonce to sign for the nkey")
            }
            connect.nkey = nkey.publicKey
            connect.sig = try nkey.sign(nonce: nonce)
        }
        channel.write(ClientOperation.connect(connect), promise: nil)
        channel.writeAndFlush(ClientOperation.ping, promise: nil)

        while true {
            switch try await nextOperation(&iterator, during: tls ? "the TLS handshake or login" : "login") {
            case .pong:
                state.withLock { $0.serverInfo = info }
                return
            case .error(let message):
                throw Self.serverError(message, url: options.url)
            case .ping:
                channel.writeAndFlush(ClientOperation.pong, promise: nil)
            case .info(let update):
                state.withLock { $0.serverInfo = update }
            case .ok, .message:
                continue
            }
        }
    }

    private func nextOperation(
        _ iterator: inout AsyncThrowingStream<ServerOperation, any Error>.AsyncIterator, during phase: String
    ) async throws -> ServerOperation {
        do {
            guard let operation = try await iterator.next() else {
                throw NATSError(.connectionFailed, "\(options.url): connection closed during \(phase)")
            }
            return operation
        } catch let error as NATSError {
            throw error
        } catch {
            let description = NATSTLS.describe(error)
            let kind: NATSError.Kind = description.hasPrefix("TLS") ? .tls : .connectionFailed
            throw NATSError(kind, "\(options.url): \(description)")
        }
    }

    static func serverError(_ message: String, url: NATSServerURL) -> NATSError {
        let lowered = message.lowercased()
        if lowered.contains("authorization") || lowered.contains("authentication") || lowered.contains("user") {
            return NATSError(
                .authorization, "\(url): authorization violation: the server refused the login (\(message))")
        }
        return NATSError(.serverError, "\(url): server error: \(message)")
    }

    /// Serves an established connection until it closes.
    private func serve(
        _ channel: any Channel, _ iterator: inout AsyncThrowingStream<ServerOperation, any Error>.AsyncIterator
    ) async throws {
        // Connected: re-send subscriptions and buffered publishes before anything new.
        let ready: Bool = state.withLock { state in
            guard state.machine.connected() == .resubscribeAndFlush else { return false }
            for (sid, subscription) in state.subscriptions.sorted(by: { $0.key < $1.key }) {
                channel.write(
                    ClientOperation.subscribe(
                        subject: subscription.subject, queueGroup: subscription.queueGroup, sid: sid),
                    promise: nil)
            }
            if let inbox = state.inboxSID {
                channel.write(ClientOperation.subscribe(subject: "\(inboxPrefix).*", sid: inbox), promise: nil)
            }
            for operation in state.buffered { channel.write(operation, promise: nil) }
            state.buffered.removeAll()
            state.bufferedBytes = 0
            state.pingsOutstanding = 0
            state.lastError = nil
            state.channel = channel
            state.connectionCount += 1
            return true
        }
        guard ready else {
            channel.close(promise: nil)
            return
        }
        channel.flush()
        logger.info(
            "NATS connected",
            metadata: [
                "nats.url": "\(options.url)", "nats.server": "\(serverInfo?.serverName ?? serverInfo?.serverID ?? "")",
            ])

        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await self.keepAlive(channel) }
            defer { group.cancelAll() }
            while true {
                let operation: ServerOperation?
                do {
                    operation = try await iterator.next()
                } catch {
                    throw NATSError(.connectionFailed, "\(options.url): \(NATSTLS.describe(error))")
                }
                guard let operation else { break }
                handle(operation, channel: channel)
            }
        }
        channel.close(promise: nil)
        failPongWaiters(NATSError(.notConnected, "nats: connection lost"))
    }

    private func handle(_ operation: ServerOperation, channel: any Channel) {
        switch operation {
        case .message(let message):
            deliver(message)
        case .ping:
            channel.writeAndFlush(ClientOperation.pong, promise: nil)
        case .pong:
            let waiter: CheckedContinuation<Void, any Error>? = state.withLock { state in
                state.pingsOutstanding = 0
                return state.pongWaiters.isEmpty ? nil : state.pongWaiters.removeFirst().continuation
            }
            waiter?.resume()
        case .info(let info):
            state.withLock { $0.serverInfo = info }
            if info.lameDuckMode {
                logger.info("NATS server entering lame duck mode", metadata: ["nats.url": "\(options.url)"])
            }
        case .error(let message):
            let error = Self.serverError(message, url: options.url)
            state.withLock { $0.lastError = error }
            logger.error("NATS server error", metadata: ["nats.url": "\(options.url)", "error": "\(error)"])
        case .ok:
            break
        }
    }

    private func deliver(_ message: NATSMessage) {
        enum Target {
            case reply(CheckedContinuation<NATSMessage, any Error>)
            case subscription(AsyncStream<NATSMessage>.Continuation)
            case none
        }
        let target: Target = state.withLock { state in
            if message.sid == state.inboxSID {
                let token = String(message.subject.dropFirst(inboxPrefix.count + 1))
                switch state.replies[token] {
                case .waiting(let continuation?):
                    state.replies[token] = nil
                    return .reply(continuation)
                case .waiting(nil):
                    state.replies[token] = .arrived(message)
                    return .none
                default:
                    return .none
                }
            }
            return state.subscriptions[message.sid].map { .subscription($0.continuation) } ?? .none
        }
        switch target {
        case .reply(let continuation): continuation.resume(returning: message)
        case .subscription(let continuation): continuation.yield(message)
        case .none: break
        }
    }

    /// Sends PING every ping interval; closes the connection when too many go unanswered.
    private func keepAlive(_ channel: any Channel) async throws {
        while true {
            try await Task.sleep(for: options.pingInterval)
            let outstanding = state.withLock { state in
                state.pingsOutstanding += 1
                return state.pingsOutstanding
            }
            if outstanding > options.maxPingsOutstanding {
                logger.warning(
                    "NATS server stopped answering PINGs; reconnecting", metadata: ["nats.url": "\(options.url)"])
                channel.close(promise: nil)
                return
            }
            channel.writeAndFlush(ClientOperation.ping, promise: nil)
        }
    }

    // MARK: Closing

    private func shutDown() {
        let channel = state.withLock { state -> (any Channel)? in
            _ = state.machine.close()
            return state.channel
        }
        channel?.close(promise: nil)
    }

    private func failPongWaiters(_ error: NATSError) {
        let waiters = state.withLock { state in
            defer { state.pongWaiters.removeAll() }
            return state.pongWaiters
        }
        for waiter in waiters { waiter.continuation?.resume(throwing: error) }
    }

    /// After the loop ends: every subscription ends and every waiter fails.
    private func finishAll() {
        let (subscriptions, replies) = state.withLock { state in
            state.machine.closed()
            state.channel = nil
            defer {
                state.subscriptions.removeAll()
                state.replies.removeAll()
            }
            return (Array(state.subscriptions.values), Array(state.replies.values))
        }
        for subscription in subscriptions { subscription.continuation.finish() }
        for reply in replies {
            if case .waiting(let continuation?) = reply { continuation.resume(throwing: NATSError.closed) }
        }
        failPongWaiters(.closed)
    }
}

/// Messages of one subscription, until it is unsubscribed or the client closes.
public struct NATSSubscription: AsyncSequence, Sendable {
    public typealias Element = NATSMessage

    public let sid: UInt64
    public let subject: String
    let messages: AsyncStream<NATSMessage>
    let client: NATSClient

    public func makeAsyncIterator() -> AsyncStream<NATSMessage>.Iterator {
        messages.makeAsyncIterator()
    }

    /// Stops the subscription; the sequence ends.
    public func unsubscribe() {
        client.unsubscribe(sid: sid)
    }
}
