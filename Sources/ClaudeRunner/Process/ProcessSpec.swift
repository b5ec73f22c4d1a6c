/// What to run: an executable with arguments, in a directory, with environment overrides.
///
/// Arguments are passed to `execve` as they are; nothing ever goes through a shell.
public struct ProcessSpec: Sendable {
    /// A name looked up on `PATH`, or a path (anything containing `/`).
    public var executable: String
    public var arguments: [String]
    public var workingDirectory: String?
    /// Variables to set (a value) or remove (`nil`) on top of the runner's own environment.
    public var environment: [String: String?]
    /// Time between SIGTERM and SIGKILL when the process group is stopped.
    public var terminationGrace: Duration
    /// Limits watched while the child runs (a deadline, an idle time): called as the child starts, after its
    /// output, and at each time it returned, on the process monitor's thread; returning `nil` stops the process
    /// group as cancelling would (SIGTERM, then SIGKILL after ``terminationGrace``). It must return at once.
    public var watchdog: ProcessWatchdog?

    public init(
        executable: String, arguments: [String], workingDirectory: String? = nil,
        environment: [String: String?] = [:], terminationGrace: Duration = .seconds(10),
        watchdog: ProcessWatchdog? = nil
    ) {
        self.executable = executable
        self.arguments = arguments
        self.workingDirectory = workingDirectory
        self.environment = environment
        self.terminationGrace = terminationGrace
        self.watchdog = watchdog
    }
}

/// Given the time now, when to be asked again, or `nil` to stop the process group now.
public typealias ProcessWatchdog = @Sendable (ContinuousClock.Instant) -> ContinuousClock.Instant?

/// A watchdog that stops the process group once `deadline` has passed, and says so in `expired`.
func deadlineWatchdog(_ deadline: ContinuousClock.Instant, expired: LockedValue<Bool>) -> ProcessWatchdog {
    { now in
        guard now >= deadline else { return deadline }
        expired.value = true
        return nil
    }
}

/// How a child process ended.
public enum ProcessExit: Sendable, Equatable, CustomStringConvertible {
    case exited(Int32)
    case signaled(Int32)

    public var isSuccess: Bool { self == .exited(0) }

    /// The reason in the words Go's `os/exec` uses (`exit status 1`, `signal: killed`), which the original
    /// runner put in Result.error when stderr was empty.
    public var description: String {
        switch self {
        case .exited(let code): "exit status \(code)"
        case .signaled(let signal): "signal: \(Self.signalName(signal))"
        }
    }

    static func signalName(_ signal: Int32) -> String {
        switch signal {
        case 1: "hangup"
        case 2: "interrupt"
        case 6: "aborted"
        case 9: "killed"
        case 11: "segmentation fault"
        case 13: "broken pipe"
        case 15: "terminated"
        default: "signal \(signal)"
        }
    }
}

/// A chunk of output from a child process, in the order it was read.
public enum ProcessOutputEvent: Sendable {
    case standardOutput([UInt8])
    case standardError([UInt8])
}
