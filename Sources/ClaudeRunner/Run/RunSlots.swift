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
    /// - Throws: ``RunnerError`` `.unavailable` at once when the line of waiting runs is full;
    ///   `CancellationError` when cancelled while waiting.
    public func withSlot<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        try await acquire()
        defer { release() }
        return try await body()
    }

    func acquire() async throws {
        enum Decision { case run, wait(Int), refuse(Int, Int) }
        let decision: Decision = state.withLock { state in
            if state.running < capacity {
                state.running += 1
                return .run
            }
            guard state.waiting.count < maxWaiting else { return .refuse(state.running, state.waiting.count) }
            state.nextTicket += 1
            return .wait(state.nextTicket)
        }
        switch decision {
        case .run:
            return
        case .refuse(let running, let waiting):
            throw RunnerError.unavailable(
                "runner is busy: \(running) runs in progress and \(waiting) waiting (limits.maxQueuedRuns); retry later"
            )
        case .wait(let ticket):
            try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                    let cancelledAlready = state.withLock { state in
                        if state.cancelled.remove(ticket) != nil { return true }
                        state.waiting.append((ticket, continuation))
                        return false
                    }
                    if cancelledAlready { continuation.resume(throwing: CancellationError()) }
                }
            } onCancel: {
                let continuation: CheckedContinuation<Void, any Error>? = state.withLock { state in
                    if let index = state.waiting.firstIndex(where: { $0.ticket == ticket }) {
                        return state.waiting.remove(at: index).continuation
                    }
                    state.cancelled.insert(ticket)
                    return nil
                }
                continuation?.resume(throwing: CancellationError())
            }
        }
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
