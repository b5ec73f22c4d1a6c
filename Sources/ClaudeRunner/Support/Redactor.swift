import Foundation

/// Removes secrets from text before it reaches a log line, a Result, a comment or an error message.
///
/// It replaces every known secret (GitHub token, HTTP tokens, NATS seed) and the credentials part of any
/// URL (`https://user:password@host`), which git echoes back in its error messages.
public struct Redactor: Sendable {
    public static let placeholder = "[REDACTED]"

    private var secrets: [String]

    public init(secrets: [String] = []) {
        self.secrets = []
        for secret in secrets { self.add(secret) }
    }

    /// Adds a secret to hide. Very short values are ignored: replacing a 2-character "token" everywhere
    /// would garble text without protecting anything.
    public mutating func add(_ secret: String) {
        let trimmed = secret.trimmingCharacters(in: .whitespacesAndNewlines)
        guard trimmed.count >= 4, !secrets.contains(trimmed) else { return }
        secrets.append(trimmed)
        // Longest first, so a secret that contains another is replaced whole.
        secrets.sort { $0.count > $1.count }
    }

    public func redact(_ text: String) -> String {
        var result = text
        for secret in secrets where result.containsBytes(of: secret) {
            result = result.replacingOccurrences(of: secret, with: Self.placeholder)
        }
        return Self.redactURLCredentials(result)
    }

    /// Whether any `://` is followed by an authority with `@` (most text with URLs has none, and is then
    /// returned as it is, without a copy).
    static func hasURLCredentials(_ text: String) -> Bool {
        var text = text
        return text.withUTF8 { bytes in
            var index = 0
            let count = bytes.count
            while index + 3 <= count {
                guard bytes[index] == UInt8(ascii: ":"), bytes[index + 1] == UInt8(ascii: "/"),
                    bytes[index + 2] == UInt8(ascii: "/")
                else {
                    index += 1
                    continue
                }
                index += 3
                // The authority ends at '/', whitespace or a quote.
                while index < count {
                    let byte = bytes[index]
                    if byte == UInt8(ascii: "@") { return true }
                    if byte == UInt8(ascii: "/") || byte == UInt8(ascii: "'") || byte == UInt8(ascii: "\"")
                        || byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D
                    {
                        break
                    }
                    index += 1
                }
            }
            return false
        }
    }

    /// Replaces `scheme://userinfo@` with `scheme://[REDACTED]@`.
    static func redactURLCredentials(_ text: String) -> String {
        guard text.containsBytes(of: "://"), hasURLCredentials(text) else { return text }
        var output = ""
        output.reserveCapacity(text.utf8.count)
        var rest = Substring(text)
        while let range = rest.range(of: "://") {
            output += rest[..<range.upperBound]
            rest = rest[range.upperBound...]
            // The authority ends at the first '/', whitespace, quote or end of text.
            let authorityEnd =
                rest.firstIndex { $0 == "/" || $0.isWhitespace || $0 == "'" || $0 == "\"" } ?? rest.endIndex
            let authority = rest[..<authorityEnd]
            if let at = authority.lastIndex(of: "@") {
                output += Self.placeholder
                rest = rest[at...]
            }
        }
        output += rest
        return output
    }
}
