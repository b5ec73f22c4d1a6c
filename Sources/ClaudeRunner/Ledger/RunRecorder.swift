import Foundation
import Synchronization

/// One run's entry in the ledger: saved when the run is queued, when it starts, and when it ends (never
/// per event), with its progress events appended to its transcript as they go.
///
/// Saves go through ``RunLedger/saveLater(_:)``: the run never waits for the database, and a failed write is
/// logged by the ledger and never fails the run.
final class RunRecorder: Sendable {
    let ledger: any RunLedger
    let transcript: TranscriptWriter
    private let record: Mutex<RunRecord>

    init(ledger: any RunLedger, record: RunRecord, progress: RunProgress) {
        self.ledger = ledger
        self.record = Mutex(record)
        let transcript = ledger.transcriptWriter(for: record.id)
        self.transcript = transcript
        progress.addSink { event in transcript.append(event.forTranscript.jsonBuffer()) }
    }

    var current: RunRecord { record.withLock { $0 } }

    func queued() {
        // A save, not an insert: a redelivered task comes back with its attempt id.
        ledger.saveLater(current)
    }

    func running() {
        change {
            $0.status = .running
            $0.startedAt = Date()
        }
        ledger.saveLater(current)
    }

    /// The final values; `change` fills what only the caller knows (a pull request, the workspace).
    func finished(_ result: RunResult, status: RunStatus, exitCode: Int32?, change: (inout RunRecord) -> Void) {
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
        ledger.saveLater(current)
    }

    func change(_ body: (inout RunRecord) -> Void) {
        record.withLock { body(&$0) }
    }
}
