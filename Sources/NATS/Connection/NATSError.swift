/// A NATS client failure, in words an operator can act on. Never contains a seed, password or token.
public struct NATSError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        case invalidURL
        case connectionFailed
        case authorization
        case tls
        case timeout
        case noResponders
        case notConnected
        case closed
        case protocolError
        case serverError
    }

    public let kind: Kind
    public let description: String

    public init(_ kind: Kind, _ description: String) {
        self.kind = kind
        self.description = description
    }

    static func invalidURL(_ message: String) -> NATSError { .init(.invalidURL, message) }
    public static let timeout = NATSError(.timeout, "nats: timeout")
    public static let noResponders = NATSError(.noResponders, "nats: no responders available for request")
    public static let closed = NATSError(.closed, "nats: connection closed")
}
