import NIOCore
import NIOPosix

/// The server's entry point: Swift Concurrency's jobs run on NIO's event loops (the ones that serve HTTP and
/// NATS), so that a request handler, the run it starts and the answer it writes do not each switch threads.
@main
enum ClaudeRunnerEntry {
    static func main() async {
        // Before any task is started, from the main thread, once.
        NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
        await ClaudeRunnerCommand.main()
    }
}
