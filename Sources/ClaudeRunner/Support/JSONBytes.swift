/// Parses one JSON document from UTF-8 bytes into a ``JSONValue``: the few stream-json events the runner reads
/// (assistant messages, `result`), without `JSONDecoder`'s per-call cost.
///
/// Strict about the grammar (RFC 8259): anything malformed, trailing bytes after the value, a control character
/// inside a string or nesting deeper than ``maxDepth`` is `nil`, never a crash. Invalid UTF-8 inside a string is
/// repaired (U+FFFD), as is a lone surrogate escape. Object keys are sorted, as ``JSONValue`` keeps them; of
/// duplicate keys the last one wins.
enum JSONBytes {
    static let maxDepth = 512

    static func parse(_ bytes: UnsafeRawBufferPointer) -> JSONValue? {
        var parser = Parser(bytes: bytes)
        parser.skipSpace()
        guard let value = parser.value(depth: 0) else { return nil }
        parser.skipSpace()
        return parser.index == bytes.count ? value : nil
    }

    private struct Parser: JSONByteScanner {
        let bytes: UnsafeRawBufferPointer
        var index = 0

        init(bytes: UnsafeRawBufferPointer) {
            self.bytes = bytes
        }

        mutating func value(depth: Int) -> JSONValue? {
            guard let byte = current else { return nil }
            switch byte {
            case UInt8(ascii: "{"): return object(depth: depth + 1)
            case UInt8(ascii: "["): return array(depth: depth + 1)
            case UInt8(ascii: "\""): return string().map { .string($0) }
            case UInt8(ascii: "t"): return literal("true", .bool(true))
            case UInt8(ascii: "f"): return literal("false", .bool(false))
            case UInt8(ascii: "n"): return literal("null", .null)
            default: return number().map { .number($0) }
            }
        }

        mutating func literal(_ word: StaticString, _ value: JSONValue) -> JSONValue? {
            let count = word.utf8CodeUnitCount
            guard index + count <= bytes.count else { return nil }
            for offset in 0..<count where bytes[index + offset] != word.utf8Start[offset] { return nil }
            index += count
            return value
        }

        mutating func object(depth: Int) -> JSONValue? {
            guard depth <= JSONBytes.maxDepth else { return nil }
            index += 1
            var fields: [(key: String, value: JSONValue)] = []
            skipSpace()
            if current == UInt8(ascii: "}") {
                index += 1
                return .object(fields)
            }
            while true {
                skipSpace()
                guard current == UInt8(ascii: "\""), let key = string() else { return nil }
                skipSpace()
                guard current == UInt8(ascii: ":") else { return nil }
                index += 1
                skipSpace()
                guard let value = value(depth: depth) else { return nil }
                fields.append((key, value))
                skipSpace()
                switch current {
                case UInt8(ascii: ","): index += 1
                case UInt8(ascii: "}"):
                    index += 1
                    return .object(Self.sortedUnique(fields))
                default: return nil
                }
            }
        }

        /// Sorted by key; of equal keys the last one (a stable sort keeps their order).
        static func sortedUnique(_ fields: [(key: String, value: JSONValue)]) -> [(key: String, value: JSONValue)] {
            guard fields.count > 1 else { return fields }
            let sorted = fields.enumerated().sorted { ($0.element.key, $0.offset) < ($1.element.key, $1.offset) }
            var unique: [(key: String, value: JSONValue)] = []
            unique.reserveCapacity(sorted.count)
            for (_, field) in sorted {
                if unique.last?.key == field.key { unique.removeLast() }
                unique.append(field)
            }
            return unique
        }

        mutating func array(depth: Int) -> JSONValue? {
            guard depth <= JSONBytes.maxDepth else { return nil }
            index += 1
            var items: [JSONValue] = []
            skipSpace()
            if current == UInt8(ascii: "]") {
                index += 1
                return .array(items)
            }
            while true {
                skipSpace()
                guard let item = value(depth: depth) else { return nil }
                items.append(item)
                skipSpace()
                switch current {
                case UInt8(ascii: ","): index += 1
                case UInt8(ascii: "]"):
                    index += 1
                    return .array(items)
                default: return nil
                }
            }
        }

