import Foundation
import Logging
import Subprocess

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
        var overrides: [Environment.Key: String?] = [:]
        for (key, value) in spec.environment {
            if let environmentKey = Environment.Key(rawValue: key) { overrides[environmentKey] = value }
        }
        let executable: Executable =
            spec.executable.contains("/") ? .path(FilePath(spec.executable)) : .name(spec.executable)
        let configuration = Configuration(
            executable: executable,
            arguments: Arguments(spec.arguments),
            environment: .inherit.updating(overrides),
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
