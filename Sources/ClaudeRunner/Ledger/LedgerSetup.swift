import Foundation
import Logging
import ServiceLifecycle

/// Opening the ledger at start-up, and keeping it: the retention sweep.
public enum LedgerSetup {
    /// Opens the configured ledger (moving a corrupt one aside), marks runs a dead runner left `queued`
    /// or `running` as `interrupted`, and loads today's cost for the daily budget. A ledger that cannot be
    /// opened at all is logged and the runner serves without one.
    public static func open(config: RunnerConfig, logger: Logger) async -> (any RunLedger)? {
        guard config.ledger.enabled else {
            logger.info("run ledger is off (ledger.enabled: false)")
            return nil
        }
        let ledger: SQLiteRunLedger
        do {
            ledger = try SQLiteRunLedger.open(settings: config.ledger, logger: logger)
        } catch {
            logger.error("run ledger unavailable; serving without it", metadata: ["error": "\(error)"])
            return nil
        }
        do {
            // Each runner keeps its own ledger; a named runner marks only its own runs.
            let interrupted = try await ledger.markInterrupted(runner: config.nats.runnerName)
            if !interrupted.isEmpty {
                logger.warning(
                    "marked runs a previous runner left unfinished as interrupted", metadata: ["runs": "\(interrupted)"]
                )
            }
        } catch {
            logger.warning("mark interrupted runs", metadata: ["error": "\(error)"])
        }
        return ledger
    }
}

/// Deletes runs and transcripts older than `ledger.retention`, at start-up and then every hour.
public struct LedgerSweeper: Service {
    let ledger: any RunLedger
    let retention: Duration
    let logger: Logger
    static let interval: Duration = .seconds(3600)

    public init(ledger: any RunLedger, retention: Duration, logger: Logger) {
        self.ledger = ledger
        self.retention = retention
        self.logger = logger
    }

    public func run() async throws {
        guard retention > .zero else { return }
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                let seconds = Double(retention.components.seconds) + Double(retention.components.attoseconds) / 1e18
                do {
                    let removed = try await ledger.sweep(olderThan: Date().addingTimeInterval(-seconds))
                    if removed > 0 { logger.info("swept old runs from the ledger", metadata: ["runs": "\(removed)"]) }
                } catch {
                    logger.warning("sweep the ledger", metadata: ["error": "\(error)"])
                }
                // Slices: a cancelled long sleep keeps its timer until its deadline on this runtime.
                let next = ContinuousClock.now + Self.interval
                while ContinuousClock.now < next, !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(1))
                }
            }
        }
    }
}
