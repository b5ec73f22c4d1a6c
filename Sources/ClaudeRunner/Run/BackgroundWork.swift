import Logging
import ServiceLifecycle
import Synchronization

/// Runs background issue work and, on graceful shutdown, stops taking new work and waits for what is in
/// flight, up to ``shutdownGrace``; after that the remaining work is cancelled (its runs are stopped and
/// recorded as interrupted).
public final class BackgroundWork: Service, IssueScheduler {
    private let stream: AsyncStream<@Sendable () async -> Void>
    private let continuation: AsyncStream<@Sendable () async -> Void>.Continuation
    private let accepting = Mutex(true)
    private let shutdownRequested = Mutex(false)
    private let inFlight = Mutex(0)
    private let shutdownGrace: Duration
    private let logger: Logger

    public init(shutdownGrace: Duration, logger: Logger) {
        (self.stream, self.continuation) = AsyncStream.makeStream()
        self.shutdownGrace = shutdownGrace
        self.logger = logger
    }

    public var isAccepting: Bool { accepting.withLock { $0 } }

    /// Whether a graceful shutdown (SIGTERM/SIGINT) reached this service, as opposed to a cancellation
    /// because another service failed.
    public var wasAskedToShutDown: Bool { shutdownRequested.withLock { $0 } }

    /// How many jobs are running now.
    public var runningCount: Int { inFlight.withLock { $0 } }

    public func schedule(_ work: @escaping @Sendable () async -> Void) -> Bool {
        guard isAccepting else { return false }
        inFlight.withLock { $0 += 1 }
        if case .enqueued = continuation.yield(work) { return true }
        inFlight.withLock { $0 -= 1 }
        return false
    }

    public func run() async throws {
        await withTaskGroup(of: Void.self) { outer in
            outer.addTask { [self] in
                await withDiscardingTaskGroup { group in
                    for await work in stream {
                        group.addTask {
                            await work()
                            self.inFlight.withLock { $0 -= 1 }
                        }
                    }
                }
            }
            // Wait for shutdown (or cancellation of the service group).
            do {
                try await gracefulShutdown()
                shutdownRequested.withLock { $0 = true }
            } catch {}
            accepting.withLock { $0 = false }
            continuation.finish()
            let running = runningCount
            if running > 0 {
                logger.info(
                    "waiting for background issue work",
                    metadata: ["running": "\(running)", "grace": "\(shutdownGrace)"])
            }
            outer.addTask { [shutdownGrace] in
                try? await Task.sleep(for: shutdownGrace)
            }
            // Whichever ends first: all work finished, or the grace period.
            _ = await outer.next()
            if runningCount > 0 {
                logger.warning(
                    "shutdown grace ended; interrupting background issue work", metadata: ["running": "\(runningCount)"]
                )
            }
            outer.cancelAll()
        }
    }
}
