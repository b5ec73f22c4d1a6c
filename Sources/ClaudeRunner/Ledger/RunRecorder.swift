import Foundation
import Logging
import Synchronization

/// One run's entry in the ledger: written when the run is queued, when it starts, and when it ends (never
/// per event), with its progress events appended to its transcript as they go.
///
/// A failed write is logged and never fails the run.
final class RunRecorder: Sendable {
    let ledger: any RunLedger
    let transcript: TranscriptWriter
    let logger: Logger
    private let record: Mutex<RunRecord>

    init(ledger: any RunLedger, record: RunRecord, progress: RunProgress, logger: Logger) {
        self.ledger = ledger
        self.logger = logger
        self.record = Mutex(record)
        let transcript = ledger.transcriptWriter(for: record.id)
        self.transcript = transcript
        progress.addSink { event in transcript.append(event.forTranscript.jsonBuffer()) }
    }

    var current: RunRecord { record.withLock { $0 } }

    func queued() async {
        // `save`, not `insert`: a redelivered task comes back with its attempt id.
        await write("record queued run") { try await $0.save($1) }
    }

    func running() async {
        change {
            $0.status = .running
            $0.startedAt = Date()
        }
        await write("record running run") { try await $0.save($1) }
    }

    /// The final values; `change` fills what only the caller knows (a pull request, the workspace).
    func finished(
        _ result: RunResult, status: RunStatus, exitCode: Int32?, change: (inout RunRecord) -> Void
    )
        async
    {
        self.change { record in
            let ended = Date()
            record.status = status
            record.endedAt = ended
            record.durationMs = Int(ended.timeIntervalSince(record.startedAt ?? record.createdAt) * 1000)
            record.error = result.error
            record.exitCode = exitCode.map(Int.init)
            record.sessionId = result.sessionID
            record.costUSD = result.costUSD
            record.numTurns = result.numTurns
            record.model = result.model ?? record.model
            if let usage = result.usage {
                record.usage = .init(
                    inputTokens: usage.inputTokens, outputTokens: usage.outputTokens,
                    cacheReadInputTokens: usage.cacheReadInputTokens,
                    cacheCreationInputTokens: usage.cacheCreationInputTokens)
            }
            record.permissionDenials = result.permissionDenials?.count
            change(&record)
        }
        await write("record finished run") { try await $0.save($1) }
    }

    func change(_ body: (inout RunRecord) -> Void) {
        record.withLock { body(&$0) }
    }

    private func write(_ what: String, _ body: (any RunLedger, RunRecord) async throws -> Void) async {
        do {
            try await body(ledger, current)
        } catch {
            logger.warning("\(what)", metadata: ["error": "\(error)"])
        }
    }
}
