import CChildProcess
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Runs a child process in its own process group, streaming its output as it arrives.
///
/// Guarantees:
/// - stdin is `/dev/null`, so a child that reads stdin sees end-of-file instead of waiting forever;
/// - stdout and stderr are read while the child runs, chunk by chunk, so no amount of output can deadlock
///   the child on a full pipe (a handler slower than the child makes it wait, with at most about 2 MiB
///   read and not yet handled); what is kept is up to the output handler;
/// - the child leads a new session (and so a new process group), inherits only descriptors 0–2, no blocked
///   signal and no ignored one; cancelling the calling task, or the spec's ``ProcessSpec/watchdog``, sends
///   SIGTERM to the whole group, then SIGKILL after ``ProcessSpec/terminationGrace``;
/// - when the child has exited, whatever it left running in its group is killed.
///
/// One ``ProcessMonitor`` thread starts every child with `cr_spawn`, a vfork-style clone as `posix_spawn`
/// makes (the runner's memory is never copied, and no event loop or task thread waits for the child's
/// exec), reads its pipes and notices its exit: a run costs one thread hop to start and one when it ends,
/// none per chunk of output.
public enum ChildProcess {
    /// The executable could not be started.
    public struct LaunchError: Error, Sendable, CustomStringConvertible {
        public let description: String
    }

    /// Runs `spec` to completion, calling `onOutput` for each chunk of output.
    ///
    /// - Parameters:
    ///   - spec: What to run.
    ///   - onStart: Called once with the child's pid (which is also its process group id), before any output,
    ///     on the process monitor's thread: it must return at once.
    ///   - onOutput: Called for every chunk read from stdout or stderr, in the order read, one call at a time:
    ///     for the first 64 KiB on the process monitor's thread, then on ``OutputDelivery``'s pool. It should return
    ///     soon (keep the bytes, hand them on) and never wait for another child.
    /// - Returns: How the child ended.
    /// - Throws: ``LaunchError`` when the executable cannot be found or started; `CancellationError` when the
    ///   calling task was cancelled (the process group has been stopped by then).
    public static func run(
        _ spec: ProcessSpec,
        onStart: @escaping @Sendable (Int32) -> Void = { _ in },
        onOutput: @escaping @Sendable (ProcessOutputEvent) -> Void
    ) async throws -> ProcessExit {
        try Task.checkCancellation()
        let child = MonitoredChild()
        let exit = try await withTaskCancellationHandler {
            try await child.exit {
                ProcessMonitor.shared.start(.init(spec: spec, onStart: onStart, onOutput: onOutput, child: child))
            }
        } onCancel: {
            ProcessMonitor.shared.stop(child)
        }
        try Task.checkCancellation()
        return exit
    }

    /// A child just started: its pid and the runner's ends of its descriptors.
    struct Started {
        var pid: Int32
        /// -1 on a kernel without pidfd (before 5.3): the monitor then polls for the exit.
        var processDescriptor: Int32
        var standardOutput: Int32
        var standardError: Int32
    }

    /// Starts `spec`'s executable (on the process monitor's thread, which waits for its exec).
    static func spawn(_ spec: ProcessSpec) throws(LaunchError) -> Started {
        _ = ProcessMonitor.ensureStandardDescriptors
        guard let path = ExecutableLookup.resolve(spec.executable, environment: spec.environment) else {
            throw LaunchError(description: "exec: \"\(spec.executable)\": executable file not found in $PATH")
        }
        var directory: Int32 = -1
        if let workingDirectory = spec.workingDirectory {
            directory = cr_open_directory(workingDirectory)
            guard directory >= 0 else {
                throw LaunchError(
                    description: "cannot start \(spec.executable): cannot change to directory \(workingDirectory): "
                        + String(cString: strerror(errno)))
            }
        }
        defer { if directory >= 0 { close(directory) } }
        var output: [Int32] = [-1, -1]
        var errors: [Int32] = [-1, -1]
        guard cr_output_pipe(&output) == 0 else { throw launchFailure(spec, errno) }
        guard cr_output_pipe(&errors) == 0 else {
            let code = errno
            close(output[0])
            close(output[1])
            throw launchFailure(spec, code)
        }
        var pid: pid_t = 0
        let code = EnvironmentBlock.withArguments(path: path, arguments: spec.arguments, overrides: spec.environment) {
            argv, envp in
            var code: Int32 = 0
            // "Text file busy": the executable was just written and another thread's child, between its start
            // and its exec, still holds the writer's descriptor. It passes in a moment.
            for attempt in 1...20 {
                code = cr_spawn(&pid, path, argv, envp, directory, output[1], errors[1])
                guard code == ETXTBSY else { break }
                usleep(useconds_t(attempt * 1000))
            }
            return code
        }
        close(output[1])
        close(errors[1])
        guard code == 0 else {
            close(output[0])
            close(errors[0])
            // Found, then not there to exec (its `#!` interpreter is missing, or it was removed since): Go's words.
            if code == ENOENT {
                throw LaunchError(description: "fork/exec \(spec.executable): no such file or directory")
            }
            throw launchFailure(spec, code)
        }
        let processDescriptor = cr_pidfd_open(pid)
        return Started(
            pid: pid, processDescriptor: processDescriptor, standardOutput: output[0], standardError: errors[0])
    }