        /// A string at `index` (its opening quote); escapes decoded.
        mutating func string() -> String? {
            // Most strings have no escape: taken whole.
            if let plain = plainString() { return plain }
            let start = index + 1
            var end = start
            // Up to the first escape (`plainString` stopped at it, or at a control character: malformed).
            while end < bytes.count, bytes[end] != UInt8(ascii: "\\") {
                if bytes[end] < 0x20 { return nil }
                end += 1
            }
            guard end < bytes.count else { return nil }
            var decoded = Array(UnsafeRawBufferPointer(rebasing: bytes[start..<end]))
            index = end
            while index < bytes.count {
                let byte = bytes[index]
                switch byte {
                case UInt8(ascii: "\""):
                    index += 1
                    return String(decoding: decoded, as: UTF8.self)
                case UInt8(ascii: "\\"):
                    guard escape(into: &decoded) else { return nil }
                case 0..<0x20:
                    return nil
                default:
                    decoded.append(byte)
                    index += 1
                }
            }
            return nil
        }

        /// One escape sequence at `index` (its backslash), appended as UTF-8.
        mutating func escape(into decoded: inout [UInt8]) -> Bool {
            guard index + 1 < bytes.count else { return false }
            let letter = bytes[index + 1]
            index += 2
            switch letter {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): decoded.append(letter)
            case UInt8(ascii: "b"): decoded.append(0x08)
            case UInt8(ascii: "f"): decoded.append(0x0C)
            case UInt8(ascii: "n"): decoded.append(0x0A)
            case UInt8(ascii: "r"): decoded.append(0x0D)
            case UInt8(ascii: "t"): decoded.append(0x09)
            case UInt8(ascii: "u"):
                guard let unit = hex4() else { return false }
                var scalar = Unicode.Scalar(unit)
                if (0xD800..<0xDC00).contains(unit) {
                    // A high surrogate: its low half must follow as another \u escape.
                    if index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"),
                        bytes[index + 1] == UInt8(ascii: "u")
                    {
                        let mark = index
                        index += 2
                        if let low = hex4(), (0xDC00..<0xE000).contains(low) {
                            scalar = Unicode.Scalar(0x10000 + ((UInt32(unit) - 0xD800) << 10) + (UInt32(low) - 0xDC00))
                        } else {
                            index = mark
                        }
                    }
                }
                decoded.append(contentsOf: String(scalar ?? "\u{FFFD}").utf8)
            default:
                return false
            }
            return true
        }

        mutating func hex4() -> UInt16? {
            guard index + 4 <= bytes.count else { return nil }
            var unit: UInt16 = 0
            for offset in 0..<4 {
                let byte = bytes[index + offset]
                let digit: UInt8
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
                default: return nil
                }
                unit = unit << 4 | UInt16(digit)
            }
            index += 4
            return unit
        }

        /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
        mutating func number() -> Double? {
            let start = index
            if current == UInt8(ascii: "-") { index += 1 }
            guard let first = current, Self.isDigit(first) else { return nil }
            index += 1
            if first != UInt8(ascii: "0") { skipDigits() }
            var integral = true
            if current == UInt8(ascii: ".") {
                integral = false
                index += 1
                guard let digit = current, Self.isDigit(digit) else { return nil }
                skipDigits()
            }
            if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
                integral = false
                index += 1
                if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { index += 1 }
                guard let digit = current, Self.isDigit(digit) else { return nil }
                skipDigits()
            }
            let text = UnsafeRawBufferPointer(rebasing: bytes[start..<index])
            if integral, text.count <= 15 {
                // Exact in a Double: no need for the general conversion.
                var value = 0
                var negative = false
                for byte in text {
                    if byte == UInt8(ascii: "-") {
                        negative = true
                    } else {
                        value = value * 10 + Int(byte - UInt8(ascii: "0"))
                    }
                }
                return Double(negative ? -value : value)
            }
            return Double(String(decoding: text, as: UTF8.self))
        }

        mutating func skipDigits() {
            while let byte = current, Self.isDigit(byte) { index += 1 }
        }

        static func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }
    }
}

/// What the byte-level JSON readers share: a position in UTF-8 bytes, white space, and strings without escapes.
protocol JSONByteScanner {
    var bytes: UnsafeRawBufferPointer { get }
    var index: Int { get set }
}

extension JSONByteScanner {
    var current: UInt8? { index < bytes.count ? bytes[index] : nil }

    mutating func skipSpace() {
        while index < bytes.count {
            let byte = bytes[index]
            guard byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D else { return }
            index += 1
        }
    }

    /// The string at `index` (its opening quote) when it has no escape and no control character, read whole
    /// and moved past; `nil` (not moved) otherwise.
    mutating func plainString() -> String? {
        let start = index + 1
        var end = start
        while end < bytes.count {
            let byte = bytes[end]
            if byte == UInt8(ascii: "\"") {
                index = end + 1
                return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self)
            }
            if byte == UInt8(ascii: "\\") || byte < 0x20 { return nil }
            end += 1
        }
        return nil
    }
}
