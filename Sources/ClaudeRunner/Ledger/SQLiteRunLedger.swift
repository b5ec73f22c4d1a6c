import Foundation
import GRDB
import Logging
import Synchronization

/// The run ledger in an SQLite database (WAL mode, through a GRDB `DatabasePool`: reads run beside the one
/// writer), with each run's transcript in `transcripts/<id>.ndjson` beside the database.
///
/// This is the one type that touches SQL. Open it with ``open(path:maxTranscriptBytes:logger:)``, which
/// replaces a corrupt database instead of failing.
public final class SQLiteRunLedger: RunLedger {
    /// The database file.
    public let path: String
    /// Where the transcripts are, `<database folder>/transcripts`.
    public let transcriptDirectory: String
    public let maxTranscriptBytes: Int

    private let pool: DatabasePool
    private let logger: Logger
    /// Whether a sweep has looked for transcripts whose run is gone (once per open is enough).
    private let orphansSwept = Mutex(false)
    /// Writes the open transcripts' batches.
    private let flusher = TranscriptFlusher()
    /// Starts the writes of what ``saveLater(_:)`` took, a moment after the first of them (its own queue, so
    /// that a busy shared pool never holds them back).
    private let saveTimer = DispatchQueue(label: "claude-runner.ledger.saves")
    /// What ``saveLater(_:)`` took and the writer has not written yet.
    private let pending = Mutex(PendingSaves())

    /// The newest record of each run waiting to be written, in the order the runs first came.
    private struct PendingSaves {
        var records: [String: RunRecord] = [:]
        var order: [String] = []
        /// A drain is on its way: its timer is armed, or it is queued on or running on the writer. It is cleared
        /// only once nothing is pending.
        var draining = false

        mutating func take() -> [RunRecord] {
            let batch = order.compactMap { records[$0] }
            records.removeAll(keepingCapacity: true)
            order.removeAll(keepingCapacity: true)
            return batch
        }
    }

    init(path: String, pool: DatabasePool, transcriptDirectory: String, maxTranscriptBytes: Int, logger: Logger) {
        self.path = path
        self.pool = pool
        self.transcriptDirectory = transcriptDirectory
        self.maxTranscriptBytes = maxTranscriptBytes
        self.logger = logger
    }

    /// Opens the ledger described by the config's `ledger.*` keys.
    public static func open(
        settings: RunnerConfig.LedgerSettings, logger: Logger
    ) throws(LedgerError) -> SQLiteRunLedger {
        try open(path: settings.path, maxTranscriptBytes: settings.maxTranscriptBytes, logger: logger)
    }

    // MARK: Writes

    public func insert(_ record: RunRecord) async throws {
        try Self.checkID(record.id)
        let record = record.normalized()
        do {
            try await write { db in try record.insert(db) }
        } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_PRIMARYKEY {
            throw LedgerError.duplicateRun(record.id)
        } catch {
            throw Self.failure("record run \(record.id)", error)
        }
    }

    public func save(_ record: RunRecord) async throws {
        try Self.checkID(record.id)
        let record = record.normalized()
        do {
            try await write { db in try Self.saveRow(record, db) }
        } catch {
            throw Self.failure("save run \(record.id)", error)
        }
    }

    public func saveLater(_ record: RunRecord) {
        guard ULID.isValid(record.id) else {
            logger.warning("not recording a run whose id is not a ULID", metadata: ["run": "\(record.id)"])
            return
        }
        let record = record.normalized()
        let startDrain = pending.withLock { pending in
            if pending.records.updateValue(record, forKey: record.id) == nil { pending.order.append(record.id) }
            defer { pending.draining = true }
            return !pending.draining
        }
        guard startDrain else { return }
        // A moment's wait, so that the saves of a short run (queued, running, ended) share a transaction and
        // those of many runs share one under load; reads and other writes never wait for it, they write what
        // is pending first.
        saveTimer.asyncAfter(deadline: .now() + Self.saveDelay) { [self] in drainLater() }
    }

    static let saveDelay = DispatchTimeInterval.milliseconds(50)

