import Foundation

/// The record of every run: what the rest of the program calls. ``SQLiteRunLedger`` is the implementation.
///
/// A run is saved a handful of times, with ``saveLater(_:)``: when it is queued, when it starts, and with the
/// final status and every result field when it ends; those saves are batched, so that a run never waits for
/// the database. Nothing here is meant to be called per event; a run's events go to its transcript through
/// a ``TranscriptWriter``, which buffers them.
///
/// Writes are not cancelled with the calling task: a run that is being cancelled still records how it ended.
public protocol RunLedger: Sendable {
    /// Records a new run. Throws when the id is not a ULID or is already recorded.
    func insert(_ record: RunRecord) async throws

    /// Writes the whole record, adding it when it is not there yet. Throws when the id is not a ULID.
    func save(_ record: RunRecord) async throws

    /// Queues the whole record to be written soon, off the caller's path, and returns at once. Queued saves are
    /// written in batches (only the newest record of a run), before any read or other write that comes after
    /// them, and before ``close()`` returns; a failure is logged. A run's `queued`/`running`/final records go
    /// this way, so that recording them costs a run next to nothing.
    func saveLater(_ record: RunRecord)

    /// Changes a recorded run in one transaction and returns it as written; `nil` when the id is unknown.
    @discardableResult
    func update(_ id: String, _ change: @escaping @Sendable (inout RunRecord) -> Void) async throws -> RunRecord?

    func get(_ id: String) async throws -> RunRecord?

    /// Runs newest first, as the query says.
    func list(_ query: RunQuery) async throws -> [RunRecord]

    /// Sums of runs created since the query's time, grouped by its key, with a total.
    func usage(_ query: UsageQuery) async throws -> UsageReport

    /// The cost of the runs that ended at or after `date` (the daily budget asks for 00:00 UTC).
    func costSince(_ date: Date) async throws -> Double

    /// At start-up: every run left `queued` or `running` (by `runner` when given) becomes `interrupted`, with
    /// `ended_at` set. Returns their ids.
    @discardableResult
    func markInterrupted(runner: String?) async throws -> [String]

    /// Deletes the runs created before `date` and their transcripts. Returns how many runs were deleted.
    @discardableResult
    func sweep(olderThan date: Date) async throws -> Int

    /// A writer for a run's transcript, to be ``TranscriptWriter/finish()``-ed at the end (a writer made
    /// without a ``TranscriptFlusher`` must also be ``TranscriptWriter/run()``-ing to write before that).
    /// ``withTranscript(for:_:)`` does both.
    func transcriptWriter(for id: String) -> TranscriptWriter

    /// A run's transcript, or `nil` when it has none.
    func transcript(_ id: String) -> TranscriptLines?

    /// Closes the database; later calls fail.
    func close() async
}

extension RunLedger {
    /// Runs `body` with a transcript writer for run `id` that flushes in the background, and returns once
    /// everything `body` appended is in the file.
    public func withTranscript<T, Failure: Error>(
        for id: String, _ body: (TranscriptWriter) async throws(Failure) -> T
    ) async throws(Failure) -> T {
        let writer = transcriptWriter(for: id)
        let result: Result<T, Failure> = await withTaskGroup(of: Void.self) { group in
            group.addTask { await writer.run() }
            let result: Result<T, Failure>
            do throws(Failure) {
                result = .success(try await body(writer))
            } catch {
                result = .failure(error)
            }
            writer.finish()
            await group.waitForAll()
            return result
        }
        return try result.get()
    }

    /// The cost of the runs that ended since 00:00 UTC today.
    public func costToday(now: Date = Date()) async throws -> Double {
        try await costSince(UTCDay.start(of: now))
    }
}
