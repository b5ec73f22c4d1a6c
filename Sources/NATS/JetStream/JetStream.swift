import Logging
import NIOCore

/// JetStream on a ``NATSClient``: the JSON API over request/reply (streams, consumers, account info), publishing
/// with the stream's acknowledgement, and pull consumers whose messages are acknowledged one by one.
///
/// A value type over the client: copies share the connection. Every API call waits at most ``timeout`` for the
/// server's answer. Failures are ``JetStreamError`` values (the server's code, `err_code` and description for
/// API errors); a closed client throws its ``NATSError``.
public struct JetStream: Sendable {
    /// The connection; it must be running (``NATSClient/run()``) for calls to be answered.
    public let client: NATSClient
    /// How long each API call, publish and confirmed acknowledgement waits for the server.
    public var timeout: Duration
    /// The subject prefix of the API: `$JS.API`, or `$JS.<domain>.API` for a JetStream domain.
    public let apiPrefix: String
    let logger: Logger

    /// JetStream of the client's account, in `domain` when given (a leaf node's or hub's JetStream domain).
    public init(client: NATSClient, timeout: Duration = .seconds(5), domain: String? = nil, logger: Logger? = nil) {
        let prefix = domain.map { $0.isEmpty ? "$JS.API" : "$JS.\($0).API" } ?? "$JS.API"
        self.init(client: client, timeout: timeout, apiPrefix: prefix, logger: logger)
    }

    /// JetStream behind an explicit API prefix (for an account that imports another account's JetStream API).
    public init(client: NATSClient, timeout: Duration = .seconds(5), apiPrefix: String, logger: Logger? = nil) {
        self.client = client
        self.timeout = timeout
        self.apiPrefix = apiPrefix.hasSuffix(".") ? String(apiPrefix.dropLast()) : apiPrefix
        self.logger = logger ?? client.logger
    }

    /// The account's JetStream usage and limits (`$JS.API.INFO`). A cheap way to check that JetStream is there.
    /// - Throws: ``JetStreamError/notEnabled`` when the server (or the account) has no JetStream.
    public func accountInfo() async throws -> AccountInfo {
        try await request("INFO", context: "JetStream account info")
    }

    // MARK: Requests

    /// The full subject of an API call.
    func apiSubject(_ suffix: String) -> String {
        "\(apiPrefix).\(suffix)"
    }

    /// Calls the API at `\(apiPrefix).\(suffix)` and decodes its reply.
    func request<Response: Decodable>(
        _ suffix: String, body: ByteBuffer = ByteBuffer(), context: String
    ) async throws -> Response {
        let subject = apiSubject(suffix)
        let reply: NATSMessage
        do {
            reply = try await client.request(body, to: subject, timeout: timeout)
        } catch let error as NATSError where error.kind == .noResponders {
            throw JetStreamError.notEnabled(subject)
        } catch let error as NATSError where error.kind == .timeout {
            throw JetStreamError.timeout("\(context) (\(subject))", after: timeout)
        }
        if let status = reply.statusCode {
            throw JetStreamError.badResponse(
                "\(context): status \(status) \(reply.statusDescription ?? "") instead of JSON from \(subject)")
        }
        return try JetStreamAPI.decode(Response.self, from: reply.payload, context: context)
    }
}
