import Foundation
import GRDB

/// The `runs` table: one column per field, times as integer milliseconds since the Unix epoch (UTC) so that
/// they sort, compare and group in SQL, and token usage as four integer columns so that it can be summed.
///
/// The mapping is written out rather than derived from `Codable`, because the JSON form nests `usage` and
/// writes times as text while the table does neither.
extension RunRecord: FetchableRecord, PersistableRecord {
    public static let databaseTableName = "runs"

    public enum Columns {
        public static let id = Column("id")
        public static let kind = Column("kind")
        public static let transport = Column("transport")
        public static let repo = Column("repo")
        public static let status = Column("status")
        public static let model = Column("model")
        public static let runner = Column("runner")
        public static let createdAt = Column("created_at")
        public static let endedAt = Column("ended_at")
        public static let costUSD = Column("cost_usd")
    }

    public init(row: Row) throws {
        self.init(
            id: try row.decode(forColumn: "id"),
            kind: try row.decode(forColumn: "kind"),
            transport: try row.decode(forColumn: "transport"),
            status: try row.decode(forColumn: "status"),
            createdAt: LedgerTime.date(milliseconds: try row.decode(forColumn: "created_at")),
            repo: try row.decode(forColumn: "repo"),
            ref: try row.decode(forColumn: "ref"),
            baseRef: try row.decode(forColumn: "base_ref"),
            event: try row.decode(forColumn: "event"),
            prNumber: try row.decode(forColumn: "pr_number"),
            issueNumber: try row.decode(forColumn: "issue_number"),
            model: try row.decode(forColumn: "model"),
            error: try row.decode(forColumn: "error"),
            startedAt: (try row.decode(Int64?.self, forColumn: "started_at")).map(LedgerTime.date(milliseconds:)),
            endedAt: (try row.decode(Int64?.self, forColumn: "ended_at")).map(LedgerTime.date(milliseconds:)),
            durationMs: try row.decode(forColumn: "duration_ms"),
            exitCode: try row.decode(forColumn: "exit_code"),
            sessionId: try row.decode(forColumn: "session_id"),
            costUSD: try row.decode(forColumn: "cost_usd"),
            numTurns: try row.decode(forColumn: "num_turns"),
            usage: Usage(
                inputTokens: try row.decode(forColumn: "input_tokens"),
                outputTokens: try row.decode(forColumn: "output_tokens"),
                cacheReadInputTokens: try row.decode(forColumn: "cache_read_input_tokens"),
                cacheCreationInputTokens: try row.decode(forColumn: "cache_creation_input_tokens")),
            permissionDenials: try row.decode(forColumn: "permission_denials"),
            pullRequest: try row.decode(forColumn: "pull_request"),
            runner: try row.decode(forColumn: "runner"),
            workspaceSource: try row.decode(forColumn: "workspace_source"),
            workspaceMs: try row.decode(forColumn: "workspace_ms"),
            deliveries: try row.decode(forColumn: "deliveries"))
        if usage?.isEmpty == true { usage = nil }
    }

    public func encode(to container: inout PersistenceContainer) throws {
        for (name, value) in zip(Self.columnNames, columnValues) { container[name] = value }
    }

    /// The columns of `runs`, in the order of ``columnValues``.
    static let columnNames = [
        "id", "kind", "transport", "repo", "ref", "base_ref", "event", "pr_number", "issue_number", "model", "status",
        "error", "created_at", "started_at", "ended_at", "duration_ms", "exit_code", "session_id", "cost_usd",
        "num_turns", "input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens",
        "permission_denials", "pull_request", "runner", "workspace_source", "workspace_ms", "deliveries",
    ]

    /// The record's values, column by column (``columnNames``): what a save binds, without building a
    /// dictionary of them first.
    var columnValues: [(any DatabaseValueConvertible)?] {
        [
            id, kind, transport, repo, ref, baseRef, event, prNumber, issueNumber, model, status, error,
            LedgerTime.milliseconds(createdAt), startedAt.map(LedgerTime.milliseconds),
            endedAt.map(LedgerTime.milliseconds), durationMs, exitCode, sessionId, costUSD, numTurns,
            usage?.inputTokens, usage?.outputTokens, usage?.cacheReadInputTokens, usage?.cacheCreationInputTokens,
            permissionDenials, pullRequest, runner, workspaceSource, workspaceMs, deliveries,
        ]
    }
}

/// Times as the ledger keeps them: whole milliseconds since the Unix epoch.
enum LedgerTime {
    static func milliseconds(_ date: Date) -> Int64 {
        Int64((date.timeIntervalSince1970 * 1000).rounded())
    }

    static func date(milliseconds: Int64) -> Date {
        Date(timeIntervalSince1970: Double(milliseconds) / 1000)
    }

    /// `date` rounded to the millisecond, as it comes back from the database.
    static func rounded(_ date: Date) -> Date {
        self.date(milliseconds: milliseconds(date))
    }

    /// RFC 3339 UTC with milliseconds (`2026-05-01T10:00:00.950Z`), computed from whole milliseconds: formatting
    /// the fraction of a `Date` directly can print one millisecond less (binary floating point).
    static func string(_ date: Date) -> String {
        let milliseconds = milliseconds(date)
        let (seconds, fraction) = milliseconds.quotientAndRemainder(dividingBy: 1000)
        let whole = fraction < 0 ? (seconds - 1, fraction + 1000) : (seconds, fraction)
        let text = Date.ISO8601FormatStyle().format(Date(timeIntervalSince1970: Double(whole.0)))
        let digits = String(whole.1)
        return text.dropLast() + "." + String(repeating: "0", count: 3 - digits.count) + digits + "Z"
    }
}

extension RunRecord.Kind: DatabaseValueConvertible {}
extension RunRecord.Transport: DatabaseValueConvertible {}
extension RunRecord.Status: DatabaseValueConvertible {}
extension RunRecord.WorkspaceSource: DatabaseValueConvertible {}
