import NIOCore
import Synchronization

/// Notices a client that has gone away while its request runs.
///
/// Hummingbird allows remote half-closure, so a client that disconnects shows up as an `inputClosed` event
/// rather than a closed channel; this handler, put first in the pipeline for the length of one request,
/// turns either into one call of the action given to ``whenClientLeaves(_:)``.
final class ClientDisconnectHandler: ChannelInboundHandler, RemovableChannelHandler, Sendable {
    typealias InboundIn = NIOAny

    private struct State {
        var left = false
        var action: (@Sendable () -> Void)?
    }

    private let state = Mutex(State())

    /// Puts the handler into `channel`'s pipeline without waiting for the event loop; a connection that is
    /// already closed counts as a client that has left.
    func install(on channel: any Channel) {
        onLoop(of: channel) {
            guard channel.isActive, (try? channel.pipeline.syncOperations.addHandler(self, position: .first)) != nil
            else { return self.clientLeft() }
        }
    }

    /// Takes the handler out again (also without waiting).
    func uninstall(from channel: any Channel) {
        onLoop(of: channel) { channel.pipeline.removeHandler(self, promise: nil) }
    }

    /// Runs `body` on `channel`'s event loop: now when this is it (the HTTP handlers run there), else as a job
    /// queued there. Either way an install and the uninstall after it happen in that order, even when the
    /// request ends without ever waiting.
    private func onLoop(of channel: any Channel, _ body: @escaping @Sendable () -> Void) {
        if channel.eventLoop.inEventLoop {
            body()
        } else {
            channel.eventLoop.execute(body)
        }
    }

    /// Calls `action` once when the client leaves, or at once when it has left already.
    func whenClientLeaves(_ action: @escaping @Sendable () -> Void) {
        let now = state.withLock { state in
            if !state.left { state.action = action }
            return state.left
        }
        if now { action() }
    }

    /// Whether the client has gone.
    var clientHasLeft: Bool { state.withLock { $0.left } }

    private func clientLeft() {
        let action = state.withLock { state in
            state.left = true
            return state.action.take()
        }
        action?()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed { clientLeft() }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        clientLeft()
        context.fireChannelInactive()
    }
}
