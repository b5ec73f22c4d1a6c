import Synchronization

/// The progress of one run, fanned out to whoever watches it (an HTTP stream, a NATS subject, the issue's
/// tracking comment, the ledger's transcript).
///
/// ``emit(_:)`` never waits: each subscriber has its own bounded buffer, and a subscriber that falls behind
/// loses its oldest progress events rather than slowing the reader of Claude's pipes (which could otherwise
/// stall Claude or trigger a false idle timeout). The final event (`result` or `error`) is never dropped:
/// it is delivered through a buffer slot kept free for it.
///
/// Recent events are kept (up to ``historyLimit`` events) so that a subscriber that arrives late can
/// replay the run from its start before following it live.
public final class RunProgress: Sendable {
    public let runID: String
    public let startedAt: ContinuousClock.Instant
    public static let historyLimit = 2000
    private let state: Mutex<State>

    struct State {
        var subscribers: [Int: AsyncStream<RunEvent>.Continuation] = [:]
        var sinks: [@Sendable (RunEvent) -> Void] = []
        var nextID = 0
        var history: [RunEvent] = []
        var finished = false
    }

    public init(runID: String, startedAt: ContinuousClock.Instant = .now) {
        self.runID = runID
        self.startedAt = startedAt
        self.state = Mutex(State())
    }

    /// Milliseconds since the run began.
    public var elapsedMS: Int {
        let elapsed = ContinuousClock.now - startedAt
        return Int(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)
    }

    /// Sends an event to every subscriber; returns the event as sent.
    @discardableResult
    public func emit(_ payload: RunEvent.Payload) -> RunEvent {
        let event = RunEvent(runID: runID, elapsedMS: elapsedMS, payload: payload)
        // Yield under the lock so every subscriber sees events in one order; finish outside it, because
        // finishing runs the stream's termination handler, which takes the lock.
        let ended: [AsyncStream<RunEvent>.Continuation] = state.withLock { state in
            guard !state.finished else { return [] }
            if state.history.count >= Self.historyLimit {
                state.history.removeFirst(state.history.count / 2)
            }
            state.history.append(event)
            for continuation in state.subscribers.values { continuation.yield(event) }
            for sink in state.sinks { sink(event) }
            guard event.isFinal else { return [] }
            state.finished = true
            state.sinks.removeAll()
            defer { state.subscribers.removeAll() }
            return Array(state.subscribers.values)
        }
        for continuation in ended { continuation.finish() }
        return event
    }

    /// Calls `sink` with every event from now on (from the start with `replay`), in order, on the emitter's
    /// task: a sink must return at once (hand the event to a buffer or a non-blocking write), never wait.
    public func addSink(replay: Bool = false, _ sink: @escaping @Sendable (RunEvent) -> Void) {
        state.withLock { state in
            if replay { for event in state.history { sink(event) } }
            if !state.finished { state.sinks.append(sink) }
        }
    }

    /// The events sent so far (as many as are kept, see ``historyLimit``), oldest first.
    public var eventsSoFar: [RunEvent] { state.withLock { $0.history } }

    /// Whether the final event has been sent.
    public var isFinished: Bool { state.withLock { $0.finished } }

    /// A stream of this run's events from now on (or from its start with `replay`), ending after the final
    /// event. Cancelling the consumer's iteration unsubscribes.
    /// - Parameters:
    ///   - replay: Start with the events sent so far (as many as are kept).
    ///   - bufferSize: Progress events kept for a slow consumer; older ones are dropped beyond it.
    public func subscribe(replay: Bool = false, bufferSize: Int = 256) -> AsyncStream<RunEvent> {
        let size = max(bufferSize, 2) + (replay ? Self.historyLimit : 0)
        let (stream, continuation) = AsyncStream.makeStream(of: RunEvent.self, bufferingPolicy: .bufferingNewest(size))
        let id = state.withLock { state in
            defer { state.nextID += 1 }
            return state.nextID
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.state.withLock { $0.subscribers.removeValue(forKey: id) }
        }
        let finished = state.withLock { state in
            // The backlog is yielded under the lock, so no live event can overtake it.
            if replay {
                for event in state.history { continuation.yield(event) }
            } else if state.finished, let last = state.history.last {
                // A late subscriber of a finished run still gets the final event.
                continuation.yield(last)
            }
            if !state.finished { state.subscribers[id] = continuation }
            return state.finished
        }
        if finished { continuation.finish() }
        return stream
    }
}
