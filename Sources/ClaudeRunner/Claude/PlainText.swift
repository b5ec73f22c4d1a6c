/// Text kept from a byte stream up to a cap, decoded as it arrives: one copy of the output in memory,
/// never a byte buffer and a string of it side by side.
struct PlainText: Sendable {
    let limit: Int
    private(set) var text = ""
    /// Bytes kept (at most `limit`).
    private(set) var keptCount = 0
    /// Bytes seen.
    private(set) var totalCount = 0
    /// The start of a UTF-8 sequence that the next chunk completes.
    private var carry: [UInt8] = []

    init(limit: Int) {
        self.limit = limit
    }

    var isTruncated: Bool { totalCount > keptCount }

    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        totalCount += bytes.count
        let room = limit - keptCount
        guard room > 0, !bytes.isEmpty else { return }
        let kept = UnsafeRawBufferPointer(rebasing: bytes.prefix(room))
        if keptCount == 0, kept.count < room {
            // Room for the whole cap (and a closing note) at once: reserved pages cost no memory until they
            // are written, while growing a large string step by step copies it, twice its size for a moment.
            text.reserveCapacity(limit + 256)
        }
        keptCount += kept.count
        if carry.isEmpty {
            let complete = Self.completePrefixLength(kept)
            text += String(decoding: UnsafeRawBufferPointer(rebasing: kept.prefix(complete)), as: UTF8.self)
            carry = Array(kept.suffix(from: complete))
        } else {
            var joined = carry
            joined.append(contentsOf: kept)
            joined.withUnsafeBytes { all in
                let complete = Self.completePrefixLength(all)
                text += String(decoding: UnsafeRawBufferPointer(rebasing: all.prefix(complete)), as: UTF8.self)
                carry = Array(all.suffix(from: complete))
            }
        }
    }

    mutating func append(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { append($0) }
    }

    /// The text, with an unfinished last sequence repaired and, when bytes were cut, `note(kept, total)` after
    /// it. The text is handed over, not copied: appending to a string that is also held elsewhere would copy
    /// the whole output once more.
    mutating func finish(truncationNote note: (_ kept: Int, _ total: Int) -> String) -> String {
        if !carry.isEmpty {
            text += String(decoding: carry, as: UTF8.self)
            carry = []
        }
        if isTruncated { text += note(keptCount, totalCount) }
        var handed = ""
        swap(&handed, &text)
        return handed
    }

    /// How many leading bytes end on a UTF-8 sequence boundary (at most 3 bytes are held back).
    static func completePrefixLength(_ bytes: UnsafeRawBufferPointer) -> Int {
        let count = bytes.count
        var index = count - 1
        var back = 0
        while index >= 0, back < 4 {
            let byte = bytes[index]
            if byte & 0xC0 != 0x80 {
                // A lead byte (or ASCII): is its sequence complete?
                let length = byte < 0x80 ? 1 : byte >= 0xF0 ? 4 : byte >= 0xE0 ? 3 : byte >= 0xC0 ? 2 : 1
                return count - index >= length ? count : index
            }
            index -= 1
            back += 1
        }
        return count
    }
}
