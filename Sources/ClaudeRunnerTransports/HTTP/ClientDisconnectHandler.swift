import NIOCore

/// Notices a client that has gone away while its request runs.
///
/// Hummingbird allows remote half-closure, so a client that disconnects shows up as an `inputClosed` event
/// rather than a closed channel; this handler, put first in the pipeline for the length of one request,
/// turns either into the end of ``closed``.
final class ClientDisconnectHandler: ChannelInboundHandler, RemovableChannelHandler, Sendable {
    typealias InboundIn = NIOAny

    let closed: AsyncStream<Never>
    private let continuation: AsyncStream<Never>.Continuation

    init() {
        (closed, continuation) = AsyncStream.makeStream()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed { continuation.finish() }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        continuation.finish()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        continuation.finish()
    }
}
