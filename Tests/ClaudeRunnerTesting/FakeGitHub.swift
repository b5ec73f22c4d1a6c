import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// A GitHub REST server on loopback for tests: serves issues it was given and records every call.
///
/// Implements the four calls the runner makes (read issue, remove label, add labels, comment) with
/// GitHub's status codes, and lets a test make a path fail.
public actor FakeGitHub {
    public struct Call: Sendable, Equatable, CustomStringConvertible {
        public let method: String
        public let path: String
        public let body: String
        public let authorization: String?
        public var description: String { "\(method) \(path)" }
    }

    public private(set) var calls: [Call] = []
    private var issues: [String: [String: Any]] = [:]
    private var failures: [String: (status: Int, remaining: Int, headers: [String: String])] = [:]
    public private(set) var comments: [String: [String]] = [:]

    public init() {}

    /// Adds or replaces an issue. `labels` are names; the body should contain the marker for a valid task.
    public func setIssue(
        repo: String, number: Int, title: String = "Add a feature", body: String?, labels: [String],
        state: String = "open"
    ) {
        issues["\(repo)#\(number)"] = [
            "number": number, "title": title, "body": body as Any, "state": state,
            "html_url": "https://github.com/\(repo)/issues/\(number)",
            "labels": labels.map { ["name": $0] },
        ]
    }

    /// Makes the next `count` calls of `method path` answer `status` (with `headers`).
    public func fail(_ method: String, _ path: String, status: Int, count: Int = 1, headers: [String: String] = [:]) {
        failures["\(method) \(path)"] = (status, count, headers)
    }

    public func labels(repo: String, number: Int) -> [String] {
        let labels = issues["\(repo)#\(number)"]?["labels"] as? [[String: String]] ?? []
        return labels.compactMap { $0["name"] }
    }

    public func comments(repo: String, number: Int) -> [String] { comments["\(repo)#\(number)"] ?? [] }

    /// Calls other than reading an issue: what the runner changed on GitHub.
    public var writes: [Call] { calls.filter { $0.method != "GET" } }

    func handle(method: String, path: String, body: String, authorization: String?) -> (Int, [String: String], String) {
        calls.append(Call(method: method, path: path, body: body, authorization: authorization))
        if var failure = failures["\(method) \(path)"], failure.remaining > 0 {
            failure.remaining -= 1
            failures["\(method) \(path)"] = failure
            return (failure.status, failure.headers, #"{"message":"injected failure"}"#)
        }
        // /repos/{owner}/{repo}/issues/{n}[/labels[/{name}] | /comments]
        let parts = path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        guard parts.count >= 5, parts[0] == "repos", parts[3] == "issues", let number = Int(parts[4]) else {
            return (404, [:], #"{"message":"Not Found"}"#)
        }
        let key = "\(parts[1])/\(parts[2])#\(number)"
        guard var issue = issues[key] else { return (404, [:], #"{"message":"Not Found"}"#) }
        var labels = issue["labels"] as? [[String: String]] ?? []
        switch (method, parts.count > 5 ? parts[5] : "") {
        case ("GET", ""):
            return (200, [:], Self.json(issue))
        case ("DELETE", "labels") where parts.count == 7:
            let name = parts[6].removingPercentEncoding ?? parts[6]
            guard labels.contains(where: { $0["name"]?.lowercased() == name.lowercased() }) else {
                return (404, [:], #"{"message":"Label does not exist"}"#)
            }
            labels.removeAll { $0["name"]?.lowercased() == name.lowercased() }
            issue["labels"] = labels
            issues[key] = issue
            return (200, [:], Self.json(labels))
        case ("POST", "labels"):
            let request = (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: [String]]
            for name in request?["labels"] ?? [] where !labels.contains(where: { $0["name"] == name }) {
                labels.append(["name": name])
            }
            issue["labels"] = labels
            issues[key] = issue
            return (200, [:], Self.json(labels))
        case ("POST", "comments"):
            let request = (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: String]
            comments[key, default: []].append(request?["body"] ?? "")
            return (201, [:], #"{"id":1}"#)
        default:
            return (404, [:], #"{"message":"Not Found"}"#)
        }
    }

    static func json(_ value: Any) -> String {
        (try? JSONSerialization.data(withJSONObject: value)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }

    /// Serves the fake on a free loopback port while `body` runs; `body` gets the base URL.
    public func serve<T: Sendable>(_ body: @escaping @Sendable (String) async throws -> T) async throws -> T {
        let router = Router()
        router.on("**", method: .get) { request, context in try await self.respond(request, context) }
        router.on("**", method: .post) { request, context in try await self.respond(request, context) }
        router.on("**", method: .delete) { request, context in try await self.respond(request, context) }
        var logger = Logger(label: "fake-github")
        logger.logLevel = .critical
        let (portStream, portContinuation) = AsyncStream<Int>.makeStream()
        let app = Application(
            router: router,
            configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in
                portContinuation.yield(channel.localAddress?.port ?? 0)
                portContinuation.finish()
            },
            logger: logger
        )
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                try await app.runService()
                return nil
            }
            var iterator = portStream.makeAsyncIterator()
            guard let port = await iterator.next() else { throw Command.Failure(description: "fake GitHub did not start") }
            group.addTask { try await body("http://127.0.0.1:\(port)") }
            defer { group.cancelAll() }
            while let result = try await group.next() {
                if let result { return result }
            }
            throw Command.Failure(description: "fake GitHub stopped")
        }
    }

    private nonisolated func respond(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let buffer = try await request.body.collect(upTo: 1 << 20)
        let (status, headers, text) = await handle(
            method: request.method.rawValue, path: request.uri.path, body: String(buffer: buffer),
            authorization: request.headers[.authorization])
        var response = Response(
            status: .init(code: status), headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(string: text)))
        for (name, value) in headers {
            if let field = HTTPField.Name(name) { response.headers[field] = value }
        }
        return response
    }
}
