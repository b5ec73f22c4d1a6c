import ClaudeRunner
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import NIOPosix
import NIOSSL

/// The runner's HTTP API: `POST /api/run`, `/api/run-issue`, `/api/cleanup-issue`.
///
/// Each route decodes its request, calls the matching ``RunnerService`` method and writes the Result;
/// errors are `{"error": "..."}` with a status that says what kind of failure it was.
public enum HTTPTransport {
    /// Builds the router with the runner's routes.
    /// - Parameters:
    ///   - service: The runner.
    ///   - maxBodyBytes: Larger request bodies (chunked ones too) get 413.
    ///   - tokens: Accepted bearer tokens; none means no authentication (only allowed on loopback or with
    ///     `http.insecure`, which the caller checks).
    ///   - observability: Where readiness and metrics come from.
    public static func router(
        service: RunnerService, maxBodyBytes: Int, tokens: [String] = [], observability: Observability = .init()
    )
        -> Router<RunnerRequestContext>
    {
        let router = Router(context: RunnerRequestContext.self)
        // Health answers anyone (Docker, systemd, Kubernetes probes); everything else needs the token.
        addHealthRoutes(to: router, service: service, observability: observability)
        let protected = router.group()
        if !tokens.isEmpty { protected.add(middleware: BearerTokenMiddleware(tokens: tokens)) }
        protected.get("metrics") { _, _ in
            guard let metrics = observability.metrics else {
                return errorResponse(.notFound, "metrics are not enabled")
            }
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: metrics()))
        }
        let api = protected.group("api")
        addRunRoutes(to: api, service: service)
        // A run stops when its client goes away. Claiming an issue and cleaning up are not interrupted:
        // half a claim would leave the issue labelled claimed-by-claude with nothing running.
        api.post("run") { request, context in
            if let format = ProgressStreamFormat(accept: request.headers[.accept]) {
                return try await streamRun(request, context, format: format, service: service, maxBodyBytes)
            }
            let channel = context.channel
            return try await handle(request, context, RunRequest.self, service, maxBodyBytes) { body, logger in
                try await runUntilClientLeaves(body, channel: channel, service: service, logger: logger)
            }
        }
        api.post("run-issue") { request, context in
            try await handle(request, context, RunIssueRequest.self, service, maxBodyBytes) {
                body, logger in try await service.runIssue(body, transport: .http, logger: logger)
            }
        }
        api.post("cleanup-issue") { request, context in
            try await handle(
                request, context, CleanupIssueRequest.self, service, maxBodyBytes
            ) { body, logger in try await service.cleanupIssue(body, logger: logger) }
        }
        return router
    }

    /// The event loop every HTTP server of this process runs on (``HTTPApplication``), a thread of its own for
    /// the life of the process: what the HTTP handlers do never delays the NATS connection or the GitHub
    /// client, which use NIO's shared loops.
    static let eventLoop: any EventLoop = MultiThreadedEventLoopGroup(numberOfThreads: 1).next()

    /// Builds the HTTP application for `address` (`host:port` or `:port`), HTTPS when `http.tls` is set, on
    /// one event loop (``HTTPApplication``).
    /// - Throws: ``RunnerError`` when the TLS certificate or key cannot be loaded.
    public static func application(
        service: RunnerService, address: ListenAddress, logger: Logger, observability: Observability = .init(),
        onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }
    ) throws -> HTTPApplication<some ApplicationProtocol> {
        let http = service.config.http
        var server = HTTPServerBuilder { AbandonedConnectionGuard(base: HTTP1Channel(responder: $0)) }
        if let certificate = http.tlsCertificate, let key = http.tlsKey {
            let tls = try tlsConfiguration(certificate: certificate, key: key)
            server = HTTPServerBuilder {
                AbandonedConnectionGuard(base: try TLSChannel(HTTP1Channel(responder: $0), tlsConfiguration: tls))
            }
        } else if http.tlsCertificate != nil || http.tlsKey != nil {
            throw RunnerError.invalidRequest("http.tls needs both cert and key")
        }
        let application = Application(
            router: router(
                service: service, maxBodyBytes: http.maxBodyBytes, tokens: http.tokens, observability: observability),
            server: server,
            configuration: .init(address: .hostname(address.host, port: address.port), serverName: "claude-runner"),
            onServerRunning: onServerRunning,
            eventLoopGroupProvider: .shared(eventLoop),
            logger: logger
        )
        return HTTPApplication(base: application, executor: EventLoopTaskExecutor(eventLoop))
    }

    static func tlsConfiguration(certificate: String, key: String) throws -> TLSConfiguration {
        do {
            let chain = try NIOSSLCertificate.fromPEMFile(certificate).map { NIOSSLCertificateSource.certificate($0) }
            let privateKey = try NIOSSLPrivateKey(file: key, format: .pem)
            return TLSConfiguration.makeServerConfiguration(
                certificateChain: chain, privateKey: .privateKey(privateKey))
        } catch {
            throw RunnerError.invalidRequest("cannot load http.tls cert \(certificate) / key \(key): \(error)")
        }
    }

    /// Refuses an HTTP listener that anyone on the network could use without a token.
    /// - Returns: A warning to log when `http.insecure` allows it anyway.
    public static func checkExposure(
        address: ListenAddress, http: RunnerConfig.HTTPSettings
    ) throws(RunnerError)
        -> String?
    {
        guard http.tokens.isEmpty, !address.isLoopback else { return nil }
        guard http.insecure else {
            throw RunnerError.invalidRequest(
                "refusing to serve HTTP on \(address) without authentication: configure http.tokens, http.tokenFile "
                    + "or CLAUDE_RUNNER_HTTP_TOKEN, listen on 127.0.0.1 (--http-addr 127.0.0.1:8080), "
                    + "or set http.insecure: true")
        }
        return "HTTP on \(address) accepts requests without authentication (http.insecure is true): "
            + "anyone who can reach it can run Claude on this machine"
    }

    /// Reads and decodes a request body; the error response when it is too large or not the right JSON.
    static func decodeBody<Body: Decodable & Sendable>(
        _ request: Request, _ type: Body.Type, maxBodyBytes: Int
    ) async throws -> Result<Body, ErrorResponse> {
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: maxBodyBytes)
        } catch is NIOTooManyBytesError {
            return .failure(.init(errorResponse(.contentTooLarge, "request body is larger than \(maxBodyBytes) bytes")))
        }
        do {
            return .success(try WireJSON.decode(type, from: Data(buffer: buffer)))
        } catch {
            return .failure(.init(errorResponse(.badRequest, error.description)))
        }
    }

    /// A response that is an answer by itself (an error before any work began).
    struct ErrorResponse: Error {
        let response: Response
        init(_ response: Response) { self.response = response }
    }

    static func handle<Body: Decodable & Sendable>(
        _ request: Request, _ context: RunnerRequestContext, _ type: Body.Type, _ service: RunnerService,
        _ maxBodyBytes: Int,
        _ call: @escaping @Sendable (Body, Logger) async throws -> RunResult
    ) async throws -> Response {
        let body: Body
        switch try await decodeBody(request, type, maxBodyBytes: maxBodyBytes) {
        case .success(let decoded): body = decoded
        case .failure(let failure): return failure.response
        }
        do {
            return resultResponse(try await call(body, context.logger))
        } catch let error as RunnerError {
            return errorResponse(for: error)
        } catch is CancellationError {
            // The client is gone; nobody reads this.
            return errorResponse(.init(code: 499, reasonPhrase: "Client Closed Request"), "request cancelled")
        } catch {
            // Anything else is still an error body, never an empty 500.
            return errorResponse(.internalServerError, service.redactor.redact("\(error)"))
        }
    }

    public static func status(for kind: RunnerError.Kind) -> HTTPResponse.Status {
        switch kind {
        case .invalidRequest: .badRequest
        case .rejected: .unprocessableContent
        case .unavailable: .serviceUnavailable
        case .failed: .internalServerError
        case .overBudget: .tooManyRequests
        case .notFound: .notFound
        case .conflict: .conflict
        }
    }

    /// The answer for an error of the service: its status, `{"error": ...}`, and `Retry-After` when it says
    /// when to come back.
    public static func errorResponse(for error: RunnerError) -> Response {
        var response = errorResponse(status(for: error.kind), error.message)
        if let retryAfter = error.retryAfter { response.headers[.retryAfter] = String(retryAfter) }
        return response
    }

    /// A Result as the answer: one buffer, or for a large output several, so that the output is never
    /// held twice over (as text and as encoded JSON) while the answer is written.
    static func resultResponse(_ result: RunResult) -> Response {
        let headers: HTTPFields = [.contentType: "application/json; charset=utf-8"]
        guard result.output.utf8.count > WireJSON.chunkSize else {
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: WireJSON.buffer(result)))
        }
        return Response(
            status: .ok, headers: headers,
            body: ResponseBody { writer in
                try await WireJSON.write(result, chunkSize: WireJSON.chunkSize) { try await writer.write($0) }
                try await writer.finish(nil)
            })
    }

    static func jsonResponse(_ status: HTTPResponse.Status, _ data: Data) -> Response {
        Response(
            status: status,
            headers: [.contentType: "application/json; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(data: data))
        )
    }

    public static func errorResponse(_ status: HTTPResponse.Status, _ message: String) -> Response {
        var response = jsonResponse(status, WireJSON.encodeError(message))
        if status == .serviceUnavailable { response.headers[.retryAfter] = "5" }
        return response
    }

    /// Runs a prompt, cancelling the run when the client's connection closes (its process group is then
    /// stopped and it ends `cancelled`).
    ///
    /// The watch costs the request no wait on the event loop: the handler is put in and taken out on the
    /// channel's loop, where the handlers run (or by jobs queued there).
    static func runUntilClientLeaves(
        _ request: RunRequest, channel: any Channel, service: RunnerService, logger: Logger
    ) async throws -> RunResult {
        let watcher = ClientDisconnectHandler()
        watcher.install(on: channel)
        defer { watcher.uninstall(from: channel) }
        let result = try await service.run(request, transport: .http, callerLeaves: true, logger: logger) {
            prepared in watcher.whenClientLeaves { prepared.execution.cancel() }
        }
        // A client that left first gets no answer, whatever the run returned once it was stopped.
        if watcher.clientHasLeft { throw CancellationError() }
        return result
    }
}

/// A listen address as the flag takes it: `host:port`, `:port` (all interfaces) or `[v6]:port`.
public struct ListenAddress: Sendable, Equatable, CustomStringConvertible {
    public let host: String
    public let port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    public init?(_ text: String) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
            (0...65535).contains(port)
        else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        self.host = host.isEmpty ? "0.0.0.0" : host
        self.port = port
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// Whether only this machine can reach the address.
    public var isLoopback: Bool {
        host == "localhost" || host.hasPrefix("127.") || host == "::1"
    }
}
