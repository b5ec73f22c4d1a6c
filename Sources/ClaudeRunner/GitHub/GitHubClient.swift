import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOFoundationCompat
import NIOHTTP1

/// The four GitHub REST calls the issue protocol makes: read an issue, remove a label, add labels, comment.
///
/// Every call has a 30 s deadline (as the original's client had). Idempotent calls (reading, removing a
/// label, adding labels) are retried on 5xx and rate-limit answers with backoff that honours `Retry-After`
/// and `X-RateLimit-Reset`; a comment is never retried, so it is never posted twice. The token is sent
/// only in the `Authorization` header and never appears in an error.
public struct GitHubClient: Sendable {
    public let baseURL: String
    private let token: String
    private let httpClient: HTTPClient
    public var timeout: TimeAmount = .seconds(30)
    public var maxAttempts = 3
    /// The longest a retry waits for a rate limit to reset before giving up.
    public var maxRetryDelay: Duration = .seconds(60)

    public init(baseURL: String, token: String, httpClient: HTTPClient = .shared) {
        var base = baseURL
        while base.hasSuffix("/") { base.removeLast() }
        self.baseURL = base
        self.token = token
        self.httpClient = httpClient
    }

    /// A GitHub call that did not succeed; the message names the call and GitHub's answer.
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public let status: Int?
        public let description: String
    }

    public func issue(_ repo: String, number: Int, logger: Logger) async throws -> GitHubIssue {
        let body = try await send(.GET, "/repos/\(repo)/issues/\(number)", idempotent: true, logger: logger)
        do {
            return try JSONDecoder().decode(GitHubIssue.self, from: body)
        } catch {
            throw Failure(
                status: nil, description: "GitHub GET /repos/\(repo)/issues/\(number): unexpected response: \(error)")
        }
    }

    /// Removes a label; a label that is not on the issue is not an error.
    public func removeLabel(_ label: String, repo: String, number: Int, logger: Logger) async throws {
        let path = "/repos/\(repo)/issues/\(number)/labels/\(Self.escapePathSegment(label))"
        do {
            try await send(.DELETE, path, idempotent: true, logger: logger)
        } catch let failure as Failure where failure.status == 404 {
            return
        }
    }

    public func addLabels(_ labels: [String], repo: String, number: Int, logger: Logger) async throws {
        let body = try JSONEncoder().encode(["labels": labels])
        try await send(.POST, "/repos/\(repo)/issues/\(number)/labels", body: body, idempotent: true, logger: logger)
    }

    /// Posts a comment; returns its id (for editing it later), or `nil` when GitHub's answer has none.
    @discardableResult
    public func comment(_ text: String, repo: String, number: Int, logger: Logger) async throws -> Int? {
        let body = try JSONEncoder().encode(["body": text])
        let answer = try await send(
            .POST, "/repos/\(repo)/issues/\(number)/comments", body: body, idempotent: false, logger: logger)
        return (try? JSONDecoder().decode(GitHubComment.self, from: answer))?.id
    }

    /// The open pull request whose head is `owner:branch`, if there is one.
    public func openPullRequest(
        repo: String, headOwner: String, branch: String, logger: Logger
    ) async throws
        -> GitHubPullRequest?
    {
        let head = Self.escapeQueryValue("\(headOwner):\(branch)")
        let path = "/repos/\(repo)/pulls?head=\(head)&state=open&per_page=10"
        let answer = try await send(.GET, path, idempotent: true, logger: logger)
        do {
            return try JSONDecoder().decode([GitHubPullRequest].self, from: answer).first
        } catch {
            throw Failure(status: nil, description: "GitHub GET /repos/\(repo)/pulls: unexpected response: \(error)")
        }
    }

    /// Opens a pull request (never retried, so never opened twice by a retry).
    public func createPullRequest(
        repo: String, title: String, head: String, base: String, body: String, draft: Bool, logger: Logger
    ) async throws -> GitHubPullRequest {
        struct Request: Encodable {
            var title, head, base, body: String
            var draft: Bool
        }
        let payload = try JSONEncoder().encode(Request(title: title, head: head, base: base, body: body, draft: draft))
        let answer = try await send(.POST, "/repos/\(repo)/pulls", body: payload, idempotent: false, logger: logger)
        do {
            return try JSONDecoder().decode(GitHubPullRequest.self, from: answer)
        } catch {
            throw Failure(status: nil, description: "GitHub POST /repos/\(repo)/pulls: unexpected response: \(error)")
        }
    }

    /// Replaces the text of comment `id` (idempotent, so retried like label changes).
    public func updateComment(_ id: Int, text: String, repo: String, logger: Logger) async throws {
        let body = try JSONEncoder().encode(["body": text])
        try await send(.PATCH, "/repos/\(repo)/issues/comments/\(id)", body: body, idempotent: true, logger: logger)
    }

    /// The issue's comments, oldest first (up to `limit`, following GitHub's pages).
    public func comments(
        repo: String, number: Int, since: Date? = nil, limit: Int = 500, logger: Logger
    ) async throws
        -> [GitHubComment]
    {
        var comments: [GitHubComment] = []
        var page = 1
        while comments.count < limit {
            var path = "/repos/\(repo)/issues/\(number)/comments?per_page=100&page=\(page)"
            if let since { path += "&since=\(Timestamp.secondsString(from: since))" }
            let answer = try await send(.GET, path, idempotent: true, logger: logger)
            let batch: [GitHubComment]
            do {
                batch = try JSONDecoder().decode([GitHubComment].self, from: answer)
            } catch {
                throw Failure(status: nil, description: "GitHub GET \(path): unexpected response: \(error)")
            }
            comments += batch
            guard batch.count == 100 else { break }
            page += 1
        }
        return Array(comments.prefix(limit))
    }

    @discardableResult
    func send(
        _ method: HTTPMethod, _ path: String, body: Data? = nil, idempotent: Bool, logger: Logger
    ) async throws
        -> ByteBuffer
    {
        var attempt = 1
        while true {
            var request = HTTPClientRequest(url: baseURL + path)
            request.method = method
            request.headers.add(name: "Authorization", value: "Bearer \(token)")
            request.headers.add(name: "Accept", value: "application/vnd.github+json")
            request.headers.add(name: "X-GitHub-Api-Version", value: "2022-11-28")
            request.headers.add(name: "User-Agent", value: "claude-runner")
            if let body {
                request.headers.add(name: "Content-Type", value: "application/json")
                request.body = .bytes(ByteBuffer(data: body))
            }
            let response: HTTPClientResponse
            let responseBody: ByteBuffer
            do {
                response = try await httpClient.execute(request, timeout: timeout, logger: logger)
                responseBody = try await response.body.collect(upTo: 8 << 20)
            } catch {
                RunMetrics.githubRequest(method: method.rawValue, status: 0)
                let failure = Failure(status: nil, description: "GitHub \(method) \(path): \(Self.describe(error))")
                if idempotent, attempt < maxAttempts, !(error is CancellationError) {
                    logger.warning(
                        "GitHub call failed, retrying",
                        metadata: ["github.call": "\(method) \(path)", "attempt": "\(attempt)"])
                    try await Task.sleep(for: Self.backoff(attempt))
                    attempt += 1
                    continue
                }
                throw failure
            }
            let status = Int(response.status.code)
            RunMetrics.githubRequest(method: method.rawValue, status: status)
            if (200..<300).contains(status) { return responseBody }

            let message = Self.errorMessage(responseBody) ?? response.status.reasonPhrase
            let failure = Failure(status: status, description: "GitHub \(method) \(path): \(status) \(message)")
            if idempotent, attempt < maxAttempts, let delay = retryDelay(response, status: status, attempt: attempt) {
                logger.warning(
                    "GitHub call failed, retrying",
                    metadata: ["github.call": "\(method) \(path)", "status": "\(status)", "attempt": "\(attempt)"]
                )
                try await Task.sleep(for: delay)
                attempt += 1
                continue
            }
            throw failure
        }
    }

    /// How long to wait before retrying, or `nil` when the answer is not worth retrying.
    func retryDelay(_ response: HTTPClientResponse, status: Int, attempt: Int) -> Duration? {
        let rateLimited =
            status == 429 || (status == 403 && response.headers.first(name: "X-RateLimit-Remaining") == "0")
        guard status >= 500 || rateLimited else { return nil }
        if let retryAfter = response.headers.first(name: "Retry-After").flatMap(Int.init) {
            let delay = Duration.seconds(max(retryAfter, 0))
            return delay <= maxRetryDelay ? delay : nil
        }
        if rateLimited, let reset = response.headers.first(name: "X-RateLimit-Reset").flatMap(Double.init) {
            let seconds = max(0, reset - Date().timeIntervalSince1970)
            let delay = Duration.milliseconds(Int64(seconds * 1000))
            return delay <= maxRetryDelay ? delay : nil
        }
        return Self.backoff(attempt)
    }

    static func backoff(_ attempt: Int) -> Duration {
        .milliseconds(Int64(250 * (1 << min(attempt, 6))) + Int64.random(in: 0..<100))
    }

    static func errorMessage(_ body: ByteBuffer) -> String? {
        struct Message: Decodable { var message: String? }
        guard let decoded = try? JSONDecoder().decode(Message.self, from: body) else { return nil }
        return decoded.message
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? HTTPClientError, error == .deadlineExceeded { return "timed out" }
        return "\(error)"
    }

    static func escapeQueryValue(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }

    static func escapePathSegment(_ text: String) -> String {
        var allowed = CharacterSet.urlPathAllowed
        allowed.remove(charactersIn: "/?#")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }
}
