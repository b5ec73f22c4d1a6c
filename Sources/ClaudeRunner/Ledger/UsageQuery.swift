import Foundation

/// What to sum: runs created since ``since``, grouped ``by`` repo, UTC day, model or kind.
///
/// As with ``RunQuery``, parsing and its error messages live here for both transports.
public struct UsageQuery: Sendable, Equatable {
    public var since: Date
    public var by: Grouping

    public enum Grouping: String, Codable, Sendable, CaseIterable {
        case repo
        /// The UTC day the run was created, `YYYY-MM-DD`.
        case day
        case model
        case kind
    }

    /// When no `since` is given: the last 7 days.
    public static let defaultWindow: Duration = .seconds(7 * 86_400)

    public init(since: Date, by: Grouping = .repo) {
        self.since = since
        self.by = by
    }

    /// A query from request parameters `since` (RFC 3339, `YYYY-MM-DD` for midnight UTC, or a duration back
    /// from `now` such as `7d`, `24h`, `30m`; default 7 days) and `by` (default `repo`).
    public init(parameters: [String: String], now: Date = Date()) throws(RunnerError) {
        let parameters = parameters.filter { !$0.value.isEmpty }
        var since = now.addingTimeInterval(-Self.defaultWindow.seconds)
        if let text = parameters["since"] { since = try Self.parseSince(text, now: now) }
        var by = Grouping.repo
        if let text = parameters["by"] { by = try RunQuery.parseEnum("by", text) }
        self.init(since: since, by: by)
    }

    /// A query from a JSON object such as `{"since": "7d", "by": "model"}`; an empty body is the default query.
    public init(json: Data, now: Date = Date()) throws(RunnerError) {
        try self.init(parameters: try LedgerParameters.decode(json), now: now)
    }

    /// `since` as the API accepts it: an RFC 3339 time, a `YYYY-MM-DD` date (midnight UTC), or a duration
    /// back from `now`.
    public static func parseSince(_ text: String, now: Date) throws(RunnerError) -> Date {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if let date = Timestamp.date(from: trimmed) { return date }
        if let date = UTCDay.date(from: trimmed) { return date }
        if let back = ConfigDuration.parse(trimmed) { return now.addingTimeInterval(-back.seconds) }
        throw RunQuery.invalid(
            "since", text,
            "expected an RFC 3339 time such as 2026-05-01T00:00:00Z or a duration back from now such as 7d, 24h or 30m"
        )
    }
}

/// Sums over a set of runs: the `rows` of a usage report and its `total`.
public struct UsageRow: Codable, Sendable, Equatable {
    /// The group's value (a repo, a day, a model, a kind); absent for runs that have none (a run without a
    /// repo, a model never reported) and in the total.
    public var key: String?
    public var runs: Int
    public var costUSD: Double
    public var inputTokens: Int
    public var outputTokens: Int
    public var numTurns: Int

    public init(
        key: String? = nil, runs: Int = 0, costUSD: Double = 0, inputTokens: Int = 0, outputTokens: Int = 0,
        numTurns: Int = 0
    ) {
        self.key = key
        self.runs = runs
        self.costUSD = costUSD
        self.inputTokens = inputTokens
        self.outputTokens = outputTokens
        self.numTurns = numTurns
    }

    enum CodingKeys: String, CodingKey {
        case key, runs
        case costUSD = "cost_usd"
        case inputTokens = "input_tokens"
        case outputTokens = "output_tokens"
        case numTurns = "num_turns"
    }

    /// Adds another row's sums to this one's (the key stays).
    public mutating func add(_ other: UsageRow) {
        runs += other.runs
        costUSD += other.costUSD
        inputTokens += other.inputTokens
        outputTokens += other.outputTokens
        numTurns += other.numTurns
    }
}

/// `{"since", "by", "rows": [...], "total": {...}}`: the answer to a ``UsageQuery``.
///
/// Rows are ordered by day for ``UsageQuery/Grouping/day``, else by cost, highest first.
public struct UsageReport: Codable, Sendable, Equatable {
    public var since: Date
    public var by: UsageQuery.Grouping
    public var rows: [UsageRow]
    public var total: UsageRow

    public init(since: Date, by: UsageQuery.Grouping, rows: [UsageRow]) {
        self.since = since
        self.by = by
        self.rows = Self.ordered(rows, by: by)
        var total = UsageRow()
        for row in rows { total.add(row) }
        self.total = total
    }

    /// One report from several runners' reports for the same query (the NATS scatter-gather): rows with the
    /// same key are summed. `nil` when there are none.
    public static func merging(_ reports: [UsageReport]) -> UsageReport? {
        guard let first = reports.first else { return nil }
        var byKey: [String?: UsageRow] = [:]
        for row in reports.flatMap(\.rows) {
            byKey[row.key, default: UsageRow(key: row.key)].add(row)
        }
        return UsageReport(since: first.since, by: first.by, rows: Array(byKey.values))
    }

    static func ordered(_ rows: [UsageRow], by: UsageQuery.Grouping) -> [UsageRow] {
        rows.sorted { left, right in
            if by != .day, left.costUSD != right.costUSD { return left.costUSD > right.costUSD }
            // Rows without a key go last.
            switch (left.key, right.key) {
            case (let l?, let r?): return l < r
            case (.some, nil): return true
            default: return false
            }
        }
    }

    enum CodingKeys: String, CodingKey { case since, by, rows, total }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let text = try container.decode(String.self, forKey: .since)
        guard let since = Timestamp.date(from: text) else {
            throw DecodingError.dataCorruptedError(
                forKey: .since, in: container, debugDescription: "expected an RFC 3339 time, got \"\(text)\"")
        }
        self.since = LedgerTime.rounded(since)
        self.by = try container.decode(UsageQuery.Grouping.self, forKey: .by)
        self.rows = try container.decode([UsageRow].self, forKey: .rows)
        self.total = try container.decode(UsageRow.self, forKey: .total)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(LedgerTime.string(since), forKey: .since)
        try container.encode(by, forKey: .by)
        try container.encode(rows, forKey: .rows)
        try container.encode(total, forKey: .total)
    }

    /// The report's API JSON.
    public func encodeJSON() throws -> Data {
        try RunRecord.jsonEncoder.encode(self)
    }
}

/// UTC calendar days: the `day` usage key and the daily budget's window.
public enum UTCDay {
    /// 00:00 UTC of the day `date` falls in.
    public static func start(of date: Date) -> Date {
        let seconds = date.timeIntervalSince1970
        return Date(timeIntervalSince1970: (seconds / 86_400).rounded(.down) * 86_400)
    }

    /// The next 00:00 UTC after `date` (when a spent daily budget is available again).
    public static func nextStart(after date: Date) -> Date {
        start(of: date).addingTimeInterval(86_400)
    }

    /// `YYYY-MM-DD` as midnight UTC, or nil.
    public static func date(from text: String) -> Date? {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
            let year = Int(parts[0]), let month = Int(parts[1]), let day = Int(parts[2]),
            (1...12).contains(month), (1...31).contains(day)
        else { return nil }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let components = DateComponents(year: year, month: month, day: day)
        guard let date = calendar.date(from: components),
            calendar.component(.day, from: date) == day
        else { return nil }
        return date
    }
}

extension Duration {
    /// The duration in seconds, as a `TimeInterval`.
    fileprivate var seconds: TimeInterval {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
