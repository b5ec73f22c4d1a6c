/// The life of a client connection, as a value that says what to do next.
///
/// `idle → connecting → connected → (disconnected → waiting → connecting …) → closing → closed`. Every
/// transition returns the action the client must take, so the policy (backoff, when to give up, what
/// to log) is testable without a network.
struct NATSConnectionStateMachine: Sendable {
    enum State: Sendable, Equatable {
        case idle
        case connecting(attempt: Int)
        case connected
        case waiting(attempt: Int)
        case closing
        case closed
    }

    enum Action: Sendable, Equatable {
        /// Open a connection now.
        case connect
        /// Re-send subscriptions and buffered publishes on the new connection.
        case resubscribeAndFlush
        /// Wait this long, then connect again; `log` says whether this failure is worth a log line.
        case reconnect(after: Duration, log: Bool)
        /// Stop: the client is closing.
        case stop
    }

    private(set) var state: State = .idle
    /// The last failure seen since the last successful connection (`.none`: none yet).
    private var lastFailure: String??
    private var repeatedFailures = 0
    let reconnectWait: Duration
    let maxReconnectWait: Duration

    init(reconnectWait: Duration, maxReconnectWait: Duration) {
        self.reconnectWait = reconnectWait
        self.maxReconnectWait = maxReconnectWait
    }

    mutating func start() -> Action {
        switch state {
        case .idle, .waiting:
            let attempt = if case .waiting(let attempt) = state { attempt } else { 1 }
            state = .connecting(attempt: attempt)
            return .connect
        case .closing, .closed:
            return .stop
        case .connecting, .connected:
            return .connect
        }
    }

    mutating func connected() -> Action {
        guard case .connecting = state else { return .stop }
        state = .connected
        lastFailure = .none
        repeatedFailures = 0
        return .resubscribeAndFlush
    }

    /// The connection (or the attempt) ended; `failure` describes why.
    mutating func disconnected(failure: String?) -> Action {
        // `failed` counts the attempts that failed in a row; the delay grows with it.
        let failed: Int
        switch state {
        case .closing, .closed:
            state = .closed
            return .stop
        case .connecting(let attempt):
            failed = attempt
        case .connected, .idle, .waiting:
            failed = 1
        }
        state = .waiting(attempt: failed + 1)
        // Log a new kind of failure at once; the same one again only now and then, so a long outage does not
        // flood the log.
        let log: Bool
        if lastFailure != .some(failure) {
            log = true
            repeatedFailures = 0
        } else {
            repeatedFailures += 1
            log = repeatedFailures % 10 == 0
        }
        lastFailure = failure
        return .reconnect(after: delay(attempt: failed), log: log)
    }

    mutating func close() -> Action {
        switch state {
        case .closed: return .stop
        default:
            state = .closing
            return .stop
        }
    }

    mutating func closed() {
        state = .closed
    }

    var isClosing: Bool { state == .closing || state == .closed }

    /// Exponential backoff with ±25 % jitter, capped.
    func delay(attempt: Int) -> Duration {
        let exponent = min(max(attempt - 1, 0), 16)
        let base = min(reconnectWait * (1 << exponent), maxReconnectWait)
        let jitter = Double.random(in: 0.75...1.25)
        return base * jitter
    }
}
