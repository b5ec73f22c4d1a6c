import ClaudeRunner
import Foundation

/// JSON as the original runner writes it: compact, in field order, with `<`, `>`, `&`, U+2028 and
/// U+2029 escaped as Go's `encoding/json` does; and decoding errors that name the offending field.
public enum WireJSON {
    /// `{"id":...,"output":...,"error":...}` in the original's field order; `error` only when set.
    public static func encode(_ result: RunResult) -> Data {
        var text = #"{"id":"# + quoted(result.id) + #","output":"# + quoted(result.output)
        if let error = result.error, !error.isEmpty { text += #","error":"# + quoted(error) }
        text += "}"
        return Data(text.utf8)
    }

    /// `{"error":"..."}`.
    public static func encodeError(_ message: String) -> Data {
        Data((#"{"error":"# + quoted(message) + "}").utf8)
    }

    /// A JSON string literal escaped as Go's `encoding/json` escapes it (HTML characters included).
    public static func quoted(_ text: String) -> String {
        var output = "\""
        output.reserveCapacity(text.utf8.count + 2)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": output += "\\\""
            case "\\": output += "\\\\"
            case "\n": output += "\\n"
            case "\r": output += "\\r"
            case "\t": output += "\\t"
            case "<": output += "\\u003c"
            case ">": output += "\\u003e"
            case "&": output += "\\u0026"
            case "\u{2028}": output += "\\u2028"
            case "\u{2029}": output += "\\u2029"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    output += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    output.unicodeScalars.append(scalar)
                }
            }
        }
        output += "\""
        return output
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
