import NIOCore
import NIOPosix
import Synchronization

/// Hands one child's output to its handler away from the process monitor's thread, in order, with
/// back-pressure, once the child has printed more than a little.
///
/// The monitor calls a child's handler itself for its first ``inlineBytes`` (a run that prints a few events
/// costs no thread hop for them). A child that prints more is switched to this queue for the rest of its
/// life: its chunks are handed to a thread pool of its own (``pool``), one drain at a time, so that a
/// handler that takes long (parsing a line of many megabytes) never holds up the other children's pipes,
/// exits and limits. When more
/// than ``pauseBytes`` wait, the monitor stops reading the child's pipes (the child then blocks on a full
/// pipe, as it would with a slow reader) until the drain has taken them: at most about twice that is held.
///
/// The child's end is reported once its output has all been handed over.
final class OutputDelivery: Sendable {
    static let inlineBytes = 64 << 10
    static let pauseBytes = 1 << 20

    /// The threads that run handlers: apart from NIO's shared pool, so that parsing a long run's output never
    /// waits behind, nor holds up, the runner's blocking file work (``BlockingWork``).
    static let pool: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: max(2, System.coreCount))
        pool.start()
        return pool
    }()

    private struct State {
        var queue: [ProcessOutputEvent] = []
        var queuedBytes = 0
        var draining = false
        /// The monitor stopped reading the child's pipes and waits to hear that the queue has gone down.
        var paused = false
        var end: Result<ProcessExit, any Error>?
        var reported = false
    }

    private let state = Mutex(State())
    private let onOutput: @Sendable (ProcessOutputEvent) -> Void
    private let child: MonitoredChild
    /// Called (from the drain) when the monitor may read the child's pipes again.
    private let resume: @Sendable () -> Void

    init(
        child: MonitoredChild, onOutput: @escaping @Sendable (ProcessOutputEvent) -> Void,
        resume: @escaping @Sendable () -> Void
    ) {
        self.child = child
        self.onOutput = onOutput
        self.resume = resume
    }

    /// Queues a chunk; returns whether the monitor should stop reading the child for now.
    func enqueue(_ event: ProcessOutputEvent, size: Int, draining exit: Bool) -> Bool {
        let (startDrain, pause) = state.withLock { state -> (Bool, Bool) in
            state.queue.append(event)
            state.queuedBytes += size
            let start = !state.draining
            state.draining = true
            let pause = !exit && state.queuedBytes > Self.pauseBytes
            if pause { state.paused = true }
            return (start, pause)
        }
        if startDrain { Self.pool.submit { [self] _ in drain() } }
        return pause
    }

    /// The child has ended (or could not start): reported now, or by the drain once the queue is empty.
    func finish(_ end: Result<ProcessExit, any Error>) {
        let report = state.withLock { state -> Bool in
            state.end = end
            guard !state.draining, !state.reported else { return false }
            state.reported = true
            return true
        }
        if report { child.ended(end) }
    }

    /// Hands one batch (everything queued when it starts) to the handler, then gives its thread back: the
    /// next batch is a new job at the end of the pool's queue, so that a child that never stops printing
    /// cannot keep a thread from the other children's output and the runner's other blocking work.
    private func drain() {
        let (batch, resumeNow) = state.withLock { state -> ([ProcessOutputEvent], Bool) in
            let batch = state.queue
            state.queue = []
            state.queuedBytes = 0
            let resumeNow = state.paused
            state.paused = false
            return (batch, resumeNow)
        }
        if resumeNow { resume() }
        for event in batch { onOutput(event) }
        let (more, end) = state.withLock { state -> (Bool, Result<ProcessExit, any Error>?) in
            guard state.queue.isEmpty else { return (true, nil) }
            state.draining = false
            guard let ended = state.end, !state.reported else { return (false, nil) }
            state.reported = true
            return (false, ended)
        }
        if more { Self.pool.submit { [self] _ in drain() } }
        if let end { child.ended(end) }
    }
}
