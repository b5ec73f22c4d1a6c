import AsyncHTTPClient
import ClaudeRunner
import Foundation
import NIOCore
import NIOFoundationCompat

/// Run control over HTTP: `GET /api/runs`, `GET /api/runs/{id}`, `GET /api/runs/{id}/events`,
/// `POST /api/runs/{id}/cancel`, `GET /api/usage` (spec section 11).
extension HTTPRunnerClient: RunControlClient {
    public func listRuns(_ query: RunQuery) async throws -> RunList {
        struct Reply: Decodable { var runs: [RunRecord] }
        let body = try await call(.get, "runs", query: query.parameters)
        return RunList(runs: try decode(Reply.self, body, what: "a run list").runs)
    }

    public func runRecord(_ id: String) async throws -> RunRecord {
        try RunnerService.checkRunID(id)
        return try decode(RunRecord.self, try await call(.get, "runs/\(id)"), what: "a run record")
    }

    public func cancelRun(_ id: String) async throws {
        try RunnerService.checkRunID(id)
        _ = try await call(.post, "runs/\(id)/cancel")
    }

    public func usage(_ query: UsageQuery) async throws -> UsageSummary {
        let body = try await call(.get, "usage", query: query.parameters)
        return UsageSummary(report: try decode(UsageReport.self, body, what: "a usage report"))
    }

    public func runEvents(
        _ id: String, follow: Bool, onEvent: @escaping @Sendable (RunEvent) -> Void
    ) async throws {
        try RunnerService.checkRunID(id)
        let response = try await execute(
            .get, "runs/\(id)/events", query: follow ? [:] : ["follow": "false"],
            accept: "application/x-ndjson", timeout: follow ? .hours(24) : timeout)
        guard response.status == .ok else { throw try await failure(response) }
        var pending = ByteBuffer()
        do {
            for try await chunk in response.body {
                var chunk = chunk
                pending.writeBuffer(&chunk)
                while let newline = pending.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) {
                    guard let line = pending.readSlice(length: newline - pending.readerIndex) else { break }
                    pending.moveReaderIndex(forwardBy: 1)
                    if let event = RunEvent.decode(Data(buffer: line)) { onEvent(event) }
                }
                pending.discardReadBytes()
            }
        } catch {
            throw RunControlFailure("http request: \(error)")
        }
    }

    // MARK: Requests

    enum Method { case get, post }

    /// Sends a request to `<endpoint>/api/<path>` and returns the body of a 2xx answer.
    /// - Throws: ``RunControlFailure`` with the server's `error` message for any other status.
    func call(
        _ method: Method, _ path: String, query: [String: String] = [:]
    ) async throws -> ByteBuffer {
        let response = try await execute(method, path, query: query, accept: "application/json", timeout: timeout)
        guard (200..<300).contains(response.status.code) else { throw try await failure(response) }
        do {
            return try await response.body.collect(upTo: 64 << 20)
        } catch {
            throw RunControlFailure("http request: \(error)")
        }
    }

    func execute(
        _ method: Method, _ path: String, query: [String: String], accept: String, timeout: TimeAmount
    ) async throws -> HTTPClientResponse {
        var base = endpoint
        while base.hasSuffix("/") { base.removeLast() }
        guard let url = URL(string: base), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https",
            url.host != nil
        else {
            throw RunControlFailure("invalid --endpoint \"\(endpoint)\": expected an http:// or https:// URL")
        }
        var target = "\(base)/api/\(path)"
        if !query.isEmpty {
            target +=
                "?"
                + query.sorted { $0.key < $1.key }.map { "\($0.key)=\(Self.percentEncoded($0.value))" }
                .joined(separator: "&")
        }
        var request = HTTPClientRequest(url: target)
        request.method = method == .post ? .POST : .GET
        request.headers.add(name: "Accept", value: accept)
        if let token, !token.isEmpty { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        do {
            return try await HTTPClient.shared.execute(request, timeout: timeout)
        } catch {
            throw RunControlFailure("http request: \(error)")
        }
    }

    /// The server's `{"error": ...}` message, or the status.
    func failure(_ response: HTTPClientResponse) async throws -> RunControlFailure {
        struct ErrorBody: Decodable { var error: String? }
        let body = try? await response.body.collect(upTo: 1 << 20)
        if let body, let message = try? JSONDecoder().decode(ErrorBody.self, from: body).error {
            return RunControlFailure(message)
        }
        return RunControlFailure("unexpected status: \(response.status.code)")
    }

    func decode<T: Decodable>(_ type: T.Type, _ body: ByteBuffer, what: String) throws -> T {
        do {
            return try JSONDecoder().decode(type, from: body)
        } catch {
            throw RunControlFailure("the runner's answer is not \(what): \(error)")
        }
    }

    static func percentEncoded(_ text: String) -> String {
        let allowed = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }
}
