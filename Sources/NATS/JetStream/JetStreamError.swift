/// A JetStream failure, in words an operator can act on.
///
/// Errors the server reports through the JSON API carry its ``code`` (an HTTP-like status such as 404 or 503),
/// its ``errorCode`` (the JetStream `err_code`, such as 10059 for "stream not found") and its
/// ``serverDescription``. The set of cases can grow: compare with the static members
/// (`error == .streamNotFound`, `error == .notEnabled`), which match on the kind of failure (and, for server
/// errors, on the `err_code`) but not on the text.
public struct JetStreamError: Error, Sendable, Hashable, CustomStringConvertible {
    private enum Kind: Hashable, Sendable {
        case notEnabled
        case api(errorCode: Int)
        case timeout
        case noStreamForSubject
        case badResponse
        case pullRejected
        case invalidAckSubject
        case invalidArgument
        case acknowledgementNotReceived
    }

    private let kind: Kind
    /// What happened and to what, for the log.
    public let description: String
    /// The server's HTTP-like status (`code` in the API's error JSON, or the status of a status message).
    public let code: Int?
    /// The JetStream error code (`err_code` in the API's error JSON), such as 10059 for "stream not found".
    public let errorCode: Int?
    /// The server's own words (`description` in the API's error JSON, or a status message's description).
    public let serverDescription: String?

    private init(
        _ kind: Kind, _ description: String, code: Int? = nil, errorCode: Int? = nil, serverDescription: String? = nil
    ) {
        self.kind = kind
        self.description = description
        self.code = code
        self.errorCode = errorCode
        self.serverDescription = serverDescription
    }

    public static func == (lhs: JetStreamError, rhs: JetStreamError) -> Bool {
        lhs.kind == rhs.kind
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(kind)
    }

    // MARK: Matching

    /// JetStream is not enabled on the server or for the account: nobody answers the JetStream API.
    public static let notEnabled = JetStreamError(
        .notEnabled, "JetStream is not enabled on the NATS server (start nats-server with -js or a jetstream block)")
    /// The server did not answer in time.
    public static let timeout = JetStreamError(.timeout, "JetStream did not answer in time")
    /// No stream captures the subject a message was published to.
    public static let noStreamForSubject = JetStreamError(
        .noStreamForSubject, "no JetStream stream captures the subject")
    /// The server's answer could not be understood.
    public static let badResponse = JetStreamError(.badResponse, "JetStream sent a reply that could not be decoded")
    /// The server refused a pull request (status 409 such as "Exceeded MaxWaiting" or "Consumer Deleted").
    public static let pullRejected = JetStreamError(.pullRejected, "JetStream refused the pull request")
    /// A message's reply subject is not a JetStream acknowledgement subject.
    public static let invalidAckSubject = JetStreamError(
        .invalidAckSubject, "the message's reply subject is not a JetStream acknowledgement subject")
    /// An argument cannot be sent to the server (a stream name with a dot, a batch of zero, …).
    public static let invalidArgument = JetStreamError(.invalidArgument, "invalid JetStream request")
    /// A confirmed acknowledgement reached nobody: the consumer is gone or JetStream is unavailable.
    public static let acknowledgementNotReceived = JetStreamError(
        .acknowledgementNotReceived, "no JetStream consumer received the acknowledgement")

    /// The server's "stream not found" (404, err_code 10059).
    public static let streamNotFound = apiError(code: 404, errorCode: 10059, description: "stream not found")
    /// The server's "consumer not found" (404, err_code 10014).
    public static let consumerNotFound = apiError(code: 404, errorCode: 10014, description: "consumer not found")
    /// The server's "stream name already in use with a different configuration" (400, err_code 10058).
    public static let streamNameInUse = apiError(
        code: 400, errorCode: 10058, description: "stream name already in use with a different configuration")
    /// A publish the stream refused to store, such as "maximum messages exceeded" on a full stream that
    /// discards new messages (503, err_code 10077).
    public static let streamStoreFailed = apiError(code: 503, errorCode: 10077, description: "stream store failed")
    /// The stream that captured the subject is not the one named by `Nats-Expected-Stream` (400, err_code 10060).
    public static let expectedStreamMismatch = apiError(
        code: 400, errorCode: 10060, description: "expected stream does not match")

    /// An error the server reported through the JSON API; equal to other API errors with the same `errorCode`.
    public static func apiError(
        code: Int, errorCode: Int, description: String, context: String? = nil
    )
        -> JetStreamError
    {
        let text =
            context.map { "\($0): JetStream error \(code)/\(errorCode): \(description)" }
            ?? "JetStream error \(code)/\(errorCode): \(description)"
        return JetStreamError(
            .api(errorCode: errorCode), text, code: code, errorCode: errorCode, serverDescription: description)
    }

    // MARK: Raising, with the context the operator needs

    static func notEnabled(_ subject: String) -> JetStreamError {
        JetStreamError(
            .notEnabled,
            "JetStream is not enabled on the NATS server: nobody answered \(subject) (start nats-server with -js "
                + "or a jetstream block, and check the account and the API domain)",
            code: NATSMessage.noRespondersStatus)
    }

    static func notEnabledForAccount(code: Int, errorCode: Int, description: String) -> JetStreamError {
        JetStreamError(
            .notEnabled, "JetStream is not enabled for this account (\(code)/\(errorCode): \(description))",
            code: code, errorCode: errorCode, serverDescription: description)
    }

    static func timeout(_ what: String, after timeout: Duration) -> JetStreamError {
        JetStreamError(.timeout, "JetStream did not answer \(what) within \(timeout)")
    }

    static func noStreamForSubject(_ subject: String) -> JetStreamError {
        JetStreamError(
            .noStreamForSubject,
            "no JetStream stream captures subject \(subject): the message was not stored (create a stream for it)",
            code: NATSMessage.noRespondersStatus)
    }

    static func badResponse(_ what: String) -> JetStreamError {
        JetStreamError(.badResponse, "JetStream sent a reply that could not be understood: \(what)")
    }

    static func pullRejected(stream: String, consumer: String, code: Int, description: String) -> JetStreamError {
        JetStreamError(
            .pullRejected,
            "JetStream refused the pull request for consumer \(consumer) on stream \(stream): \(code) \(description)",
            code: code, serverDescription: description)
    }

    static func invalidAckSubject(_ subject: String?, _ reason: String) -> JetStreamError {
        JetStreamError(
            .invalidAckSubject,
            "not a JetStream acknowledgement subject (\(reason)): \(subject.map { "\"\($0)\"" } ?? "no reply subject")")
    }

    static func invalidArgument(_ reason: String) -> JetStreamError {
        JetStreamError(.invalidArgument, "invalid JetStream request: \(reason)")
    }

    static func acknowledgementNotReceived(_ subject: String) -> JetStreamError {
        JetStreamError(
            .acknowledgementNotReceived,
            "nobody received the acknowledgement on \(subject): the consumer is gone or JetStream is unavailable",
            code: NATSMessage.noRespondersStatus)
    }
}
