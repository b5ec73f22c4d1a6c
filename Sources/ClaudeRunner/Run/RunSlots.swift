import Synchronization

/// How many Claude runs may go at once (`limits.maxConcurrentRuns`), with a bounded line of runs waiting
/// for a slot (`limits.maxQueuedRuns`, counting waiting runs only). A run that would make the line too long
/// is refused at once, never left hanging.
public final class RunSlots: Sendable {
    public let capacity: Int
    public let maxWaiting: Int
    private let state: Mutex<State>

    struct State {
        var running = 0
        var nextTicket = 0
        var waiting: [(ticket: Int, continuation: CheckedContinuation<Void, any Error>)] = []
        var cancelled: Set<Int> = []
    }

    public init(capacity: Int, maxWaiting: Int) {
        self.capacity = max(capacity, 1)
        self.maxWaiting = max(maxWaiting, 0)
        self.state = Mutex(State())
    }

    /// Runs in progress and runs waiting.
    public var counts: (running: Int, waiting: Int) { state.withLock { ($0.running, $0.waiting.count) } }

    /// Whether a new run would be accepted (to refuse issue work before claiming it).
    public var hasRoom: Bool { state.withLock { $0.running < capacity || $0.waiting.count < maxWaiting } }

    /// Runs `body` holding a slot, waiting for one if needed.
    /// - Parameter onWait: Called with the run's place in line (1 = next) when it has to wait.
    /// - Throws: ``RunnerError`` `.unavailable` at once when the line of waiting runs is full;
    ///   `CancellationError` when cancelled while waiting.
    public func withSlot<T: Sendable>(
        onWait: @Sendable (Int) -> Void = { _ in }, _ body: () async throws -> T
    ) async throws -> T {
        try await acquire(onWait: onWait)
        defer { release() }
        return try await body()
    }

    func acquire(onWait: @Sendable (Int) -> Void = { _ in }) async throws {
        // A free slot and nobody in line: taken without suspending.
        try Task.checkCancellation()
        let taken = state.withLock { state in
            guard state.running < capacity, state.waiting.isEmpty else { return false }
            state.running += 1
            return true
        }
        if taken { return }
        let ticket = state.withLock { state -> Int in
            state.nextTicket += 1
            return state.nextTicket
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                // One decision under one lock: run now, refuse, or wait in line. (Deciding and enqueueing
                // under two locks could miss a release in between and wait with a free slot.)
                enum Decision { case run, wait(Int), refuse(Int, Int), cancelled }
                let decision: Decision = state.withLock { state in
                    if state.cancelled.remove(ticket) != nil { return .cancelled }
                    if state.running < capacity {
                        state.running += 1
                        return .run
                    }
                    guard state.waiting.count < maxWaiting else { return .refuse(state.running, state.waiting.count) }
                    state.waiting.append((ticket, continuation))
                    return .wait(state.waiting.count)
                }
                switch decision {
                case .run: continuation.resume()
                case .wait(let position): onWait(position)
                case .cancelled: continuation.resume(throwing: CancellationError())
                case .refuse(let running, let waiting):
                    continuation.resume(
                        throwing: RunnerError.unavailable(
                            "runner is busy: \(running) runs in progress and \(waiting) waiting (limits.maxQueuedRuns); retry later"
                        ))
                }
            }
        } onCancel: {
            let continuation: CheckedContinuation<Void, any Error>? = state.withLock { state in
                if let index = state.waiting.firstIndex(where: { $0.ticket == ticket }) {
                    return state.waiting.remove(at: index).continuation
                }
                // Not in line (yet, or any more): the decision above will see this, or it already ran.
                state.cancelled.insert(ticket)
                return nil
            }
            continuation?.resume(throwing: CancellationError())
        }
        state.withLock { _ = $0.cancelled.remove(ticket) }
    }

    func release() {
        let next: CheckedContinuation<Void, any Error>? = state.withLock { state in
            if state.waiting.isEmpty {
                state.running -= 1
                return nil
            }
            // The slot passes straight to the first waiting run.
            return state.waiting.removeFirst().continuation
        }
        next?.resume()
    }
}
