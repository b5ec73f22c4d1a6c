import Foundation
import Logging
import Subprocess
import Synchronization

#if canImport(System)
    import System
#else
    import SystemPackage
#endif

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Runs a child process in its own process group, streaming its output as it arrives.
///
/// Guarantees:
/// - stdin is `/dev/null`, so a child that reads stdin sees end-of-file instead of waiting forever;
/// - stdout and stderr are read concurrently while the child runs, chunk by chunk, so no amount of output
///   can deadlock the child on a full pipe; what is kept is up to the event handler;
/// - the child leads a new session (and so a new process group); cancelling the calling task sends SIGTERM
///   to the whole group, then SIGKILL after ``ProcessSpec/terminationGrace``;
/// - when the child has exited, whatever it left running in its group is killed.
public enum ChildProcess {
    /// The executable could not be started.
    public struct LaunchError: Error, Sendable, CustomStringConvertible {
        public let description: String
    }

    /// Runs `spec` to completion, calling `onEvent` for each chunk of output.
    ///
    /// - Parameters:
    ///   - spec: What to run.
    ///   - onStart: Called once with the child's pid (which is also its process group id).
    ///   - onEvent: Called for every chunk read from stdout or stderr; calls may come from two tasks but
    ///     never overlap for the same stream.
    /// - Returns: How the child ended.
    /// - Throws: ``LaunchError`` when the executable cannot be found or started; `CancellationError` when the
    ///   calling task was cancelled (the process group has been stopped by then).
    public static func run(
        _ spec: ProcessSpec,
        onStart: @Sendable (Int32) -> Void = { _ in },
        onEvent: @escaping @Sendable (ProcessOutputEvent) async -> Void
    ) async throws -> ProcessExit {
        var options = PlatformOptions()
        options.createSession = true
        options.teardownSequence = [
            .gracefulShutDown(toProcessGroup: true, allowedDurationToNextStep: spec.terminationGrace)
        ]
        let executable: Executable
        if spec.executable.contains("/") {
            executable = .path(FilePath(spec.executable))
        } else if let path = ExecutableLookup.find(spec.executable) {
            executable = .path(FilePath(path))
        } else {
            throw LaunchError(description: "exec: \"\(spec.executable)\": executable file not found in $PATH")
        }
        let configuration = Configuration(
            executable: executable,
            arguments: Arguments(spec.arguments),
            environment: .custom(environment(updating: spec.environment)),
            workingDirectory: spec.workingDirectory.map { FilePath($0) },
            platformOptions: options
        )

        let outcome: ExecutionResult<Void, SequenceOutput, SequenceOutput>
        do {
            outcome = try await Subprocess.run(configuration, input: .none, output: .sequence, error: .sequence) {
                execution in
                let pid = execution.processIdentifier.value
                onStart(pid)
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        for try await chunk in execution.standardOutput {
                            await onEvent(.standardOutput(chunk.withUnsafeBytes { Array($0) }))
                        }
                    }
                    group.addTask {
                        for try await chunk in execution.standardError {
                            await onEvent(.standardError(chunk.withUnsafeBytes { Array($0) }))
                        }
                    }
                    try await group.waitForAll()
                }

            }
        } catch let error as SubprocessError {
            try Task.checkCancellation()
            throw LaunchError(description: launchFailure(spec, error))
        }
        // The group leader is gone; anything it left behind in its group goes with it.
        _ = kill(-outcome.processIdentifier.value, SIGKILL)
        try Task.checkCancellation()
        switch outcome.terminationStatus {
        case .exited(let code): return .exited(code)
        case .signaled(let signal): return .signaled(signal)
        }
    }

    /// The runner's environment with `overrides` applied (a `nil` value removes the variable), as the
    /// NUL-terminated `KEY=value` byte strings the child gets (Subprocess copies them with `strdup`); read
    /// straight from `environ`, without building a dictionary.
    static func environment(updating overrides: [String: String?]) -> [[UInt8]] {
        var entries: [[UInt8]] = []
        entries.reserveCapacity(64)
        var entry = environ
        while let pointer = entry.pointee {
            let bytes = UnsafeBufferPointer(
                start: UnsafeRawPointer(pointer).assumingMemoryBound(to: UInt8.self), count: strlen(pointer) + 1)
            let key = bytes.firstIndex(of: UInt8(ascii: "=")).map { String(decoding: bytes[..<$0], as: UTF8.self) }
            if let key, overrides.keys.contains(key) {
                entry += 1
                continue
            }
            entries.append(Array(bytes))
            entry += 1
        }
        for (key, value) in overrides.sorted(by: { $0.key < $1.key }) {
            if let value { entries.append(Array("\(key)=\(value)".utf8) + [0]) }
        }
        return entries
    }

    private static func launchFailure(_ spec: ProcessSpec, _ error: SubprocessError) -> String {
        switch error.code {
        case .executableNotFound:
            return "exec: \"\(spec.executable)\": executable file not found in $PATH"
        case .failedToChangeWorkingDirectory:
            return "cannot start \(spec.executable): cannot change to directory \(spec.workingDirectory ?? "")"
        default:
            return "cannot start \(spec.executable): \(error)"
        }
    }
}

/// Finds an executable named without a slash on the runner's `PATH`, as a shell would, and remembers where:
/// the next run checks the remembered file with one `access` call instead of searching again.
enum ExecutableLookup {
    private static let found = Mutex<[String: String]>([:])

    static func find(_ name: String) -> String? {
        let searchPath = getenv("PATH").map { String(cString: $0) } ?? "/usr/bin:/bin"
        let key = searchPath + "\u{0}" + name
        if let path = found.withLock({ $0[key] }), access(path, X_OK) == 0 { return path }
        for directory in searchPath.split(separator: ":", omittingEmptySubsequences: false) {
            let path = (directory.isEmpty ? "." : String(directory)) + "/" + name
            var status = stat()
            guard stat(path, &status) == 0, status.st_mode & S_IFMT == S_IFREG, access(path, X_OK) == 0 else {
                continue
            }
            found.withLock { $0[key] = path }
            return path
        }
        found.withLock { _ = $0.removeValue(forKey: key) }
        return nil
    }
}
