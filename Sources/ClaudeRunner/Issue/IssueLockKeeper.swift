import Synchronization

/// The lock of a running attempt: its heartbeat while the attempt runs, and its release, exactly once. A
/// heartbeat never writes the lock back after the release (both happen under one lock).
final class IssueLockKeeper: Sendable {
    let workspace: IssueWorkspace
    let attemptID: String
    private let released = Mutex(false)

    init(workspace: IssueWorkspace, attemptID: String) {
        self.workspace = workspace
        self.attemptID = attemptID
    }

    var isReleased: Bool { released.withLock { $0 } }

    func beat() {
        released.withLock { released in
            if !released { workspace.heartbeat(attemptID: attemptID) }
        }
    }

    func release() {
        released.withLock { released in
            guard !released else { return }
            released = true
            workspace.releaseLock(attemptID: attemptID)
        }
    }

    /// Rewrites `heartbeat_at` every `interval` until the lock is released.
    func keepAlive(interval: Duration) async {
        var next = ContinuousClock.now + interval
        while !isReleased {
            // Short sleeps: a cancelled long sleep keeps its timer until its deadline on this runtime.
            try? await Task.sleep(for: min(.milliseconds(500), max(next - .now, .milliseconds(10))))
            if Task.isCancelled { return }
            if ContinuousClock.now >= next {
                beat()
                next = .now + interval
            }
        }
    }
}
