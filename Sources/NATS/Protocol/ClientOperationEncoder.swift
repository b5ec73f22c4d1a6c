import NIOCore

/// A NIO encoder that writes ``ClientOperation`` values in their wire form.
public struct ClientOperationEncoder: MessageToByteEncoder, Sendable {
    /// The encoder consumes ``ClientOperation`` values.
    public typealias OutboundIn = ClientOperation

    /// Creates an encoder.
    public init() {}

    /// Writes `data` into `out`; see ``ClientOperation/write(into:)`` for the errors thrown.
    public func encode(data: ClientOperation, out: inout ByteBuffer) throws {
        try data.write(into: &out)
    }
}
