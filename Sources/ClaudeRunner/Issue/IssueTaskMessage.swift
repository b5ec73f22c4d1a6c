import Foundation

/// A claimed issue task as it travels through a durable queue (JetStream, spec section 14): everything a
/// runner that did not claim it needs to run it — the request, the attempt id, the claim comment, the
/// model and the issue itself (re-validating it would fail: it is claimed by now).
public struct IssueTaskMessage: Codable, Sendable, Equatable {
    public var request: RunIssueRequest
    public var attemptID: String
    public var claimCommentID: Int?
    public var model: String?
    public var modelLabel: String?
    public var issue: GitHubIssue
    public var transport: RunTransport
    /// The runner that claimed it.
    public var acceptedBy: String
    public var acceptedAt: String

    public init(
        request: RunIssueRequest, attemptID: String, claimCommentID: Int?, model: String?, modelLabel: String?,
        issue: GitHubIssue, transport: RunTransport, acceptedBy: String, acceptedAt: String
    ) {
        self.request = request
        self.attemptID = attemptID
        self.claimCommentID = claimCommentID
        self.model = model
        self.modelLabel = modelLabel
        self.issue = issue
        self.transport = transport
        self.acceptedBy = acceptedBy
        self.acceptedAt = acceptedAt
    }

    enum CodingKeys: String, CodingKey {
        case request, model, issue, transport
        case attemptID = "attempt_id"
        case claimCommentID = "claim_comment_id"
        case modelLabel = "model_label"
        case acceptedBy = "accepted_by"
        case acceptedAt = "accepted_at"
    }
}

/// Where claimed issue tasks go to be run by any runner of the edge, instead of this runner's background
/// work: a durable queue.
public protocol DurableIssueQueue: Sendable {
    /// Checks, before anything is claimed, that the queue can take one task more.
    /// - Throws: ``RunnerError`` `.unavailable` naming the problem (the queue is full or cannot be reached):
    ///   the issue is then left as it is and the caller may retry later.
    func checkRoom() async throws

    /// Puts the task in the queue; returns once the queue has stored it (the caller answers only then).
    func enqueue(_ message: IssueTaskMessage) async throws
}

/// How a task came to this runner: which delivery it is.
public struct TaskDelivery: Sendable, Equatable {
    /// 1 for the first delivery.
    public var count: Int
    public var maxDeliveries: Int

    public init(count: Int, maxDeliveries: Int) {
        self.count = count
        self.maxDeliveries = maxDeliveries
    }

    public var isRedelivery: Bool { count > 1 }
    public var isLast: Bool { count >= maxDeliveries }
}

/// What became of a delivered task, for the queue to acknowledge it accordingly.
public enum DeliveredTaskOutcome: Sendable, Equatable {
    /// The attempt ran to its end and was reported (`completed` says how it went).
    case reported(completed: Bool)
    /// An earlier delivery had already posted the attempt's final comment: nothing was run.
    case alreadyReported
    /// The runner stopped before the attempt ended; nothing was reported: another delivery runs it.
    case requeue
    /// This delivery is not the task's current one (another runner took it over while this one could not
    /// acknowledge it, or this runner is still running an earlier delivery): left alone, reported by the other.
    case superseded
    /// The message cannot be a task (bad JSON, a repo that fails validation): never run, never redelivered.
    case invalid(String)
}
