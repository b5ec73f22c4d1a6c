import Foundation
import Logging
import NIOCore
import Synchronization

/// Whether the runner can take work now: `claude` found (and its version), the work directory writable,
/// the ledger open, NATS connected when enabled. Says nothing about the host (no paths, no secrets).
public struct Readiness: Sendable {
    public struct Check: Sendable {
        public var name: String
        public var ok: Bool
        /// Further fields: `version`, `error`.
        public var details: [(String, String)]
    }

    public var checks: [Check]

    public var isReady: Bool { checks.allSatisfy(\.ok) }

    /// `{"status": "ready"|"not_ready", "checks": {"claude": {"ok": true, "version": "..."}, ...}}`.
    public func jsonBuffer() -> ByteBuffer {
        var object = JSONObjectWriter()
        object.string("status", isReady ? "ready" : "not_ready")
        var all = JSONObjectWriter()
        for check in checks {
            var one = JSONObjectWriter()
            one.bool("ok", check.ok)
            for (key, value) in check.details { one.string(key, value) }
            all.raw(check.name, one.finish())
        }
        object.raw("checks", all.finish())
        return object.finish()
    }
}

/// The answer of `claude --version`, kept for a while: the real CLI takes a moment to start.
final class ClaudeVersionCache: Sendable {
    static let lifetime: Duration = .seconds(60)
    private let entry = Mutex<(at: ContinuousClock.Instant, version: Result<String, ClaudeVersionError>)?>(nil)

    struct ClaudeVersionError: Error, Sendable {
        let description: String
    }

    func version(executable: String, logger: Logger) async -> Result<String, ClaudeVersionError> {
        if let cached = entry.withLock({ $0 }), ContinuousClock.now - cached.at < Self.lifetime {
            return cached.version
        }
        let value = await Self.probe(executable: executable, logger: logger)
        entry.withLock { $0 = (ContinuousClock.now, value) }
        return value
    }

    private static func probe(executable: String, logger: Logger) async -> Result<String, ClaudeVersionError> {
        let collector = OutputCollector(limit: 4096)
        do {
            let timedOut = LockedValue(false)
            let spec = ProcessSpec(
                executable: executable, arguments: ["--version"], terminationGrace: .seconds(1),
                watchdog: deadlineWatchdog(.now + .seconds(10), expired: timedOut))
            let exit = try await ChildProcess.run(spec) { collector.record($0) }
            guard !timedOut.value else {
                return .failure(.init(description: "claude --version did not answer within 10s"))
            }
            let text = collector.standardOutput.text.trimmingCharacters(in: .whitespacesAndNewlines)
            guard exit.isSuccess else { return .failure(.init(description: "claude --version failed: \(exit)")) }
            return .success(String(text.split(whereSeparator: \.isNewline).first ?? ""))
        } catch let error as ChildProcess.LaunchError {
            logger.debug("claude not found", metadata: ["error": "\(error.description)"])
            return .failure(.init(description: "claude not found on PATH"))
        } catch {
            return .failure(.init(description: "claude --version could not run"))
        }
    }
}

extension RunnerService {
    /// The readiness checks; `natsConnected` is `nil` when NATS is not enabled.
    public func readiness(natsConnected: Bool?, logger: Logger) async -> Readiness {
        var checks: [Readiness.Check] = []
        switch await claudeVersion.version(executable: config.claudeExecutable, logger: logger) {
        case .success(let version): checks.append(.init(name: "claude", ok: true, details: [("version", version)]))
        case .failure(let error):
            checks.append(.init(name: "claude", ok: false, details: [("error", error.description)]))
        }
        checks.append(workDirCheck())
        if config.ledger.enabled {
            checks.append(
                .init(name: "ledger", ok: ledger != nil, details: ledger == nil ? [("error", "not open")] : []))
        }
        if let natsConnected {
            checks.append(
                .init(name: "nats", ok: natsConnected, details: natsConnected ? [] : [("error", "not connected")]))
        }
        return Readiness(checks: checks)
    }

    private func workDirCheck() -> Readiness.Check {
        let probe = (config.workDir as NSString).appendingPathComponent(".claude-runner-ready-\(ULID())")
        do {
            try prepareWorkDir()
            guard FileManager.default.createFile(atPath: probe, contents: Data()) else {
                return .init(name: "work_dir", ok: false, details: [("error", "not writable")])
            }
            try FileManager.default.removeItem(atPath: probe)
            return .init(name: "work_dir", ok: true, details: [])
        } catch {
            return .init(name: "work_dir", ok: false, details: [("error", "not writable")])
        }
    }
}
