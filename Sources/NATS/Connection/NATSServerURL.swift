import Foundation

/// A NATS server URL: `nats://`, `tls://`, `ws://` or `wss://`, with optional `user:password@` or
/// `token@` credentials.
public struct NATSServerURL: Sendable, Equatable, CustomStringConvertible {
    public enum Scheme: String, Sendable {
        case nats, tls, ws, wss

        /// Whether the connection is WebSocket-framed.
        public var isWebSocket: Bool { self == .ws || self == .wss }
    }

    public let scheme: Scheme
    public let host: String
    public let port: Int
    /// The HTTP path of a WebSocket URL (`/` when none is given).
    public let path: String
    public let user: String?
    public let password: String?
    public let token: String?

    /// - Throws: ``NATSError`` naming the problem for an unknown scheme, a missing host or a bad port.
    public init(_ text: String) throws(NATSError) {
        guard let components = URLComponents(string: text.trimmingCharacters(in: .whitespaces)),
            let schemeText = components.scheme?.lowercased()
        else { throw NATSError.invalidURL("invalid NATS URL \"\(Self.redacted(text))\"") }
        guard let scheme = Scheme(rawValue: schemeText) else {
            throw NATSError.invalidURL(
                "invalid NATS URL \"\(Self.redacted(text))\": scheme \(schemeText) is not one of nats, tls, ws, wss")
        }
        guard var host = components.host, !host.isEmpty else {
            throw NATSError.invalidURL("invalid NATS URL \"\(Self.redacted(text))\": no host")
        }
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        let defaultPort: Int
        switch scheme {
        case .nats, .tls: defaultPort = 4222
        case .ws: defaultPort = 80
        case .wss: defaultPort = 443
        }
        let port = components.port ?? defaultPort
        guard (1...65535).contains(port) else {
            throw NATSError.invalidURL("invalid NATS URL \"\(Self.redacted(text))\": bad port")
        }
        self.scheme = scheme
        self.host = host
        self.port = port
        self.path = components.percentEncodedPath.isEmpty ? "/" : components.percentEncodedPath
        if let user = components.user?.removingPercentEncoding, !user.isEmpty {
            if let password = components.password?.removingPercentEncoding {
                self.user = user
                self.password = password
                self.token = nil
            } else {
                self.user = nil
                self.password = nil
                self.token = user
            }
        } else {
            self.user = nil
            self.password = nil
            self.token = nil
        }
    }

    /// The URL without credentials, safe for logs.
    public var description: String {
        let shownHost = host.contains(":") ? "[\(host)]" : host
        return "\(scheme.rawValue)://\(shownHost):\(port)" + (scheme.isWebSocket && path != "/" ? path : "")
    }

    /// Whether `host` is an IP address (then TLS verifies the IP, and sends no SNI).
    var hostIsIPAddress: Bool {
        host.contains(":") || host.split(separator: ".").count == 4 && host.allSatisfy { $0.isNumber || $0 == "." }
    }

    static func redacted(_ text: String) -> String {
        guard let at = text.lastIndex(of: "@"), let schemeEnd = text.range(of: "://"), schemeEnd.upperBound < at else {
            return text
        }
        return String(text[..<schemeEnd.upperBound]) + "***" + String(text[at...])
    }
}
