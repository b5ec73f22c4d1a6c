import Foundation
import NIOCore
import NIOFoundationCompat

/// JSON as the original runner writes it: compact, in field order, with `<`, `>`, `&`, U+2028 and
/// U+2029 escaped as Go's `encoding/json` does; and decoding errors that name the offending field.
///
/// Results are written straight into one `ByteBuffer` (no intermediate escaped `String`), because an
/// output can be as large as `limits.maxOutputBytes`.
public enum WireJSON {
    /// `{"id":...,"output":...,"error":...}` in the original's field order (`error` only when set), then the
    /// stream-json fields that are known.
    public static func encode(_ result: RunResult) -> Data {
        Data(buffer: buffer(result))
    }

    /// The Result's JSON in one buffer.
    public static func buffer(_ result: RunResult) -> ByteBuffer {
        var object = JSONObjectWriter(capacity: result.output.utf8.count + (result.error?.utf8.count ?? 0) + 256)
        write(result, into: &object)
        return object.finish()
    }

    /// Above this many bytes of output an answer is written in pieces of this size.
    public static let chunkSize = 1 << 20

    /// The Result's JSON, handed to `write` in pieces of about `chunkSize` bytes: the output is escaped a
    /// piece at a time, so a large output is never held a second time as encoded JSON.
    public static func write(
        _ result: RunResult, chunkSize: Int, _ emit: (ByteBuffer) async throws -> Void
    ) async throws {
        var head = ByteBuffer(string: #"{"id":"#)
        head.writeJSONString(result.id, escapeHTML: true)
        head.writeString(#","output":""#)
        try await emit(head)
        let output = result.output
        let utf8 = output.utf8
        var start = utf8.startIndex
        while start < utf8.endIndex {
            var end = utf8.index(start, offsetBy: chunkSize, limitedBy: utf8.endIndex) ?? utf8.endIndex
            // Never split a character's bytes (U+2028 must be seen whole to be escaped).
            while end < utf8.endIndex, UTF8.isContinuation(utf8[end]) { end = utf8.index(after: end) }
            let piece = String(output[start..<end])
            var buffer = ByteBufferAllocator().buffer(capacity: piece.utf8.count + piece.utf8.count / 8 + 16)
            buffer.writeJSONString(piece, escapeHTML: true)
            // Without the quotes: this is the middle of one string.
            buffer.moveReaderIndex(forwardBy: 1)
            buffer.moveWriterIndex(to: buffer.writerIndex - 1)
            try await emit(buffer)
            start = end
        }
        var rest = JSONObjectWriter(capacity: 512)
        var copy = result
        copy.id = ""
        copy.output = ""
        write(copy, into: &rest)
        var tail = rest.finish()
        // `{"id":"","output":""` is already out, as the head plus the output: what follows it goes after.
        let skip = #"{"id":"","output":"""#.utf8.count
        tail.moveReaderIndex(forwardBy: skip)
        var closing = ByteBuffer(string: "\"")
        closing.writeBuffer(&tail)
        try await emit(closing)
    }

    static func write(_ result: RunResult, into object: inout JSONObjectWriter) {
        object.string("id", result.id)
        object.string("output", result.output)
        if let error = result.error, !error.isEmpty { object.string("error", error) }
        if let status = result.status { object.string("status", status) }
        if let sessionID = result.sessionID { object.string("session_id", sessionID) }
        if let cost = result.costUSD { object.number("cost_usd", cost) }
        if let turns = result.numTurns { object.int("num_turns", turns) }
        if let duration = result.durationMS { object.int("duration_ms", duration) }
        if let model = result.model { object.string("model", model) }
        if let usage = result.usage {
            var nested = JSONObjectWriter(capacity: 128)
            nested.int("input_tokens", usage.inputTokens)
            nested.int("output_tokens", usage.outputTokens)
            nested.int("cache_read_input_tokens", usage.cacheReadInputTokens)
            nested.int("cache_creation_input_tokens", usage.cacheCreationInputTokens)
            object.raw("usage", nested.finish())
        }
        if let denials = result.permissionDenials {
            var list = ByteBuffer(string: "[")
            for (index, denial) in denials.enumerated() {
                if index > 0 { list.writeInteger(UInt8(ascii: ",")) }
                var item = JSONObjectWriter(capacity: 64 + denial.input.utf8.count)
                item.string("tool", denial.tool)
                item.string("input", denial.input)
                var finished = item.finish()
                list.writeBuffer(&finished)
            }
            list.writeInteger(UInt8(ascii: "]"))
            object.raw("permission_denials", list)
        }
    }

    /// `{"error":"..."}`.
    public static func encodeError(_ message: String) -> Data {
        var object = JSONObjectWriter(capacity: message.utf8.count + 16)
        object.string("error", message)
        return Data(buffer: object.finish())
    }

    /// A JSON string literal escaped as Go's `encoding/json` escapes it (HTML characters included unless
    /// `escapeHTML` is false).
    public static func quoted(_ text: String, escapeHTML: Bool = true) -> String {
        var buffer = ByteBufferAllocator().buffer(capacity: text.utf8.count + 2)
        buffer.writeJSONString(text, escapeHTML: escapeHTML)
        return String(buffer: buffer)
    }

    /// A request body that is not the expected JSON object; the message names the problem and the field.
    public struct DecodingFailure: Error, Sendable, CustomStringConvertible {
        public let description: String
    }

    public static func decode<T: Decodable>(_ type: T.Type, from data: Data) throws(DecodingFailure) -> T {
        let trimmed = data.drop { $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }
        guard !trimmed.isEmpty else {
            throw DecodingFailure(description: "request body is empty; expected a JSON object")
        }
        guard trimmed.first == UInt8(ascii: "{") else {
            throw DecodingFailure(description: "request body must be a JSON object")
        }
        do {
            return try JSONDecoder().decode(type, from: data)
        } catch let error as DecodingError {
            throw DecodingFailure(description: describe(error))
        } catch {
            throw DecodingFailure(description: "request body is not valid JSON")
        }
    }

    static func describe(_ error: DecodingError) -> String {
        func field(_ path: [any CodingKey]) -> String { path.map(\.stringValue).joined(separator: ".") }
        switch error {
        case .typeMismatch(let expected, let context), .valueNotFound(let expected, let context):
            let name = field(context.codingPath)
            if name.isEmpty { return "request body must be a JSON object" }
            return "field \"\(name)\" must be \(typeName(expected))"
        case .keyNotFound(let key, _):
            return "field \"\(key.stringValue)\" is required"
        case .dataCorrupted(let context):
            let name = field(context.codingPath)
            if name.isEmpty { return "request body is not valid JSON" }
            return "field \"\(name)\" has an invalid value: \(context.debugDescription)"
        @unknown default:
            return "request body is not valid JSON"
        }
    }

    static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is Int.Type, is Int64.Type, is Int32.Type: "an integer"
        case is String.Type: "a string"
        case is Bool.Type: "true or false"
        default: "of type \(type)"
        }
    }
}

