import ClaudeRunner
import Hummingbird
import NIOCore
import ServiceLifecycle

/// The HTTP server as a service, all of it on one event loop (``HTTPTransport/eventLoop``): its listening
/// socket, its connections, every route's handler and the runs those start
/// (``RunExecution/preferredExecutor``).
///
/// With the connections on two loops and the handlers on Swift's shared pool, a request went from thread to
/// thread (accepted on one loop, handed to a task on the pool, its connection on the other loop, the answer
/// written from the pool), and those switches and wake-ups were a third of the runner's own CPU for a short
/// run. On one loop a request takes none of them; what waits on another thread (Claude's process, through
/// the process monitor; the ledger's writer) comes back with one wake-up. One thread is ample for the HTTP
/// work: a request takes about a tenth of a millisecond of it, a run the seconds or minutes Claude takes.
/// Handlers must not block it: slow file work goes through ``BlockingWork``, the ledger through its own
/// queues, and what is left (the JSON of a Result at the 16 MiB output cap) holds the other requests for
/// milliseconds.
public struct HTTPApplication<Base: ApplicationProtocol>: Service {
    let base: Base
    let executor: EventLoopTaskExecutor

    public func run() async throws {
        try await RunExecution.$preferredExecutor.withValue(executor) {
            try await withTaskExecutorPreference(executor) { try await base.run() }
        }
    }
}
