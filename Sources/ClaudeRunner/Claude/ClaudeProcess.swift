import Foundation
import Logging

/// Runs the `claude` executable for one run and turns what it printed into a Result's output and error.
///
/// The run is bounded: by ``RunnerConfig/Limits/runTimeout`` (wall clock) and, when set,
/// ``RunnerConfig/Limits/idleTimeout`` (nothing printed for that long). A limit that fires stops the
/// whole process group (SIGTERM, then SIGKILL after the termination grace) and the outcome says which
/// limit it was and after how long.
public struct ClaudeProcess: Sendable {
    public var executable: String
    public var limits: RunnerConfig.Limits
    public var terminationGrace: Duration
    public var redactor: Redactor

    public init(config: RunnerConfig, redactor: Redactor) {
        self.executable = config.claudeExecutable
        self.limits = config.limits
        self.terminationGrace = config.terminationGrace
        self.redactor = redactor
    }

    /// How a Claude run ended.
    public struct Outcome: Sendable {
        /// stdout, redacted; with a closing note when it was longer than the in-memory cap.
        public var output: String
        /// Set when Claude exited non-zero or a limit stopped it: stderr, or the exit reason.
        public var error: String?
        public var exit: ProcessExit?
        /// `timeout` or `idle` when a limit ended the run.
        public var limit: String?
        public var processID: Int32?

        public var succeeded: Bool { error == nil }
    }

    /// Thrown when `claude` cannot be started at all (not installed, not on `PATH`).
    public struct LaunchFailure: Error, Sendable, CustomStringConvertible {
        public let description: String
    }

    /// Runs `invocation` in `directory`.
    /// - Parameters:
    ///   - onStart: Called with claude's pid (also its process group id) once it runs.
    ///   - onEvent: Sees every chunk of output as it arrives (progress reporting hooks in here).
    public func run(
        _ invocation: ClaudeInvocation, in directory: String, logger: Logger,
        onStart: @escaping @Sendable (Int32) -> Void = { _ in },
        onEvent: @escaping @Sendable (ProcessOutputEvent) async -> Void = { _ in }
    ) async throws -> Outcome {
        let spec = ProcessSpec(
            executable: executable,
            arguments: invocation.arguments,
            workingDirectory: directory,
            // The runner's own HTTP tokens are not Claude's business.
            environment: ["CLAUDE_RUNNER_HTTP_TOKEN": nil, "CLAUDE_RUNNER_TOKEN": nil],
            terminationGrace: terminationGrace
        )
        let collector = OutputCollector(limit: limits.maxOutputBytes)
        let processID = ProcessIDBox()
        let started = ContinuousClock.now

        let ending: Ending = try await withThrowingTaskGroup(of: Ending.self) { group in
            group.addTask {
                do {
                    let exit = try await ChildProcess.run(
                        spec,
                        onStart: { pid in
                            processID.set(pid)
                            onStart(pid)
                        }
                    ) { event in
                        await collector.record(event)
                        await onEvent(event)
                    }
                    return .exited(exit)
                } catch let error as ChildProcess.LaunchError {
                    throw LaunchFailure(description: error.description)
                }
            }
            group.addTask {
                try await watchLimits(collector: collector, started: started)
            }
            guard let first = try await group.next() else { throw CancellationError() }
            group.cancelAll()
            // Wait for the process side to finish stopping the group before reporting.
            while let _ = try? await group.next() {}
            return first
        }

        let stdout = await collector.standardOutput
        let stderr = await collector.standardError
        var output = redactor.redact(stdout.text)
        if stdout.isTruncated {
            output +=
                "\n\n[claude-runner: output truncated: kept the first \(stdout.bytes.count) of \(stdout.totalCount) bytes]"
        }
        // stderr as Claude wrote it (the original runner's Result.error), secrets removed.
        let errorText = redactor.redact(stderr.text)
        let stderrIsBlank = errorText.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty

        switch ending {
        case .exited(let exit):
            logger.debug("claude exited", metadata: ["exit": "\(exit)"])
            return Outcome(
                output: output,
                error: exit.isSuccess ? nil : (stderrIsBlank ? exit.description : errorText),
                exit: exit, limit: nil, processID: processID.value
            )
        case .limit(let name, let after):
            let reason =
                name == "timeout"
                ? "timeout: claude ran longer than the run timeout of \(Self.format(after)) and was stopped"
                : "idle: claude printed nothing for \(Self.format(after)) and was stopped"
            return Outcome(
                output: output,
                error: stderrIsBlank
                    ? reason : "\(reason)\n\(errorText.trimmingCharacters(in: .whitespacesAndNewlines))",
                exit: nil, limit: name, processID: processID.value
            )
        }
    }

    enum Ending: Sendable {
        case exited(ProcessExit)
        case limit(String, Duration)
    }

    /// Sleeps until a limit fires; returns which one.
    private func watchLimits(collector: OutputCollector, started: ContinuousClock.Instant) async throws -> Ending {
        let deadline = started + limits.runTimeout
        while true {
            var wake = deadline
            if limits.idleTimeout > .zero {
                let idleDeadline = await collector.lastActivity + limits.idleTimeout
                if idleDeadline <= .now { return .limit("idle", limits.idleTimeout) }
                wake = min(wake, idleDeadline)
            }
            if deadline <= .now { return .limit("timeout", limits.runTimeout) }
            // Short sleeps: a cancelled sleep's timer stays queued until its deadline on this runtime, so a
            // one-hour sleep per run would hold that run's memory for an hour after it ended.
            try await Task.sleep(until: min(wake, .now + .seconds(1)), clock: .continuous)
        }
    }

    static func format(_ duration: Duration) -> String {
        let milliseconds = duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
        if milliseconds % 1000 != 0 { return "\(milliseconds)ms" }
        let seconds = milliseconds / 1000
        if seconds % 3600 == 0 { return "\(seconds / 3600)h" }
        if seconds % 60 == 0 { return "\(seconds / 60)m" }
        return "\(seconds)s"
    }
}

/// The child's pid, set once from the process callback and read after the run.
/// `@unchecked Sendable`: a single value behind a lock.
final class ProcessIDBox: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Int32?

    func set(_ value: Int32) { lock.withLock { stored = value } }
    var value: Int32? { lock.withLock { stored } }
}
