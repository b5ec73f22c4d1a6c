import ClaudeRunner
import Foundation
import Synchronization

/// Runs a command to completion for test set-up (git fixtures, binaries under test).
public enum Command {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
        public init(description: String) { self.description = description }
    }

    public struct Output: Sendable {
        public let exit: ProcessExit
        public let standardOutput: String
        public let standardError: String
        /// stdout as bytes, for binary output.
        public let standardOutputBytes: [UInt8]
    }

    /// Runs `executable` and returns what it printed, whatever its exit status.
    /// - Throws: ``Failure`` when it is still running after `timeout` (it is stopped then), saying what state
    ///   the process was in: a hang fails the test that waits for it, with the facts, instead of stalling.
    public static func output(
        _ executable: String, _ arguments: [String], in directory: String? = nil, environment: [String: String?] = [:],
        timeout: Duration = .seconds(120)
    ) async throws -> Output {
        let collector = OutputCollector(limit: 64 << 20)
        let pid = Mutex<Int32?>(nil)
        let hung = Mutex<String?>(nil)
        let deadline = ContinuousClock.now + timeout
        let spec = ProcessSpec(
            executable: executable, arguments: arguments, workingDirectory: directory, environment: environment,
            watchdog: { now in
                guard now >= deadline else { return deadline }
                let state = pid.withLock { $0 }.map(processState) ?? "never started"
                hung.withLock { $0 = state }
                return nil
            })
        let exit = try await ChildProcess.run(spec, onStart: { started in pid.withLock { $0 = started } }) {
            collector.record($0)
        }
        if let state = hung.withLock({ $0 }) {
            throw Failure(
                description: "\(executable) \(arguments.joined(separator: " ")) still ran after \(timeout) (\(state)); "
                    + "stderr: \(collector.standardError.text.suffix(2000))")
        }
        return Output(
            exit: exit, standardOutput: collector.standardOutput.text,
            standardError: collector.standardError.text,
            standardOutputBytes: collector.standardOutput.bytes)
    }

    /// Runs `executable` and throws unless it exits 0; returns stdout.
    @discardableResult
    public static func run(
        _ executable: String, _ arguments: [String], in directory: String? = nil, environment: [String: String?] = [:]
    ) async throws -> String {
        let output = try await output(executable, arguments, in: directory, environment: environment)
        guard output.exit.isSuccess else {
            throw Failure(
                description:
                    "\(executable) \(arguments.joined(separator: " ")) failed: \(output.exit): \(output.standardError)")
        }
        return output.standardOutput
    }

    /// Fails loudly when a tool the tests need is missing; tests never skip silently.
    public static func require(_ tool: String) throws {
        let paths = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":")
        guard paths.contains(where: { FileManager.default.isExecutableFile(atPath: "\($0)/\(tool)") }) else {
            throw Failure(description: "\(tool) is required by this test but is not on PATH; .ci/run installs it")
        }
    }
}

/// What `/proc` says of a process: its state and where in the kernel it waits.
func processState(_ pid: Int32) -> String {
    let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
    let state = status.split(separator: "\n").first { $0.hasPrefix("State:") } ?? "State: gone"
    let wchan = (try? String(contentsOfFile: "/proc/\(pid)/wchan", encoding: .utf8)) ?? "?"
    return "pid \(pid) \(state.replacingOccurrences(of: "\t", with: " ")), wchan \(wchan)"
}
