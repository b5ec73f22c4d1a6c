import AsyncHTTPClient
import ClaudeRunner
import Foundation
import NIOCore
import NIOFoundationCompat

/// Sends a ``ClientRequest`` to `<endpoint>/api/<operation>` and decodes the Result.
public struct HTTPRunnerClient: Sendable {
    public var endpoint: String
    /// Sent as `Authorization: Bearer <token>` when set.
    public var token: String?
    public var timeout: TimeAmount

    public init(endpoint: String, token: String? = nil, timeout: TimeAmount = .minutes(60)) {
        self.endpoint = endpoint
        self.token = token
        self.timeout = timeout
    }

    public struct Failure: Error, Sendable, CustomStringConvertible {
        public let description: String
    }

    public func send(_ request: ClientRequest, httpClient: HTTPClient = .shared) async throws -> RunResult {
        var base = endpoint
        while base.hasSuffix("/") { base.removeLast() }
        guard let url = URL(string: base), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https",
            url.host != nil
        else {
            throw Failure(description: "invalid --endpoint \"\(endpoint)\": expected an http:// or https:// URL")
        }
        var httpRequest = HTTPClientRequest(url: "\(base)/api/\(request.operation)")
        httpRequest.method = .POST
        httpRequest.headers.add(name: "Content-Type", value: "application/json")
        if let token, !token.isEmpty { httpRequest.headers.add(name: "Authorization", value: "Bearer \(token)") }
        httpRequest.body = .bytes(ByteBuffer(data: try request.jsonBody()))

        let response: HTTPClientResponse
        let body: ByteBuffer
        do {
            response = try await httpClient.execute(httpRequest, timeout: timeout)
            body = try await response.body.collect(upTo: 256 << 20)
        } catch {
            throw Failure(description: "http request: \(error)")
        }
        guard response.status == .ok else {
            struct ErrorBody: Decodable { var error: String? }
            let message = (try? JSONDecoder().decode(ErrorBody.self, from: body))?.error
            throw Failure(description: "unexpected status: \(response.status.code)" + (message.map { ": \($0)" } ?? ""))
        }
        do {
            return try JSONDecoder().decode(RunResult.self, from: body)
        } catch {
            throw Failure(description: "decode response: \(error)")
        }
    }
}
