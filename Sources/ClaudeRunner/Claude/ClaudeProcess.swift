import Foundation
import Logging

/// Runs the `claude` executable for one run and turns what it printed into a Result.
///
/// The run is bounded: by ``RunnerConfig/Limits/runTimeout`` (wall clock), by
/// ``RunnerConfig/Limits/idleTimeout`` when set (nothing printed for that long), and once Claude's `result`
/// event has arrived by ``RunnerConfig/Limits/afterResultGrace`` (the CLI can hang after its result while
/// children hold stdout open). A limit stops the whole process group (SIGTERM, then SIGKILL after the
/// termination grace). Cancelling the calling task stops it the same way; the outcome then says
/// ``RunStatus/cancelled`` and carries whatever the run had produced.
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

    /// Thrown when `claude` cannot be started at all (not installed, not on `PATH`).
    public struct LaunchFailure: Error, Sendable, CustomStringConvertible {
        public let description: String
    }

    /// stderr kept per run; Claude's stderr is short unless something is badly wrong.
    static let errorLimit = 1 << 20

    /// Runs `invocation` in `directory`, sending progress to `progress`.
    /// - Parameters:
    ///   - paths: Host paths to take out of events and Result fields.
    ///   - onStart: Called with claude's pid (also its process group id) once it runs.
    /// - Throws: ``LaunchFailure`` when `claude` cannot be started.
    public func run(
        _ invocation: ClaudeInvocation, in directory: String, paths: HostPaths, progress: RunProgress,
        logger: Logger, onStart: @escaping @Sendable (Int32) -> Void = { _ in }
    ) async throws -> ClaudeOutcome {
        var spec = ProcessSpec(
            executable: executable,
            arguments: invocation.arguments,
            workingDirectory: directory,
            environment: invocation.environment,
            terminationGrace: terminationGrace
        )
        let reader = ClaudeOutputReader(
            settings: .init(
                outputLimit: limits.maxOutputBytes, errorLimit: min(Self.errorLimit, limits.maxOutputBytes),
                redactor: redactor, paths: paths),
            progress: progress)
        let processID = LockedValue<Int32?>(nil)
        let started = ContinuousClock.now
        let limitReached = LockedValue<Ending?>(nil)
        spec.watchdog = { [limits] now in
            let verdict = Self.check(limits, reader: reader, started: started, now: now)
            if case .stop(let ending) = verdict { limitReached.value = ending }
            if case .checkAgain(let time) = verdict { return time }
            return nil
        }

        let ending: Ending
        do {
            let exit = try await ChildProcess.run(
                spec,
                onStart: { pid in
                    processID.value = pid
                    reader.spawned()
                    onStart(pid)
                }
            ) { event in reader.consume(event) }
            ending = limitReached.value ?? .exited(exit)
        } catch let error as ChildProcess.LaunchError {
            throw LaunchFailure(description: error.description)
        } catch is CancellationError {
            ending = .cancelled
        }
        reader.finishStandardOutput()
        let outcome = ClaudeOutcome(
            transcript: reader.finish(), ending: ending, invocation: invocation, processID: processID.value,
            elapsed: ContinuousClock.now - started, scrub: reader.scrub, redactor: redactor)
        logger.debug("claude ended", metadata: ["ending": "\(ending)", "status": "\(outcome.status.rawValue)"])
        return outcome
    }

    enum Ending: Sendable, CustomStringConvertible {
        case exited(ProcessExit)
        case limit(RunStatus, Duration)
        /// Stopped after the grace that follows Claude's `result` event.
        case afterResult
        case cancelled

        var description: String {
            switch self {
            case .exited(let exit): "\(exit)"
            case .limit(let status, let after): "\(status.rawValue) after \(after)"
            case .afterResult: "stopped after its result"
            case .cancelled: "cancelled"
            }
        }
    }

    enum Verdict {
        case checkAgain(ContinuousClock.Instant)
        case stop(Ending)
    }

    /// Whether a limit has been reached now; if not, when to look again. Called by the process monitor as
    /// Claude starts, after its output, and at the times this returned.
    static func check(
        _ limits: RunnerConfig.Limits, reader: ClaudeOutputReader, started: ContinuousClock.Instant,
        now: ContinuousClock.Instant
    ) -> Verdict {
        let deadline = started + limits.runTimeout
        var wake = deadline
        if let resultAt = reader.resultArrivedAt {
            if resultAt + limits.afterResultGrace <= now { return .stop(.afterResult) }
            wake = min(wake, resultAt + limits.afterResultGrace)
        }
        if limits.idleTimeout > .zero {
            let idleDeadline = reader.lastActivity + limits.idleTimeout
            if idleDeadline <= now { return .stop(.limit(.idle, limits.idleTimeout)) }
            wake = min(wake, idleDeadline)
        }
        if deadline <= now { return .stop(.limit(.timeout, limits.runTimeout)) }
        if let startedDue = reader.startedDue(now: now) { wake = min(wake, startedDue) }
        return .checkAgain(wake)
    }

    static func format(_ duration: Duration) -> String {
        let milliseconds = duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
        if milliseconds % 1000 != 0 { return "\(milliseconds)ms" }
        let seconds = milliseconds / 1000
        if seconds % 3600 == 0, seconds > 0 { return "\(seconds / 3600)h" }
        if seconds % 60 == 0, seconds > 0 { return "\(seconds / 60)m" }
        return "\(seconds)s"
    }
}
