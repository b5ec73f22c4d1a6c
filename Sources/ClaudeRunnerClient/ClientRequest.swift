import ClaudeRunner
import Foundation

/// What the client sends, chosen by `--event` as the original client does: `issue` sends RunIssue,
/// `issue-closed` sends CleanupIssue, anything else sends Run (and then a prompt is required).
public enum ClientRequest: Sendable, Equatable {
    case run(RunRequest)
    case runIssue(RunIssueRequest)
    case cleanupIssue(CleanupIssueRequest)

    public struct Fields: Sendable {
        public var prompt: String?
        public var repo: String?
        public var ref: String?
        public var baseRef: String?
        public var event: String?
        public var prNumber: Int?
        public var issueNumber: Int?

        public init(
            prompt: String? = nil, repo: String? = nil, ref: String? = nil, baseRef: String? = nil,
            event: String? = nil, prNumber: Int? = nil, issueNumber: Int? = nil
        ) {
            self.prompt = prompt
            self.repo = repo
            self.ref = ref
            self.baseRef = baseRef
            self.event = event
            self.prNumber = prNumber
            self.issueNumber = issueNumber
        }
    }

    public struct MissingPrompt: Error, CustomStringConvertible {
        public var description: String { "--prompt is required unless --event=issue or issue-closed" }
    }

    public init(_ fields: Fields) throws {
        switch fields.event {
        case "issue":
            self = .runIssue(
                RunIssueRequest(repo: fields.repo ?? "", ref: fields.ref, issueNumber: fields.issueNumber ?? 0))
        case "issue-closed":
            self = .cleanupIssue(CleanupIssueRequest(repo: fields.repo ?? "", issueNumber: fields.issueNumber ?? 0))
        default:
            guard let prompt = fields.prompt, !prompt.isEmpty else { throw MissingPrompt() }
            self = .run(
                RunRequest(
                    prompt: prompt, repo: fields.repo, ref: fields.ref, baseRef: fields.baseRef, event: fields.event,
                    prNumber: fields.prNumber))
        }
    }

    /// The operation's name: the HTTP route `/api/<name>` and the NATS subject suffix.
    public var operation: String {
        switch self {
        case .run: "run"
        case .runIssue: "run-issue"
        case .cleanupIssue: "cleanup-issue"
        }
    }

    public func jsonBody() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        switch self {
        case .run(let request): return try encoder.encode(request)
        case .runIssue(let request): return try encoder.encode(request)
        case .cleanupIssue(let request): return try encoder.encode(request)
        }
    }
}
