import ClaudeRunner
import Foundation

/// The run-control calls of `claude-runner-client runs|show|logs|cancel|usage`, over either transport.
///
/// Errors are thrown with the message to show (`run not found: <id>`, `run <id> has already ended:
/// completed`), the same over both transports.
public protocol RunControlClient: Sendable {
    /// Recorded runs, newest first, at most `query.limit`; over NATS, those of every runner of the edge.
    func listRuns(_ query: RunQuery) async throws -> RunList
    /// One run's record.
    func runRecord(_ id: String) async throws -> RunRecord
    /// Asks the run's runner to stop it; it ends `cancelled`.
    func cancelRun(_ id: String) async throws
    /// Usage summed over the ledger (over NATS, merged over every runner of the edge).
    func usage(_ query: UsageQuery) async throws -> UsageSummary
    /// Passes the run's progress events to `onEvent` from its start: with `follow`, a run in progress is
    /// followed until it ends; without, only the events sent so far.
    func runEvents(_ id: String, follow: Bool, onEvent: @escaping @Sendable (RunEvent) -> Void) async throws
}

/// Runs as `runs` lists them.
public struct RunList: Sendable {
    public var runs: [RunRecord]
    /// Problems some runners answered with while others answered (NATS), to show as warnings.
    public var warnings: [String]

    public init(runs: [RunRecord], warnings: [String] = []) {
        self.runs = runs
        self.warnings = warnings
    }
}

/// A usage report, and which runners it sums.
public struct UsageSummary: Sendable {
    public var report: UsageReport
    /// The runners whose ledgers are summed (NATS); empty over HTTP.
    public var runners: [String]
    public var warnings: [String]

    public init(report: UsageReport, runners: [String] = [], warnings: [String] = []) {
        self.report = report
        self.runners = runners
        self.warnings = warnings
    }
}

/// A run-control call that failed; the description is the message to show.
public struct RunControlFailure: Error, Sendable, CustomStringConvertible {
    public let description: String

    public init(_ description: String) {
        self.description = description
    }
}

extension RunQuery {
    /// The query as request parameters (`status`, `kind`, `repo`, `limit`, `before`).
    public var parameters: [String: String] {
        var parameters = ["limit": String(limit)]
        if let status { parameters["status"] = status.rawValue }
        if let kind { parameters["kind"] = kind.rawValue }
        if let repo { parameters["repo"] = repo }
        if let before { parameters["before"] = before }
        return parameters
    }
}

extension UsageQuery {
    /// The query as request parameters, `since` as an RFC 3339 time (so every runner sums the same window).
    public var parameters: [String: String] {
        ["since": Timestamp.string(from: since), "by": by.rawValue]
    }
}
