import Foundation
import Logging

/// Run control, for every transport: list and show recorded runs, follow one, cancel one, sum usage.
extension RunnerService {
    /// The ledger, or the answer every run-control call gets without one (404).
    func requireLedger() throws(RunnerError) -> any RunLedger {
        guard let ledger else {
            throw RunnerError.notFound(
                config.ledger.enabled
                    ? "the run ledger is unavailable on this runner (see its log)"
                    : "the run ledger is off on this runner (ledger.enabled: false)")
        }
        return ledger
    }

    /// A run id from a request: a ULID, or a 400 naming it.
    public static func checkRunID(_ id: String) throws(RunnerError) {
        guard ULID.isValid(id) else {
            throw RunnerError.invalidRequest(
                "invalid run id \"\(ToolSummary.oneLine(id, limit: 40))\": expected 26 characters of Crockford base32")
        }
    }

    /// Recorded runs, newest first.
    public func listRuns(_ query: RunQuery) async throws(RunnerError) -> [RunRecord] {
        let ledger = try requireLedger()
        do {
            return try await ledger.list(query)
        } catch {
            throw RunnerError.failed("read the run ledger: \(error)")
        }
    }

    /// One run's record: the live one for a run in progress, else the ledger's.
    public func runRecord(_ id: String) async throws(RunnerError) -> RunRecord {
        try Self.checkRunID(id)
        let ledger = try requireLedger()
        if let live = activeRuns[id]?.record { return live }
        let record: RunRecord?
        do {
            record = try await ledger.get(id)
        } catch {
            throw RunnerError.failed("read the run ledger: \(error)")
        }
        guard let record else { throw RunnerError.notFound("run not found: \(id)") }
        return record
    }

    /// Whether this runner has (or had) run `id`: for NATS, where only the runner that has a run answers.
    public func hasRun(_ id: String) async -> Bool {
        guard ULID.isValid(id) else { return false }
        if activeRuns[id] != nil { return true }
        return (try? await ledger?.get(id)) != nil
    }

    /// Asks a run in progress to stop: its process group is ended and it ends `cancelled` (an issue run
    /// reports it, adds `agent-failed` and releases its lock).
    /// - Throws: `.notFound` for a run this runner does not know, `.conflict` naming the status of one
    ///   that has ended.
    public func cancelRun(_ id: String) async throws(RunnerError) {
        try Self.checkRunID(id)
        if let run = activeRuns[id], run.cancel() { return }
        var status = activeRuns[id]?.status
        if status == nil, let ledger { status = (try? await ledger.get(id))?.status }
        guard let status else { throw RunnerError.notFound("run not found: \(id)") }
        throw RunnerError.conflict("run \(id) has already ended: \(status.rawValue)")
    }

    /// Usage summed from the ledger.
    public func usage(_ query: UsageQuery) async throws(RunnerError) -> UsageReport {
        let ledger = try requireLedger()
        do {
            return try await ledger.usage(query)
        } catch {
            throw RunnerError.failed("read the run ledger: \(error)")
        }
    }

    /// A run's progress events from its start: live (then following it) for a run in progress, from its
    /// transcript for one that has ended.
    public enum RunEventFeed: Sendable {
        case live(AsyncStream<RunEvent>)
        /// Transcript lines (each one event's JSON).
        case recorded(TranscriptLines)
    }

    public func runEvents(_ id: String) async throws(RunnerError) -> RunEventFeed {
        try Self.checkRunID(id)
        let ledger = try requireLedger()
        if let run = activeRuns[id] { return .live(run.progress.subscribe(replay: true, bufferSize: 1024)) }
        guard (try? await ledger.get(id)) != nil else { throw RunnerError.notFound("run not found: \(id)") }
        guard let lines = ledger.transcript(id) else {
            throw RunnerError.notFound("run \(id) has no transcript (ledger.maxTranscriptBytes is 0)")
        }
        return .recorded(lines)
    }
}
