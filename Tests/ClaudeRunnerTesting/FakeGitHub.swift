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
        public var query: String = ""
        public var description: String { "\(method) \(path)" }
    }

    /// A pull request the fake knows (opened through it, or given by a test).
    public struct PullRequest: Sendable, Equatable {
        public var number: Int
        public var repo: String
        public var head: String
        public var base: String
        public var title: String
        public var body: String
        public var draft: Bool
        public var url: String { "https://github.com/\(repo)/pull/\(number)" }
    }

    public private(set) var pullRequests: [PullRequest] = []

    public private(set) var calls: [Call] = []
    private var issues: [String: [String: Any]] = [:]
    private var failures: [String: (status: Int, remaining: Int, headers: [String: String])] = [:]
    public private(set) var comments: [String: [String]] = [:]
    /// Every comment posted, by id, with its issue, current text (edits replace the text) and author.
    public private(set) var commentsByID: [Int: (issue: String, body: String)] = [:]
    private var commentAuthors: [Int: String] = [:]
    /// Each edit of a comment (`PATCH .../issues/comments/{id}`), in order.
    public private(set) var commentEdits: [(id: Int, body: String)] = []
    private var nextCommentID = 1001
    /// Requests to the git smart-HTTP endpoints (`/<owner>/<repo>.git/...`), with their Authorization header
    /// and, for a POST, the request body as text (the wants and haves of an upload-pack request).
    public private(set) var gitRequests: [Call] = []
    /// How long each git request waits before it is served (a slow link).
    private var gitDelay: Duration = .zero
    /// Folder holding `<owner>/<repo>.git` bare repositories served over git's smart HTTP protocol, as
    /// github.com serves clones; `nil` serves none.
    private let gitRoot: String?

    public init(gitRoot: String? = nil) {
        self.gitRoot = gitRoot
    }

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

    /// Posts a comment as a person (`login`), not as the runner.
    public func addComment(repo: String, number: Int, body: String, login: String = "maintainer") {
        let key = "\(repo)#\(number)"
        comments[key, default: []].append(body)
        let id = nextCommentID
        nextCommentID += 1
        commentsByID[id] = (key, body)
        commentAuthors[id] = login
    }

    /// Adds an open pull request (as if someone had opened it), `head` as `owner:branch`.
    public func addPullRequest(repo: String, head: String, base: String = "main", title: String = "existing") {
        pullRequests.append(
            PullRequest(
                number: 100 + pullRequests.count, repo: repo, head: head, base: base, title: title, body: "",
                draft: false))
    }

    /// The text of comment `id` now (after edits).
    public func comment(id: Int) -> String? { commentsByID[id]?.body }

    /// The edits of comment `id`, oldest first.
    public func edits(of id: Int) -> [String] { commentEdits.filter { $0.id == id }.map(\.body) }

    /// The id of the `index`th comment posted on an issue.
    public func commentID(repo: String, number: Int, index: Int) -> Int? {
        commentsByID.filter { $0.value.issue == "\(repo)#\(number)" }.keys.sorted().dropFirst(index).first
    }

    /// Calls other than reading an issue: what the runner changed on GitHub.
    public var writes: [Call] { calls.filter { $0.method != "GET" } }

    func handle(
        method: String, path: String, query: String = "", body: String, authorization: String?
    ) -> (Int, [String: String], String) {
        calls.append(Call(method: method, path: path, body: body, authorization: authorization, query: query))
        if var failure = failures["\(method) \(path)"], failure.remaining > 0 {
            failure.remaining -= 1
            failures["\(method) \(path)"] = failure
            return (failure.status, failure.headers, #"{"message":"injected failure"}"#)
        }
        // /repos/{owner}/{repo}/issues/comments/{id}
        let parts = path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        if parts.count == 4, parts[0] == "repos", parts[3] == "pulls" {
            return handlePulls(method: method, repo: "\(parts[1])/\(parts[2])", query: query, body: body)
        }
        if parts.count == 6, parts[0] == "repos", parts[3] == "issues", parts[4] == "comments", let id = Int(parts[5]) {
            guard method == "PATCH", var comment = commentsByID[id] else {
                return (404, [:], #"{"message":"Not Found"}"#)
            }
            let request = (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: String]
            comment.body = request?["body"] ?? ""
            commentsByID[id] = comment
            commentEdits.append((id, comment.body))
            return (200, [:], Self.json(["id": id, "body": comment.body]))
        }
        // /repos/{owner}/{repo}/issues/{n}[/labels[/{name}] | /comments]
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
            let text = request?["body"] ?? ""
            comments[key, default: []].append(text)
            let id = nextCommentID
            nextCommentID += 1
            commentsByID[id] = (key, text)
            return (201, [:], Self.json(["id": id, "body": text, "user": ["login": "claude-runner-bot"]]))
        case ("GET", "comments"):
            let list = commentsByID.filter { $0.value.issue == key }.sorted { $0.key < $1.key }.map {
                ["id": $0.key, "body": $0.value.body, "user": ["login": commentAuthors[$0.key] ?? "claude-runner-bot"]]
                    as [String: Any]
            }
            return (200, [:], Self.json(list))
        default:
            return (404, [:], #"{"message":"Not Found"}"#)
        }
    }

    /// `GET /repos/{o}/{r}/pulls?head=o:branch&state=open` and `POST /repos/{o}/{r}/pulls`.
    private func handlePulls(
        method: String, repo: String, query: String, body: String
    ) -> (Int, [String: String], String) {
        func json(_ pull: PullRequest) -> [String: Any] {
            ["number": pull.number, "html_url": pull.url, "draft": pull.draft, "title": pull.title]
        }
        switch method {
        case "GET":
            let parameters = Dictionary(
                query.split(separator: "&").map { item -> (String, String) in
                    let pair = item.split(separator: "=", maxSplits: 1).map(String.init)
                    return (pair[0], (pair.count > 1 ? pair[1] : "").removingPercentEncoding ?? "")
                }, uniquingKeysWith: { $1 })
            let open = pullRequests.filter {
                $0.repo == repo && (parameters["head"] == nil || $0.head == parameters["head"])
            }
            return (200, [:], Self.json(open.map(json)))
        case "POST":
            let request = (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] ?? [:]
            guard let head = request["head"] as? String, let base = request["base"] as? String,
                let title = request["title"] as? String
            else { return (422, [:], #"{"message":"Validation Failed"}"#) }
            let owner = repo.split(separator: "/").first.map(String.init) ?? ""
            let pull = PullRequest(
                number: 100 + pullRequests.count, repo: repo, head: head.contains(":") ? head : "\(owner):\(head)",
                base: base, title: title, body: request["body"] as? String ?? "",
                draft: request["draft"] as? Bool ?? false)
            pullRequests.append(pull)
            return (201, [:], Self.json(json(pull)))
        default:
            return (404, [:], #"{"message":"Not Found"}"#)
        }
    }

    func recordGitRequest(_ call: Call) -> Duration {
        gitRequests.append(call)
        return gitDelay
    }

    /// Makes every git request wait `delay` before it is served.
    public func setGitDelay(_ delay: Duration) { gitDelay = delay }

    /// Forgets the git requests recorded so far.
    public func clearGitRequests() { gitRequests.removeAll() }

    /// Runs `git http-backend` as a CGI program for one request.
    private nonisolated func serveGit(_ request: Request, body: ByteBuffer, root: String) async throws -> Response {
        let delay = await recordGitRequest(
            Call(
                method: request.method.rawValue, path: request.uri.path,
                body: request.method == .post ? String(decoding: body.readableBytesView, as: UTF8.self) : "",
                authorization: request.headers[.authorization]))
        if delay > .zero { try await Task.sleep(for: delay) }
        let bodyFile = NSTemporaryDirectory() + "fake-github-git-\(UUID().uuidString)"
        try Data(buffer: body).write(to: URL(fileURLWithPath: bodyFile))
        defer { try? FileManager.default.removeItem(atPath: bodyFile) }
        let output = try await Command.output(
            "sh", ["-c", "exec git http-backend < \"$0\"", bodyFile],
            environment: [
                "GIT_PROJECT_ROOT": root, "GIT_HTTP_EXPORT_ALL": "1", "REQUEST_METHOD": request.method.rawValue,
                "PATH_INFO": request.uri.path, "QUERY_STRING": request.uri.query ?? "",
                "CONTENT_TYPE": request.headers[.contentType] ?? "", "CONTENT_LENGTH": "\(body.readableBytes)",
                "REMOTE_ADDR": "127.0.0.1", "REMOTE_USER": "", "GIT_CONFIG_NOSYSTEM": "1",
            ])
        // CGI output: headers, a blank line, the body.
        let bytes = output.standardOutputBytes
        guard
            let blank = (0..<max(bytes.count - 1, 0)).first(where: {
                bytes[$0] == 10
                    && (bytes[$0 + 1] == 10 || (bytes[$0 + 1] == 13 && $0 + 2 < bytes.count && bytes[$0 + 2] == 10))
            })
        else { return Response(status: .internalServerError) }
        let bodyStart = bytes[blank + 1] == 10 ? blank + 2 : blank + 3
        var status = 200
        var headers: HTTPFields = [:]
        for line in String(decoding: bytes[..<blank], as: UTF8.self).split(whereSeparator: \.isNewline) {
            let parts = line.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2 else { continue }
            if parts[0].lowercased() == "status" {
                status = Int(parts[1].prefix(3)) ?? 200
            } else if let name = HTTPField.Name(parts[0]) {
                headers[name] = parts[1]
            }
        }
        return Response(
            status: .init(code: status), headers: headers,
            body: .init(byteBuffer: ByteBuffer(bytes: bytes[bodyStart...])))
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
        router.on("**", method: .patch) { request, context in try await self.respond(request, context) }
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
            guard let port = await iterator.next() else {
                throw Command.Failure(description: "fake GitHub did not start")
            }
            group.addTask { try await body("http://127.0.0.1:\(port)") }
            defer { group.cancelAll() }
            while let result = try await group.next() {
                if let result { return result }
            }
            throw Command.Failure(description: "fake GitHub stopped")
        }
    }

    private nonisolated func respond(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let buffer = try await request.body.collect(upTo: 64 << 20)
        if let gitRoot, request.uri.path.contains(".git/") {
            return try await serveGit(request, body: buffer, root: gitRoot)
        }
        let (status, headers, text) = await handle(
            method: request.method.rawValue, path: request.uri.path, query: request.uri.query ?? "",
            body: String(buffer: buffer), authorization: request.headers[.authorization])
        var response = Response(
            status: .init(code: status), headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(string: text)))
        for (name, value) in headers {
            if let field = HTTPField.Name(name) { response.headers[field] = value }
        }
        return response
    }
}
