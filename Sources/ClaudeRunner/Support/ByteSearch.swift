#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

extension String {
    /// Whether `needle` occurs in the text, searched on the UTF-8 bytes (`memchr` for the first byte, then
    /// `memcmp`): no bridging and no copy, which matters for outputs of many megabytes.
    func containsBytes(of needle: String) -> Bool {
        guard !needle.isEmpty else { return true }
        var haystack = self
        var needle = needle
        return haystack.withUTF8 { text in
            needle.withUTF8 { pattern in
                guard let textBase = text.baseAddress, let patternBase = pattern.baseAddress,
                    text.count >= pattern.count
                else { return false }
                let first = Int32(pattern[0])
                var offset = 0
                let last = text.count - pattern.count
                while offset <= last {
                    guard let hit = memchr(textBase + offset, first, last - offset + 1) else { return false }
                    let position = textBase.distance(to: hit.assumingMemoryBound(to: UInt8.self))
                    if memcmp(textBase + position, patternBase, pattern.count) == 0 { return true }
                    offset = position + 1
                }
                return false
            }
        }
    }
}