    /// Writes one batch (everything pending), then waits ``saveDelay`` again before the next one if saves came
    /// meanwhile: under a steady stream of runs, one transaction then holds the saves of many runs rather than
    /// the writer committing each run's saves as soon as the last commit is done.
    private func drainLater() {
        pool.asyncWriteWithoutTransaction { [self] db in
            let batch: [RunRecord] = pending.withLock { pending in
                let batch = pending.take()
                if batch.isEmpty { pending.draining = false }
                return batch
            }
            guard !batch.isEmpty else { return }
            do {
                try db.inTransaction {
                    try savePending(batch, db)
                    return .commit
                }
            } catch {
                logger.warning(
                    "cannot record runs", metadata: ["runs": "\(batch.map(\.id))", "reason": "\(error)"])
            }
            // Saves that came meanwhile keep the drain going, after another delay.
            let more = pending.withLock { pending in
                pending.draining = !pending.order.isEmpty
                return pending.draining
            }
            if more { saveTimer.asyncAfter(deadline: .now() + Self.saveDelay) { [self] in drainLater() } }
        }
    }

    /// Writes what ``saveLater(_:)`` left pending, inside the caller's transaction, so that every other read
    /// and write sees the runs as they were last saved.
    private func savePending(_ db: Database) throws {
        let batch = pending.withLock { $0.take() }
        if !batch.isEmpty { try savePending(batch, db) }
    }

    private func savePending(_ batch: [RunRecord], _ db: Database) throws {
        for record in batch {
            do {
                try Self.saveRow(record, db)
            } catch let error as DatabaseError where error.resultCode == .SQLITE_CONSTRAINT {
                logger.warning("cannot record a run", metadata: ["run": "\(record.id)", "reason": "\(error)"])
            }
        }
    }

    /// Waits until what ``saveLater(_:)`` took is written; reads call it first.
    private func settle() async throws {
        guard pending.withLock({ $0.draining }) else { return }
        try await write { _ in }
    }

    /// One cached statement (runs are saved several times each): the columns are those the record encodes.
    private static func saveRow(_ record: RunRecord, _ db: Database) throws {
        let statement = try db.cachedStatement(sql: saveRowSQL)
        try statement.execute(arguments: StatementArguments(record.columnValues))
    }

    private static let saveRowSQL = saveSQL(columns: RunRecord.columnNames)

    /// Inserts a run, or replaces `columns` of the one with its id (the usage triggers see an update).
    static func saveSQL(columns: [String]) -> String {
        "INSERT INTO runs (\(columns.joined(separator: ", "))) VALUES ("
            + Array(repeating: "?", count: columns.count).joined(separator: ", ") + ") ON CONFLICT(id) DO UPDATE SET "
            + columns.filter { $0 != "id" }.map { "\($0) = excluded.\($0)" }.joined(separator: ", ")
    }

    @discardableResult
    public func update(
        _ id: String, _ change: @escaping @Sendable (inout RunRecord) -> Void
    ) async throws
        -> RunRecord?
    {
        do {
            return try await write { db in
                guard var record = try RunRecord.fetchOne(db, key: id) else { return nil }
                change(&record)
                record = record.normalized()
                try record.update(db)
                return record
            }
        } catch {
            throw Self.failure("update run \(id)", error)
        }
    }

    @discardableResult
    public func markInterrupted(runner: String?) async throws -> [String] {
        let now = LedgerTime.milliseconds(Date())
        do {
            return try await write { db in
                var condition = "status IN ('queued', 'running')"
                var arguments: StatementArguments = []
                if let runner {
                    condition += " AND runner = ?"
                    arguments += [runner]
                }
                let ids = try String.fetchAll(
                    db, sql: "SELECT id FROM runs WHERE \(condition) ORDER BY id", arguments: arguments)
                try db.execute(
                    sql: """
                        UPDATE runs SET status = 'interrupted', ended_at = ?,
                            duration_ms = CASE WHEN started_at IS NULL THEN duration_ms ELSE ? - started_at END,
                            error = COALESCE(error, 'interrupted: the runner stopped before the run ended')
                        WHERE \(condition)
                        """, arguments: StatementArguments([now, now]) + arguments)
                return ids
            }
        } catch {
            throw Self.failure("mark unfinished runs interrupted", error)
        }
    }

