import ClaudeRunner
import ClaudeRunnerTesting
import Foundation
import Logging
import Synchronization

/// Ledgers on real SQLite files in temporary directories, and records with millisecond times (the ledger
/// keeps times to the millisecond, so these compare equal after a round trip).
enum LedgerFixture {
    static let logger = Logger(label: "ledger-test")

    /// Runs `body` with a ledger at `<temp>/state/runs.db`, closed and removed afterwards.
    static func withLedger<T>(
        maxTranscriptBytes: Int = RunnerConfig.LedgerSettings.defaultMaxTranscriptBytes,
        _ body: (SQLiteRunLedger, TemporaryDirectory) async throws -> T
    ) async throws -> T {
        try await TemporaryDirectory.with("ledger") { directory in
            let ledger = try SQLiteRunLedger.open(
                path: directory.appending("state/runs.db"), maxTranscriptBytes: maxTranscriptBytes, logger: logger)
            do {
                let result = try await body(ledger, directory)
                await ledger.close()
                return result
            } catch {
                await ledger.close()
                throw error
            }
        }
    }

    /// An RFC 3339 time.
    static func time(_ text: String) -> Date {
        milliseconds(Timestamp.date(from: text)!)
    }

    /// `date` rounded to the millisecond.
    static func milliseconds(_ date: Date) -> Date {
        Date(timeIntervalSince1970: (date.timeIntervalSince1970 * 1000).rounded() / 1000)
    }

    /// A queued record created at `created`, whose id sorts by that time.
    static func record(
        created: Date, kind: RunRecord.Kind = .run, status: RunRecord.Status = .queued, repo: String? = nil,
        model: String? = nil, runner: String? = nil
    ) -> RunRecord {
        let created = milliseconds(created)
        return RunRecord(
            id: ULID(milliseconds: UInt64(created.timeIntervalSince1970 * 1000)).description, kind: kind,
            transport: .http, status: status, createdAt: created, repo: repo, model: model, runner: runner)
    }

    /// `count` records one second apart, oldest first, starting at `start`.
    static func records(
        _ count: Int, from start: Date, _ configure: (Int, inout RunRecord) -> Void = { _, _ in }
    )
        -> [RunRecord]
    {
        (0..<count).map { index in
            var record = record(created: start.addingTimeInterval(Double(index)))
            configure(index, &record)
            return record
        }
    }
}

/// Log messages kept in memory, to check what an operator would read.
final class CapturedLog: Sendable {
    private let entries = Mutex<[(level: Logger.Level, message: String)]>([])

    var logger: Logger {
        Logger(label: "captured") { _ in Handler(log: self) }
    }

    var warnings: [String] {
        entries.withLock { $0.filter { $0.level == .warning }.map(\.message) }
    }

    fileprivate func add(_ level: Logger.Level, _ message: String) {
        entries.withLock { $0.append((level, message)) }
    }

    struct Handler: LogHandler {
        let log: CapturedLog
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            log.add(event.level, event.message.description)
        }
    }
}
