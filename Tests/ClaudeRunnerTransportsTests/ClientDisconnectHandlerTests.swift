import NIOCore
import NIOEmbedded
import Synchronization
import Testing

@testable import ClaudeRunnerTransports

@Suite("the client-disconnect watch")
struct ClientDisconnectHandlerTests {
    /// A request refused before it ever waits (a bad prompt, the budget, a shutdown) puts the watch in and
    /// takes it out again at once, on the connection's own loop.
    @Test("put in and taken out at once on the event loop, it leaves nothing in the connection")
    func installThenUninstall() throws {
        let channel = EmbeddedChannel()
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 8080)).wait()
        for _ in 0..<3 {
            let watcher = ClientDisconnectHandler()
            watcher.install(on: channel)
            watcher.uninstall(from: channel)
        }
        channel.embeddedEventLoop.run()
        #expect(throws: (any Error).self) {
            try channel.pipeline.syncOperations.handler(type: ClientDisconnectHandler.self)
        }
    }

    @Test("a client that goes away while the watch is in calls its action once")
    func clientLeaves() throws {
        let channel = EmbeddedChannel()
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 8080)).wait()
        let watcher = ClientDisconnectHandler()
        watcher.install(on: channel)
        let calls = Calls()
        watcher.whenClientLeaves { calls.add() }
        channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        _ = try? channel.close().wait()
        #expect(calls.count == 1)
        #expect(watcher.clientHasLeft)
    }
}

private final class Calls: Sendable {
    private let value = Atomic(0)
    func add() { value.add(1, ordering: .relaxed) }
    var count: Int { value.load(ordering: .relaxed) }
}
