import ClaudeRunner
import Foundation

/// JSON as the original runner writes it: compact, in field order, with `<`, `>`, `&`, U+2028 and
/// U+2029 escaped as Go's `encoding/json` does, and decoding errors that name the offending field.
public enum WireJSON {
    public static func encode(_ value: some Encodable) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return goEscaped(try encoder.encode(value))
    }

    /// Outside strings JSON never contains these characters, so escaping them byte-wise is exact.
    static func goEscaped(_ data: Data) -> Data {
        var output = Data()
        output.reserveCapacity(data.count)
        var index = data.startIndex
        while index < data.endIndex {
            let byte = data[index]
            switch byte {
            case UInt8(ascii: "<"): output.append(contentsOf: Array(#"\u003c"#.utf8))
            case UInt8(ascii: ">"): output.append(contentsOf: Array(#"\u003e"#.utf8))
            case UInt8(ascii: "&"): output.append(contentsOf: Array(#"\u0026"#.utf8))
            case 0xE2 where index + 2 < data.endIndex && data[index + 1] == 0x80
                && (data[index + 2] == 0xA8 || data[index + 2] == 0xA9):
                output.append(contentsOf: Array((data[index + 2] == 0xA8 ? #"\u2028"# : #"\u2029"#).utf8))
                index += 2
            default: output.append(byte)
            }
            index += 1
        }
        return output
    }

    /// A request body that is not the expected JSON object; the message names the problem and the field.
    public struct DecodingFailure: Error, Sendable, CustomStringConvertible {
        public let description: String
    }

    public static func decode<T: Decodable>(_ type: T.Type, from data: Data) throws(DecodingFailure) -> T {
        let trimmed = data.drop { $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }
        guard !trimmed.isEmpty else { throw DecodingFailure(description: "request body is empty; expected a JSON object") }
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
