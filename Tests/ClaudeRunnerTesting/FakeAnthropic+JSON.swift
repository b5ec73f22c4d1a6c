import Foundation

extension FakeAnthropic {
    /// A JSON value that is `Sendable`: tool inputs in a script, the bodies the CLI sent, the CLI's
    /// `stream-json` lines.
    ///
    /// Written with literals (`["command": "ls", "timeout": 5]`) and read with subscripts
    /// (`event["message"]?["content"]?[0]?["type"]?.string`), so a test needs no casts from `Any`.
    public enum JSON: Sendable, Hashable {
        case null
        case bool(Bool)
        case number(Double)
        case string(String)
        case array([JSON])
        case object([String: JSON])

        /// Parses one JSON document.
        public init(parsing data: some DataProtocol) throws {
            self = try JSONDecoder().decode(JSON.self, from: Data(data))
        }

        public subscript(key: String) -> JSON? {
            if case .object(let object) = self { object[key] } else { nil }
        }

        public subscript(index: Int) -> JSON? {
            if case .array(let array) = self, array.indices.contains(index) { array[index] } else { nil }
        }

        public var string: String? { if case .string(let value) = self { value } else { nil } }
        public var bool: Bool? { if case .bool(let value) = self { value } else { nil } }
        public var number: Double? { if case .number(let value) = self { value } else { nil } }
        public var array: [JSON]? { if case .array(let value) = self { value } else { nil } }
        public var object: [String: JSON]? { if case .object(let value) = self { value } else { nil } }
        public var isNull: Bool { self == .null }

        /// The value as an integer, when it is a whole number.
        public var int: Int? {
            guard let number, number.rounded() == number, abs(number) < 1e15 else { return nil }
            return Int(number)
        }

        /// Compact JSON text with sorted keys (stable, so tests can compare it).
        public var text: String {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            // Encoding a value made of these cases cannot fail.
            return (try? encoder.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "null"
        }
    }
}

extension FakeAnthropic.JSON: Codable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([FakeAnthropic.JSON].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: FakeAnthropic.JSON].self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        // Whole numbers go out without a fraction, as a hand-written input would have them.
        case .number(let value) where value.rounded() == value && abs(value) < 1e15: try container.encode(Int(value))
        case .number(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }
}

extension FakeAnthropic.JSON: CustomStringConvertible {
    public var description: String { text }
}

extension FakeAnthropic.JSON: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral,
    ExpressibleByBooleanLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByNilLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .number(Double(value)) }
    public init(floatLiteral value: Double) { self = .number(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: FakeAnthropic.JSON...) { self = .array(elements) }
    public init(nilLiteral: ()) { self = .null }
    public init(dictionaryLiteral elements: (String, FakeAnthropic.JSON)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }
}