    @discardableResult
    public func sweep(olderThan date: Date) async throws -> Int {
        let cutoff = LedgerTime.milliseconds(date)
        var deleted = 0
        do {
            // In batches, so that runs being recorded meanwhile never wait long for the writer; a cancelled
            // sweep (shutdown) stops between batches.
            while true {
                try Task.checkCancellation()
                let ids = try await write { db in
                    let ids = try String.fetchAll(
                        db, sql: "SELECT id FROM runs WHERE created_at < ? ORDER BY created_at LIMIT ?",
                        arguments: [cutoff, Self.sweepBatch])
                    if !ids.isEmpty { try RunRecord.deleteAll(db, keys: ids) }
                    return ids
                }
                for id in ids { try? FileManager.default.removeItem(atPath: transcriptPath(id)) }
                deleted += ids.count
                if ids.count < Self.sweepBatch { break }
            }
        } catch {
            throw Self.failure("delete runs older than \(Timestamp.string(from: date))", error)
        }
        let sweepOrphans = orphansSwept.withLock { done in
            defer { done = true }
            return !done
        }
        if sweepOrphans { removeTranscripts(modifiedBefore: date) }
        return deleted
    }

    /// Transcripts whose run is gone without them (a database replaced after corruption, a crash between
    /// deleting a run and its file): a transcript last written before the cutoff belongs to a run created
    /// before it.
    private func removeTranscripts(modifiedBefore date: Date) {
        let files = FileManager.default
        guard let names = try? files.contentsOfDirectory(atPath: transcriptDirectory) else { return }
        for name in names where name.hasSuffix(".ndjson") {
            let file = (transcriptDirectory as NSString).appendingPathComponent(name)
            guard let modified = try? files.attributesOfItem(atPath: file)[.modificationDate] as? Date,
                modified < date
            else { continue }
            try? files.removeItem(atPath: file)
        }
    }

    // MARK: Reads

    public func get(_ id: String) async throws -> RunRecord? {
        do {
            try await settle()
            return try await pool.read { db in try RunRecord.fetchOne(db, key: id) }
        } catch {
            throw Self.failure("read run \(id)", error)
        }
    }

    public func list(_ query: RunQuery) async throws -> [RunRecord] {
        var request = RunRecord.all()
        if let status = query.status { request = request.filter(RunRecord.Columns.status == status) }
        if let kind = query.kind { request = request.filter(RunRecord.Columns.kind == kind) }
        if let repo = query.repo { request = request.filter(RunRecord.Columns.repo == repo) }
        if let before = query.before { request = request.filter(RunRecord.Columns.id < before) }
        let page = request.order(RunRecord.Columns.id.desc).limit(query.limit)
        do {
            try await settle()
            return try await pool.read { db in try page.fetchAll(db) }
        } catch {
            throw Self.failure("list runs", error)
        }
    }

    /// Whole days come from the `usage_days` sums the triggers keep; the runs of the day `since` falls in, from
    /// `since` on, are summed from `runs` (the same way, costs rounded to millionths of a dollar).
    public func usage(_ query: UsageQuery) async throws -> UsageReport {
        let (daysKey, runsKey) =
            switch query.by {
            case .repo: ("NULLIF(repo, '')", "NULLIF(repo, '')")
            case .model: ("NULLIF(model, '')", "NULLIF(model, '')")
            case .kind: ("kind", "kind")
            case .day:
                (
                    "strftime('%Y-%m-%d', day * 86400, 'unixepoch')",
                    "strftime('%Y-%m-%d', created_at / 1000, 'unixepoch')"
                )
            }
        let sql = """
            SELECT key, SUM(runs) AS runs, SUM(cost) AS cost, SUM(input) AS input, SUM(output) AS output,
                SUM(turns) AS turns
            FROM (
                SELECT \(daysKey) AS key, runs, cost_micro_usd AS cost, input_tokens AS input,
                    output_tokens AS output, num_turns AS turns
                FROM usage_days WHERE day >= ?
                UNION ALL
                SELECT \(runsKey), 1, CAST(ROUND(COALESCE(cost_usd, 0) * 1000000) AS INTEGER),
                    COALESCE(input_tokens, 0), COALESCE(output_tokens, 0), COALESCE(num_turns, 0)
                FROM runs WHERE created_at >= ? AND created_at < ?
            )
            GROUP BY key
            """
        let since = LedgerTime.milliseconds(query.since)
        let firstWholeDay = (since + Self.dayMilliseconds - 1).floorDivided(by: Self.dayMilliseconds)
        let arguments: StatementArguments = [firstWholeDay, since, firstWholeDay * Self.dayMilliseconds]
        do {
            try await settle()
            let rows = try await pool.read { db in
                try Row.fetchAll(db, sql: sql, arguments: arguments).map { row in
                    UsageRow(
                        key: row["key"], runs: row["runs"], costUSD: Double(row["cost"] as Int64) / 1_000_000,
                        inputTokens: row["input"], outputTokens: row["output"], numTurns: row["turns"])
                }
            }
            return UsageReport(since: query.since, by: query.by, rows: rows)
        } catch {
            throw Self.failure("sum usage", error)
        }
    }

