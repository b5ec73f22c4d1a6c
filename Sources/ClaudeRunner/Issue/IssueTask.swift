/// An issue that passed validation and was claimed: everything the background phase needs.
public struct IssueTask: Sendable {
    /// The attempt's run: its id is the attempt id.
    public let execution: RunExecution
    public let repo: RepoReference
    public let issue: GitHubIssue
    public let ref: String?
    public let model: String?
    public let modelLabel: String?
    public let workspace: IssueWorkspace
    /// The claim comment's text and id: the runner edits it in place with the attempt's progress.
    public var claimText: String
    public let claimCommentID: Int?
    /// Which delivery of a durable task this attempt is (`nil`: not from a durable queue).
    public var delivery: TaskDelivery? = nil

    public var attemptID: String { execution.id }

    /// The Result the sync phase returns: `Issue owner/repo#N accepted; ...`.
    public var acceptedResult: RunResult {
        RunResult(id: attemptID, output: IssueText.acceptedOutput(repo: repo.fullName, number: issue.number))
    }
}

/// How an issue attempt ended.
public struct IssueOutcome: Sendable, Equatable {
    public var status: String
    public var errorType: String?
    /// The failure detail as recorded (sanitised, redacted).
    public var detail: String?
    public var commit: String?

    /// The runner stopped before the attempt ended and reported nothing: the task goes back to its queue.
    public var requeued = false
    /// Another delivery of the durable task took over while this runner could not acknowledge it: this
    /// attempt stopped and reported nothing; the other runner reports it.
    public var superseded = false

    public var completed: Bool { status == IssueAttemptStatus.completed }
}
