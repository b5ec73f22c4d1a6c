/// A quick look at one stream-json line: the top-level `type` (and `subtype`) of a JSON object, found by
/// skipping over every value without decoding it.
///
/// Most of a session's bytes are in events the runner ignores (`user` events carry whole tool results:
/// file contents, command output); peeking lets those pass at memory speed instead of being decoded.
enum EventPeek {
    struct Keys: Equatable {
        var type: String?
        var subtype: String?
    }

    /// The keys, or `nil` when the line is not one well-formed JSON object (as far as the skim can tell).
    static func keys(_ bytes: UnsafeRawBufferPointer) -> Keys? {
        var scanner = Scanner(bytes: bytes)
        return scanner.object()
    }

    private struct Scanner: JSONByteScanner {
        let bytes: UnsafeRawBufferPointer
        var index = 0

        init(bytes: UnsafeRawBufferPointer) {
            self.bytes = bytes
        }

        mutating func object() -> Keys? {
            skipSpace()
            guard current == UInt8(ascii: "{") else { return nil }
            index += 1
            var keys = Keys()
            skipSpace()
            if current == UInt8(ascii: "}") { return finish(keys) }
            while true {
                skipSpace()
                guard current == UInt8(ascii: "\""), let key = plainString() else { return nil }
                skipSpace()
                guard current == UInt8(ascii: ":") else { return nil }
                index += 1
                skipSpace()
                if (key == "type" || key == "subtype") && current == UInt8(ascii: "\"") {
                    let start = index
                    if let value = plainString() {
                        if key == "type" { keys.type = value } else { keys.subtype = value }
                    } else {
                        index = start
                        guard skipString() else { return nil }
                    }
                } else {
                    guard skipValue() else { return nil }
                }
                skipSpace()
                switch current {
                case UInt8(ascii: ","): index += 1
                case UInt8(ascii: "}"): return finish(keys)
                default: return nil
                }
            }
        }

        /// After the closing brace only whitespace may follow.
        mutating func finish(_ keys: Keys) -> Keys? {
            index += 1
            skipSpace()
            return index == bytes.count ? keys : nil
        }

        mutating func skipString() -> Bool {
            index += 1
            while index < bytes.count {
                let byte = bytes[index]
                if byte == UInt8(ascii: "\\") {
                    index += 2
                } else if byte == UInt8(ascii: "\"") {
                    index += 1
                    return true
                } else {
                    index += 1
                }
            }
            return false
        }

        mutating func skipValue() -> Bool {
            guard let byte = current else { return false }
            switch byte {
            case UInt8(ascii: "\""):
                return skipString()
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                var depth = 0
                while let byte = current {
                    switch byte {
                    case UInt8(ascii: "\""):
                        guard skipString() else { return false }
                        continue
                    case UInt8(ascii: "{"), UInt8(ascii: "["):
                        depth += 1
                    case UInt8(ascii: "}"), UInt8(ascii: "]"):
                        depth -= 1
                        if depth == 0 {
                            index += 1
                            return true
                        }
                    default:
                        break
                    }
                    index += 1
                }
                return false
            default:
                // A number, true, false or null: up to the next delimiter.
                let start = index
                while let byte = current, byte != UInt8(ascii: ","), byte != UInt8(ascii: "}"), byte != 0x20,
                    byte != 0x09, byte != 0x0A, byte != 0x0D
                {
                    index += 1
                }
                return index > start
            }
        }
    }
}
