import Foundation

/// `.claude-runner/state.json`: the latest attempt of an issue task.
public struct IssueTaskState: Codable, Sendable, Equatable {
    public var taskID: String
    public var repo: String
    public var issueNumber: Int
    public var lastAttemptID: String
    public var lastStatus: String
    public var lastErrorType: String?
    public var lastCommit: String?
    public var updatedAt: String
    /// The latest attempt's delivery and session (spec section 12).
    public var branch: String?
    public var commit: String?
    public var pullRequest: String?
    public var sessionID: String?
    public var costUSD: Double?
    public var numTurns: Int?

    enum CodingKeys: String, CodingKey {
        case taskID = "task_id"
        case repo
        case issueNumber = "issue_number"
        case lastAttemptID = "last_attempt_id"
        case lastStatus = "last_status"
        case lastErrorType = "last_error_type"
        case lastCommit = "last_commit"
        case updatedAt = "updated_at"
        case branch, commit
        case pullRequest = "pull_request"
        case sessionID = "session_id"
        case costUSD = "cost_usd"
        case numTurns = "num_turns"
    }
}

/// `.claude-runner/attempts/<attempt-id>.json`: one attempt, kept across attempts until cleanup.
public struct IssueAttemptRecord: Codable, Sendable, Equatable {
    public var attemptID: String
    public var taskID: String
    public var repo: String
    public var issueNumber: Int
    public var startedAt: String
    public var endedAt: String?
    public var status: String
    public var errorType: String?
    public var errorDetail: String?
    public var branch: String?
    public var commit: String?
    public var model: String?
    public var modelLabel: String?
    public var sessionID: String?
    public var costUSD: Double?
    public var numTurns: Int?
    public var pullRequest: String?
    /// The branch and commit the clone started from (the pull request's base; a resumed attempt's start).
    public var baseBranch: String?
    public var baseCommit: String?
    /// The runner stopped (or was killed) after this attempt's records were final but before its final
    /// comment was known to be posted: crash recovery posts it. `nil` in records of older versions.
    public var reported: Bool?

    enum CodingKeys: String, CodingKey {
        case attemptID = "attempt_id"
        case taskID = "task_id"
        case repo
        case issueNumber = "issue_number"
        case startedAt = "started_at"
        case endedAt = "ended_at"
        case status
        case errorType = "error_type"
        case errorDetail = "error_detail"
        case branch, commit, model
        case modelLabel = "model_label"
        case sessionID = "session_id"
        case costUSD = "cost_usd"
        case numTurns = "num_turns"
        case pullRequest = "pull_request"
        case baseBranch = "base_branch"
        case baseCommit = "base_commit"
        case reported
    }
}

/// `.claude-runner/lock.json`: who is working on the task now.
public struct IssueLockRecord: Codable, Sendable, Equatable {
    public var attemptID: String
    public var pid: Int
    public var startedAt: String
    /// The `claude` process (and process group) of the attempt, once started: crash recovery stops it.
    public var claudePID: Int?
    /// Rewritten while the attempt runs; a lock is stale only when this too is older than the lifetime.
    public var heartbeatAt: String?
    /// The machine of `pid`: a lock of a process that is gone from this machine is stale at once.
    public var host: String?

    public init(
        attemptID: String, pid: Int, startedAt: String, claudePID: Int? = nil, heartbeatAt: String? = nil,
        host: String? = nil
    ) {
        self.attemptID = attemptID
        self.pid = pid
        self.startedAt = startedAt
        self.claudePID = claudePID
        self.heartbeatAt = heartbeatAt
        self.host = host
    }

    /// Whether the holder was a process on this machine that is gone (a runner killed, its task taken up
    /// by another runner here): such a lock protects nothing.
    public var isOrphaned: Bool {
        guard let host, host == ProcessInfo.processInfo.hostName, pid != Int(getpid()) else { return false }
        return !RunnerService.processIsAlive(pid)
    }

    /// The latest sign of life: the heartbeat, else the start.
    public var lastSeen: Date? {
        [startedAt, heartbeatAt].compactMap { $0.flatMap(Timestamp.date(from:)) }.max()
    }

    enum CodingKeys: String, CodingKey {
        case attemptID = "attempt_id"
        case pid
        case startedAt = "started_at"
        case claudePID = "claude_pid"
        case heartbeatAt = "heartbeat_at"
        case host
    }
}

/// Attempt statuses and error types, as written to the records.
public enum IssueAttemptStatus {
    public static let running = "running"
    public static let completed = "completed"
    public static let failed = "failed"
}

public enum IssueErrorType {
    public static let cloneFailed = "clone_failed"
    public static let claudeFailed = "claude_failed"
    public static let execError = "exec_error"
    public static let locked = "locked"
    public static let interrupted = "interrupted"
    public static let cancelled = "cancelled"
    public static let noChanges = "no_changes"
    public static let permissionDenied = "permission_denied"
    public static let pushFailed = "push_failed"
}
