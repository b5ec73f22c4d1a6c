import NIOCore

/// The last handler of a NATS pipeline: hands decoded operations to the client's read loop, and ends the
/// stream (with the error, if any) when the connection closes.
final class InboundForwarder: ChannelInboundHandler, Sendable {
    typealias InboundIn = ServerOperation

    let operations: AsyncThrowingStream<ServerOperation, any Error>
    private let continuation: AsyncThrowingStream<ServerOperation, any Error>.Continuation

    init() {
        (operations, continuation) = AsyncThrowingStream.makeStream()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        continuation.yield(unwrapInboundIn(data))
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        continuation.finish(throwing: error)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        continuation.finish()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        continuation.finish()
    }
}
