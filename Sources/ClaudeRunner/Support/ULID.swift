#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// A ULID: 48 bits of milliseconds since the Unix epoch and 80 random bits, written as 26 characters of
/// Crockford base32. ULIDs sort by creation time, so run ids and attempt ids list in the order they started.
public struct ULID: Sendable, Hashable, CustomStringConvertible, Comparable {
    public let description: String

    private static let alphabet = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ".utf8)

    /// Makes a new ULID for the given instant (now by default).
    public init(milliseconds: UInt64 = ULID.nowMilliseconds()) {
        var generator = SystemRandomNumberGenerator()
        var randomHigh = generator.next() as UInt64
        randomHigh &= 0xFFFF  // 16 bits
        let randomLow = generator.next() as UInt64  // 64 bits
        var characters = [UInt8](repeating: 0, count: 26)
        // 10 characters of time (50 bits, top 2 always zero for 48-bit time).
        var time = milliseconds & 0xFFFF_FFFF_FFFF
        for index in stride(from: 9, through: 0, by: -1) {
            characters[index] = Self.alphabet[Int(time & 31)]
            time >>= 5
        }
        // 16 characters of randomness (80 bits).
        var low = randomLow
        var high = randomHigh
        for index in stride(from: 25, through: 10, by: -1) {
            characters[index] = Self.alphabet[Int(low & 31)]
            low = (low >> 5) | ((high & 31) << 59)
            high >>= 5
        }
        self.description = String(decoding: characters, as: UTF8.self)
    }

    /// Whether `text` has the shape of a ULID (26 Crockford base32 characters, upper case).
    public static func isValid(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard bytes.count == 26, let first = bytes.first, first <= UInt8(ascii: "7") else { return false }
        return bytes.allSatisfy { Self.alphabet.contains($0) }
    }

    public static func nowMilliseconds() -> UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return UInt64(spec.tv_sec) * 1000 + UInt64(spec.tv_nsec) / 1_000_000
    }

    public static func < (lhs: ULID, rhs: ULID) -> Bool { lhs.description < rhs.description }
}