/// Writes one JSON object field by field, in the order the fields are given.
public struct JSONObjectWriter {
    private var buffer: ByteBuffer
    private var empty = true

    public init(capacity: Int = 256) {
        buffer = ByteBufferAllocator().buffer(capacity: capacity)
        buffer.writeInteger(UInt8(ascii: "{"))
    }

    private mutating func key(_ name: String) {
        if !empty { buffer.writeInteger(UInt8(ascii: ",")) }
        empty = false
        buffer.writeJSONString(name, escapeHTML: true)
        buffer.writeInteger(UInt8(ascii: ":"))
    }

    public mutating func string(_ name: String, _ value: String) {
        key(name)
        buffer.writeJSONString(value, escapeHTML: true)
    }

    public mutating func int(_ name: String, _ value: Int) {
        key(name)
        buffer.writeString(String(value))
    }

    public mutating func number(_ name: String, _ value: Double) {
        key(name)
        buffer.writeString(WireJSON.number(value))
    }

    public mutating func bool(_ name: String, _ value: Bool) {
        key(name)
        buffer.writeString(value ? "true" : "false")
    }

    /// A field whose value is already JSON.
    public mutating func raw(_ name: String, _ value: ByteBuffer) {
        key(name)
        var value = value
        buffer.writeBuffer(&value)
    }

    public mutating func finish() -> ByteBuffer {
        buffer.writeInteger(UInt8(ascii: "}"))
        return buffer
    }
}

extension WireJSON {
    static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    /// A JSON number; non-finite values (which JSON cannot hold) become 0.
    public static func number(_ value: Double) -> String {
        guard value.isFinite else { return "0" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return "\(value)"
    }
}

extension ByteBuffer {
    /// Writes `text` as a JSON string literal, escaping as Go's `encoding/json` does: `"`, `\\`, control
    /// characters, U+2028 and U+2029, and (with `escapeHTML`) `<`, `>`, `&`.
    public mutating func writeJSONString(_ text: String, escapeHTML: Bool) {
        writeInteger(UInt8(ascii: "\""))
        var text = text
        text.withUTF8 { bytes in
            reserveCapacity(minimumWritableBytes: bytes.count + 1)
            var runStart = 0
            var index = 0
            let count = bytes.count
            while index < count {
                let byte = bytes[index]
                var escape: StaticString? = nil
                var unicode = false
                var width = 1
                switch byte {
                case UInt8(ascii: "\""): escape = "\\\""
                case UInt8(ascii: "\\"): escape = "\\\\"
                case 0x0A: escape = "\\n"
                case 0x0D: escape = "\\r"
                case 0x09: escape = "\\t"
                case 0..<0x20: unicode = true
                case UInt8(ascii: "<"), UInt8(ascii: ">"), UInt8(ascii: "&"): unicode = escapeHTML
                case 0xE2:
                    if index + 2 < count, bytes[index + 1] == 0x80, bytes[index + 2] == 0xA8 || bytes[index + 2] == 0xA9
                    {
                        escape = bytes[index + 2] == 0xA8 ? "\\u2028" : "\\u2029"
                        width = 3
                    }
                default: break
                }
                guard escape != nil || unicode else {
                    index += 1
                    continue
                }
                if runStart < index {
                    writeBytes(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: bytes[runStart..<index])))
                }
                if let escape {
                    writeStaticString(escape)
                } else {
                    writeStaticString("\\u00")
                    writeInteger(WireJSON.hexDigits[Int(byte >> 4)])
                    writeInteger(WireJSON.hexDigits[Int(byte & 0xF)])
                }
                index += width
                runStart = index
            }
            if runStart < count {
                writeBytes(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: bytes[runStart..<count])))
            }
        }
        writeInteger(UInt8(ascii: "\""))
    }
}
