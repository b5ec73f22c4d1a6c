import HummingbirdCore
import Logging
import NIOCore
import Synchronization

/// A server connection that is closed properly when the server drops it before any handler took it.
///
/// A connection accepted just as the server task is cancelled can be left in Hummingbird's queue of new
/// connections and dropped there. NIO then stops the whole process ("Deinited NIOAsyncWriter without
/// calling finish()") as the connection's last reference goes, since its writer was never finished. Here
/// the connection is wrapped: if the wrapper goes without having been handled, it finishes and closes it.
struct AbandonedConnectionGuard<Base: ServerChildChannel, Inbound: Sendable, Outbound: Sendable>: ServerChildChannel
where Base.Value == NIOAsyncChannel<Inbound, Outbound> {
    let base: Base

    final class Value: ServerChildChannelValue {
        let connection: NIOAsyncChannel<Inbound, Outbound>
        let taken = Atomic(false)

        init(_ connection: NIOAsyncChannel<Inbound, Outbound>) { self.connection = connection }

        var channel: any Channel { connection.channel }

        deinit {
            guard !taken.load(ordering: .acquiring) else { return }
            Task { [connection] in try? await connection.executeThenClose { _, _ in } }
        }
    }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        base.setup(channel: channel, logger: logger).map { Value($0) }
    }

    func handle(value: Value, logger: Logger) async {
        value.taken.store(true, ordering: .releasing)
        await base.handle(value: value.connection, logger: logger)
    }
}
