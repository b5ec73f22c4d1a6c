import Crypto
import Foundation

/// The identity of a clone source in the mirror cache, and the directory its mirror lives in.
///
/// Two sources that name the same repository share one mirror: credentials are dropped (they are never
/// written anywhere), scheme and host are lowercased, and a trailing `/` or `.git` does not count; a local
/// path and its `file://` URL are the same. The directory name is a readable tag made only of safe
/// characters plus a SHA-256 of the normalised source, so no URL can reach outside the mirror root, and two
/// sources that differ after normalisation never share a directory, however their readable tags look.
public struct MirrorName: Sendable, Hashable {
    /// The clone source with credentials dropped and spelling variants removed.
    public let normalizedSource: String
    /// `<tag>-<hash>.git`, a single path component.
    public let directoryName: String

    public init(cloneSource: String) {
        let normalized = Self.normalize(cloneSource)
        self.normalizedSource = normalized
        let digest = SHA256.hash(data: Data(normalized.utf8)).prefix(16).map { String(format: "%02x", $0) }.joined()
        self.directoryName = "\(Self.tag(normalized))-\(digest).git"
    }

    /// The normalised form of a clone source (see the type's documentation).
    static func normalize(_ source: String) -> String {
        if source.hasPrefix("/") { return "file://" + normalizePath(source) }
        if let schemeEnd = source.range(of: "://") {
            let scheme = source[..<schemeEnd.lowerBound].lowercased()
            let rest = source[schemeEnd.upperBound...]
            if scheme == "file" { return "file://" + normalizePath(String(rest)) }
            let slash = rest.firstIndex(of: "/") ?? rest.endIndex
            let authority = rest[..<slash]
            // The credentials end at the last '@' of the authority.
            let host = authority.lastIndex(of: "@").map { authority[authority.index(after: $0)...] } ?? authority
            return "\(scheme)://\(host.lowercased())" + trimRepositoryPath(String(rest[slash...]))
        }
        // scp-like `user@host:path`.
        if let colon = source.firstIndex(of: ":") {
            let authority = source[..<colon]
            let host = authority.lastIndex(of: "@").map { authority[authority.index(after: $0)...] } ?? authority
            var path = String(source[source.index(after: colon)...])
            if !path.hasPrefix("/") { path = "/" + path }
            return "ssh://\(host.lowercased())" + trimRepositoryPath(path)
        }
        return trimRepositoryPath(source)
    }

    /// An absolute path with `.`, `..` and repeated slashes resolved lexically, without `.git` or a trailing `/`.
    static func normalizePath(_ path: String) -> String {
        var components: [Substring] = []
        for component in path.split(separator: "/", omittingEmptySubsequences: true) {
            switch component {
            case ".": continue
            case "..": _ = components.popLast()
            default: components.append(component)
            }
        }
        return trimRepositoryPath("/" + components.joined(separator: "/"))
    }

    static func trimRepositoryPath(_ path: String) -> String {
        var path = Substring(path)
        while path.count > 1, path.hasSuffix("/") { path = path.dropLast() }
        if path.hasSuffix(".git") { path = path.dropLast(4) }
        while path.count > 1, path.hasSuffix("/") { path = path.dropLast() }
        return String(path)
    }

    /// The last two path components in safe characters, for an operator reading the mirror root.
    static func tag(_ normalized: String) -> String {
        let components = normalized.split(separator: "/").suffix(2).map { component in
            String(
                component.unicodeScalars.map { scalar -> Character in
                    scalar.isASCII
                        && (CharacterSet.alphanumerics.contains(scalar) || "-_".unicodeScalars.contains(scalar))
                        ? Character(scalar) : "_"
                })
        }
        let tag = String(components.joined(separator: "-").prefix(64))
        return tag.isEmpty ? "repo" : tag
    }
}
