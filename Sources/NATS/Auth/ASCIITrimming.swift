extension StringProtocol {
    /// The text without leading and trailing ASCII spaces, tabs, carriage returns and line feeds.
    var trimmingASCIIWhitespace: String {
        let isSpace: (UInt8) -> Bool = { [0x20, 0x09, 0x0D, 0x0A].contains($0) }
        let bytes = Array(self.utf8)
        guard let first = bytes.firstIndex(where: { !isSpace($0) }),
            let last = bytes.lastIndex(where: { !isSpace($0) })
        else {
            return ""
        }
        return String(decoding: bytes[first...last], as: UTF8.self)
    }
}