    static let dayMilliseconds: Int64 = 86_400_000
    /// Runs deleted per sweep transaction: about 30 ms of holding the writer on a busy machine.
    static let sweepBatch = 250

    public func costSince(_ date: Date) async throws -> Double {
        let since = LedgerTime.milliseconds(date)
        do {
            try await settle()
            return try await pool.read { db in
                try Double.fetchOne(db, sql: "SELECT TOTAL(cost_usd) FROM runs WHERE ended_at >= ?", arguments: [since])
                    ?? 0
            }
        } catch {
            throw Self.failure("sum the cost since \(Timestamp.string(from: date))", error)
        }
    }

    // MARK: Transcripts

    public func transcriptWriter(for id: String) -> TranscriptWriter {
        guard ULID.isValid(id) else {
            // Never a path outside the transcript folder; run ids are always ULIDs.
            logger.warning("not keeping a transcript for a run id that is not a ULID", metadata: ["run": "\(id)"])
            return TranscriptWriter(runID: id, path: "/dev/null", maxBytes: 0, logger: logger)
        }
        return TranscriptWriter(
            runID: id, path: transcriptPath(id), maxBytes: maxTranscriptBytes, flusher: flusher, logger: logger)
    }

    public func transcript(_ id: String) -> TranscriptLines? {
        guard ULID.isValid(id) else { return nil }
        flusher.settle(runID: id)
        let path = transcriptPath(id)
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        return TranscriptLines(path: path)
    }

    func transcriptPath(_ id: String) -> String {
        (transcriptDirectory as NSString).appendingPathComponent("\(id).ndjson")
    }

    // MARK: Closing

    public func close() async {
        flusher.stop()
        do {
            try await settle()
            try pool.close()
        } catch {
            logger.warning("cannot close the run ledger", metadata: ["path": "\(path)", "reason": "\(error)"])
        }
    }

    // MARK: Helpers

    /// One write transaction that runs to its end even when the calling task is cancelled: a run that is
    /// being cancelled must still be able to record how it ended. (GRDB's async `write` honours cancellation.)
    private func write<T: Sendable>(_ updates: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            pool.asyncWrite(
                { [self] db in
                    try savePending(db)
                    return try updates(db)
                }, completion: { _, result in continuation.resume(with: result) })
        }
    }

    /// Run ids are ULIDs: they order the list and name the transcript files.
    static func checkID(_ id: String) throws(LedgerError) {
        guard ULID.isValid(id) else { throw LedgerError.failed("record run \"\(id)\"", "the id is not a ULID") }
    }

    /// The error to report: cancellation as it is, anything else as a ``LedgerError`` saying what failed.
    static func failure(_ action: String, _ error: any Error) -> any Error {
        if error is CancellationError || error is LedgerError { return error }
        if let error = error as? DatabaseError {
            return LedgerError.failed(action, error.message ?? "SQLite error \(error.resultCode.rawValue)")
        }
        return LedgerError.failed(action, "\(error)")
    }
}

extension Int64 {
    /// Division rounding toward minus infinity (a time before 1970 still falls in the right day).
    fileprivate func floorDivided(by divisor: Int64) -> Int64 {
        let (quotient, remainder) = quotientAndRemainder(dividingBy: divisor)
        return remainder < 0 ? quotient - 1 : quotient
    }
}
