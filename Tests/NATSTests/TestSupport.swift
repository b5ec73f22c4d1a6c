import NIOCore

@testable import NATS

let allocator = ByteBufferAllocator()

func buffer(_ string: String) -> ByteBuffer {
    allocator.buffer(string: string)
}

/// Runs the decoder over `input` in one piece and returns every operation it produced.
func decodeAll(
    _ input: String,
    decoder: ServerOperationDecoder = ServerOperationDecoder()
) throws -> [ServerOperation] {
    var decoder = decoder
    var bytes = buffer(input)
    var operations: [ServerOperation] = []
    while let operation = try decoder.decodeOperation(from: &bytes) {
        operations.append(operation)
    }
    return operations
}

/// Returns the error the decoder throws for `input`, or `nil` if it throws none.
func decodeError(
    _ input: some Collection<UInt8>, decoder: ServerOperationDecoder = ServerOperationDecoder()
)
    -> NATSProtocolError?
{
    var decoder = decoder
    var bytes = allocator.buffer(bytes: Array(input))
    do {
        while try decoder.decodeOperation(from: &bytes) != nil {}
        return nil
    } catch {
        return error
    }
}

func message(
    _ subject: String,
    sid: UInt64,
    replyTo: String? = nil,
    headers: NATSHeaders? = nil,
    payload: String
) -> ServerOperation {
    .message(NATSMessage(subject: subject, sid: sid, replyTo: replyTo, headers: headers, payload: buffer(payload)))
}

/// The wire form of an `HMSG` with the given header block and payload.
func hmsg(_ subject: String, sid: UInt64, replyTo: String? = nil, headerBlock: String, payload: String) -> String {
    let headerLength = headerBlock.utf8.count
    let total = headerLength + payload.utf8.count
    let reply = replyTo.map { " " + $0 } ?? ""
    return "HMSG \(subject) \(sid)\(reply) \(headerLength) \(total)\r\n\(headerBlock)\(payload)\r\n"
}

/// A small deterministic generator for the robustness test (SplitMix64).
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64

    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
