/// An error from the runner, in words an operator can act on.
///
/// The ``kind`` tells a transport how to report it (HTTP status, NATS error code); the message says what
/// happened and to what. Messages never contain secrets: they are built from validated input and from
/// redacted process output.
public struct RunnerError: Error, Sendable, CustomStringConvertible, Equatable {
    /// What class of failure this is; transports map it to a status code.
    public enum Kind: Sendable, Equatable {
        /// The request itself is malformed or names something invalid (HTTP 400).
        case invalidRequest
        /// The request is well formed but the target refuses it, e.g. an issue that fails validation (HTTP 422).
        case rejected
        /// The runner cannot take the work now (HTTP 503).
        case unavailable
        /// Something the runner depends on (git, GitHub, the `claude` executable) failed (HTTP 500).
        case failed
        /// The daily budget is spent (HTTP 429, NATS 429), until ``RunnerError/retryAfter`` seconds from now.
        case overBudget
        /// The thing asked for does not exist (HTTP 404).
        case notFound
        /// The thing asked for is in a state that does not allow it (HTTP 409).
        case conflict
    }

    public let kind: Kind
    public let message: String
    /// When to try again, in seconds (with ``Kind/overBudget``).
    public var retryAfter: Int?

    public var description: String { message }

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public static func invalidRequest(_ message: String) -> RunnerError { .init(.invalidRequest, message) }
    public static func rejected(_ message: String) -> RunnerError { .init(.rejected, message) }
    public static func unavailable(_ message: String) -> RunnerError { .init(.unavailable, message) }
    public static func failed(_ message: String) -> RunnerError { .init(.failed, message) }
    public static func notFound(_ message: String) -> RunnerError { .init(.notFound, message) }
    public static func conflict(_ message: String) -> RunnerError { .init(.conflict, message) }
}
