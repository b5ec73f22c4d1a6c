import Foundation

/// A `repo` value from a request, validated, with the source to clone and the `owner/repo` name.
///
/// Accepted forms: an `owner/repo` slug, an `https://`, `ssh://`, `git://` or `file://` URL, a
/// `git@host:owner/repo(.git)` address, or an absolute local path. A value that starts with `-`, uses a
/// transport helper (`ext::`), or a protocol outside the allowlist is rejected before git sees it.
public struct RepoReference: Sendable, Equatable {
    /// What `git clone` receives (always after `--`).
    public let cloneSource: String
    /// The git protocol the clone uses (`https`, `ssh`, `git`, `file`, `http`).
    public let transport: String
    public let owner: String
    public let name: String
    /// Whether the value was a bare `owner/repo` slug (cloned from the GitHub web host).
    public let isSlug: Bool

    /// `owner/repo`.
    public var fullName: String { "\(owner)/\(name)" }

    /// Parses and validates a request's `repo`.
    /// - Parameters:
    ///   - value: The request's `repo`.
    ///   - githubBaseURL: The REST API base; its web host is where slugs are cloned from.
    ///   - allowedProtocols: The configured allowlist (`git.allowedProtocols`).
    public init(_ value: String, githubBaseURL: String, allowedProtocols: [String]) throws(RunnerError) {
        let text = value.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty else { throw .invalidRequest("invalid repo: repo is empty") }
        guard !text.hasPrefix("-") else {
            throw .invalidRequest("invalid repo \"\(Self.quoted(text))\": must not start with '-'")
        }
        guard !text.contains(where: { $0.isNewline || $0 == "\0" }) else {
            throw .invalidRequest("invalid repo: contains a control character")
        }

        let transport: String
        let path: String
        var isSlug = false
        if let schemeEnd = text.range(of: "://") {
            transport = text[..<schemeEnd.lowerBound].lowercased()
            let rest = text[schemeEnd.upperBound...]
            if transport == "file" {
                path = String(rest)
            } else {
                guard let slash = rest.firstIndex(of: "/"), !rest[..<slash].isEmpty else {
                    throw .invalidRequest("invalid repo \"\(Self.quoted(text))\": no host or path in URL")
                }
                let authority = rest[..<slash]
                let host = authority.split(separator: "@").last.map(String.init) ?? ""
                guard !host.hasPrefix("-"), !(host.removingPercentEncoding ?? host).hasPrefix("-") else {
                    throw .invalidRequest("invalid repo \"\(Self.quoted(text))\": host must not start with '-'")
                }
                path = String(rest[slash...])
            }
            self.cloneSource = text
        } else if text.contains("::") {
            let helper = text.components(separatedBy: "::")[0]
            throw .invalidRequest("invalid repo: protocol \(Self.quoted(helper)) not allowed")
        } else if text.hasPrefix("/") {
            transport = "file"
            path = text
            self.cloneSource = text
        } else if let colon = text.firstIndex(of: ":"), !text[..<colon].contains("/") {
            // scp-like `user@host:owner/repo.git`
            let host = text[..<colon].split(separator: "@").last.map(String.init) ?? ""
            guard !host.isEmpty, !host.hasPrefix("-") else {
                throw .invalidRequest("invalid repo \"\(Self.quoted(text))\": host must not start with '-'")
            }
            transport = "ssh"
            path = String(text[text.index(after: colon)...])
            self.cloneSource = text
        } else if Self.isSlug(text) {
            transport = "https"
            isSlug = true
            path = text
            let webHost = Self.webURL(forAPI: githubBaseURL)
            self.cloneSource = "\(webHost)/\(text.hasSuffix(".git") ? text : text + ".git")"
        } else {
            throw .invalidRequest(
                "invalid repo \"\(Self.quoted(text))\": expected owner/repo, a git URL (https, ssh, git, file) or an absolute path"
            )
        }

        if isSlug {
            // The host comes from the operator's `github.baseURL`, not from the request.
            self.transport = URL(string: self.cloneSource)?.scheme?.lowercased() ?? "https"
        } else {
            guard allowedProtocols.contains(where: { $0.lowercased() == transport }) else {
                throw .invalidRequest("invalid repo: protocol \(Self.quoted(transport)) not allowed")
            }
            self.transport = transport
        }
        self.isSlug = isSlug

        var components = path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        if let last = components.last, last.hasSuffix(".git") {
            components[components.count - 1] = String(last.dropLast(4))
        }
        guard components.count >= 2 else {
            throw .invalidRequest("invalid repo \"\(Self.quoted(text))\": cannot find owner/repo in it")
        }
        let owner = components[components.count - 2]
        let name = components[components.count - 1]
        guard Self.isValidComponent(owner), Self.isValidComponent(name) else {
            throw .invalidRequest(
                "invalid repo \"\(Self.quoted(text))\": owner and repo may only contain letters, digits, '-', '_' and '.'"
            )
        }
        self.owner = owner
        self.name = name
    }

    /// GitHub's characters for owners and repositories; never `.` or `..`.
    static func isValidComponent(_ text: String) -> Bool {
        guard !text.isEmpty, text != ".", text != "..", text.count <= 100 else { return false }
        return text.unicodeScalars.allSatisfy { scalar in
            scalar.isASCII && (CharacterSet.alphanumerics.contains(scalar) || "-_.".unicodeScalars.contains(scalar))
        }
    }

    static func isSlug(_ text: String) -> Bool {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2 else { return false }
        return parts.allSatisfy { isValidComponent(String($0)) } && !parts[0].hasPrefix(".")
    }

    /// The GitHub web host for a REST API base: `https://api.github.com` → `https://github.com`;
    /// an Enterprise `https://ghe.example.com/api/v3` → `https://ghe.example.com`.
    public static func webURL(forAPI baseURL: String) -> String {
        guard var components = URLComponents(string: baseURL), let host = components.host else {
            return "https://github.com"
        }
        if host == "api.github.com" {
            components.host = "github.com"
        } else if host.hasPrefix("api.") {
            components.host = String(host.dropFirst(4))
        }
        var path = components.path
        if path.hasSuffix("/") { path.removeLast() }
        if path.hasSuffix("/api/v3") {
            path.removeLast("/api/v3".count)
        } else if path.hasSuffix("/api") {
            path.removeLast(4)
        }
        components.path = path
        components.query = nil
        components.user = nil
        components.password = nil
        return components.string ?? "https://github.com"
    }

    /// Shortens a value for an error message and strips credentials from URLs.
    static func quoted(_ text: String) -> String {
        let redacted = Redactor.redactURLCredentials(text)
        return redacted.count > 200 ? String(redacted.prefix(200)) + "…" : redacted
    }
}