    private static func launchFailure(_ spec: ProcessSpec, _ code: Int32) -> LaunchError {
        LaunchError(description: "cannot start \(spec.executable): \(String(cString: strerror(code)))")
    }
}

/// Where a child's executable is: a name is looked up on the `PATH` the child will have (its override when
/// the spec sets one, else the runner's), as `execvp` would.
enum ExecutableLookup {
    static func resolve(_ executable: String, environment: [String: String?]) -> String? {
        guard !executable.isEmpty else { return nil }
        // Relative to the runner's directory, not the child's (which it changes to before the exec).
        if executable.contains("/") { return absolute(executable) }
        let search: String
        if let override = environment["PATH"] {
            search = override ?? ""
        } else {
            search = getenv("PATH").map { String(cString: $0) } ?? "/usr/local/bin:/usr/bin:/bin"
        }
        var found = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        guard cr_find_executable(executable, search, &found, found.count) == 0 else { return nil }
        return absolute(found.withUnsafeBufferPointer { String(cString: $0.baseAddress!) })
    }

    private static func absolute(_ path: String) -> String {
        guard !path.hasPrefix("/") else { return path }
        return FileManager.default.currentDirectoryPath + "/" + path
    }
}

/// The C arrays `execve` takes: the arguments, and the runner's environment with the spec's changes.
enum EnvironmentBlock {
    /// Calls `body` with `argv` (the path first) and `envp`, both valid only inside it.
    static func withArguments<T>(
        path: String, arguments: [String], overrides: [String: String?],
        _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>, UnsafePointer<UnsafeMutablePointer<CChar>?>) -> T
    ) -> T {
        // Copies made here are freed at the end; the runner's own entries are passed as they are (glibc never
        // frees an environment string, and the runner never changes its environment).
        var owned: [UnsafeMutablePointer<CChar>] = []
        defer { for pointer in owned { free(pointer) } }
        func copy(_ text: String) -> UnsafeMutablePointer<CChar> {
            let pointer = strdup(text)!
            owned.append(pointer)
            return pointer
        }
        var argv: [UnsafeMutablePointer<CChar>?] = [copy(path)]
        argv.reserveCapacity(arguments.count + 2)
        for argument in arguments { argv.append(copy(argument)) }
        argv.append(nil)

        var envp: [UnsafeMutablePointer<CChar>?] = []
        let keys = overrides.keys.map { Array($0.utf8) }
        if var entry = cr_environment() {
            while let variable = entry.pointee {
                if keys.isEmpty || !keys.contains(where: { Self.entry(variable, hasKey: $0) }) { envp.append(variable) }
                entry += 1
            }
        }
        for (key, value) in overrides {
            if let value { envp.append(copy("\(key)=\(value)")) }
        }
        envp.append(nil)
        return argv.withUnsafeBufferPointer { argv in
            envp.withUnsafeBufferPointer { envp in body(argv.baseAddress!, envp.baseAddress!) }
        }
    }

    /// Whether the `KEY=value` entry is for `key`.
    static func entry(_ entry: UnsafeMutablePointer<CChar>, hasKey key: [UInt8]) -> Bool {
        key.withUnsafeBufferPointer { key in
            guard strncmp(entry, UnsafeRawPointer(key.baseAddress!).assumingMemoryBound(to: CChar.self), key.count) == 0
            else { return false }
            return entry[key.count] == CChar(UInt8(ascii: "="))
        }
    }
}

/// One child's start and end, handed between the task that runs it and the monitor's thread.
final class MonitoredChild: Sendable {
    private struct State {
        var waiter: CheckedContinuation<ProcessExit, any Error>?
        var outcome: Result<ProcessExit, any Error>?
        var stopRequested = false
    }

    private let state = Mutex(State())
    /// The monitor's key for the child, unique for the runner's life.
    let token: UInt64

    private static let tokens = Atomic<UInt64>(0)

    init() {
        token = Self.tokens.add(1, ordering: .relaxed).newValue
    }

    /// Calls `start` and waits for the child's end (or its launch error).
    func exit(start: () -> Void) async throws -> ProcessExit {
        try await withCheckedThrowingContinuation { continuation in
            let outcome = state.withLock { state in
                if state.outcome == nil { state.waiter = continuation }
                return state.outcome
            }
            if let outcome { continuation.resume(with: outcome) } else { start() }
        }
    }

    func ended(_ outcome: Result<ProcessExit, any Error>) {
        let waiter = state.withLock { state in
            state.outcome = outcome
            return state.waiter.take()
        }
        waiter?.resume(with: outcome)
    }

    /// Asks for the child to be stopped: a child whose start has not been handled yet is then never started.
    func requestStop() {
        state.withLock { $0.stopRequested = true }
    }

    var stopRequested: Bool { state.withLock { $0.stopRequested } }
}
