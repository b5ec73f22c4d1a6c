/// An error raised while decoding server operations or encoding client operations.
///
/// The ``message`` is meant for logs and never includes credentials. Any protocol bytes quoted in it are
/// truncated and made printable.
public struct NATSProtocolError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The category of a protocol error.
    public enum Kind: String, Hashable, Sendable {
        /// The operation name is not one the client understands.
        case unknownOperation
        /// A control line could not be parsed (wrong argument count, bad number, stray arguments).
        case malformedControlLine
        /// A control line exceeded the decoder's maximum length before its line terminator arrived.
        case controlLineTooLong
        /// A message announced more bytes than the decoder's `maxPayload`.
        case payloadTooLarge
        /// The bytes after a message payload were not `\r\n`.
        case missingPayloadTerminator
        /// A header block could not be parsed or encoded.
        case invalidHeaders
        /// The JSON of an `INFO` operation could not be decoded.
        case invalidInfo
        /// The `CONNECT` options could not be encoded.
        case invalidConnectOptions
        /// A subject, reply subject or queue group was empty or contained whitespace or control characters.
        case invalidSubject
    }

    /// The category of the error.
    public var kind: Kind
    /// A human-readable explanation.
    public var message: String

    /// Creates an error of the given kind with an explanation.
    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    /// The kind and message, for logs.
    public var description: String {
        "NATS protocol error (\(self.kind.rawValue)): \(self.message)"
    }

    /// Renders protocol bytes for an error message: at most `limit` bytes, non-printable bytes escaped.
    static func quote(_ bytes: some Collection<UInt8>, limit: Int = 64) -> String {
        var result = "'"
        for byte in bytes.prefix(limit) {
            switch byte {
            case UInt8(ascii: "\r"): result += "\\r"
            case UInt8(ascii: "\n"): result += "\\n"
            case UInt8(ascii: "\t"): result += "\\t"
            case UInt8(ascii: "'"): result += "\\'"
            case 0x20..<0x7F: result.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let hex = String(byte, radix: 16, uppercase: true)
                result += "\\x" + (hex.count == 1 ? "0" + hex : hex)
            }
        }
        result += "'"
        if bytes.count > limit {
            result += "… (\(bytes.count) bytes)"
        }
        return result
    }

    /// Quotes a string the same way as ``quote(_:limit:)``.
    static func quote(_ string: String, limit: Int = 64) -> String {
        Self.quote(Array(string.utf8), limit: limit)
    }
}
