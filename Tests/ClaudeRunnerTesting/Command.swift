import ClaudeRunner
import Foundation

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
    public static func output(
        _ executable: String, _ arguments: [String], in directory: String? = nil, environment: [String: String?] = [:]
    ) async throws -> Output {
        let collector = OutputCollector(limit: 64 << 20)
        let exit = try await ChildProcess.run(
            ProcessSpec(
                executable: executable, arguments: arguments, workingDirectory: directory, environment: environment)
        ) { collector.record($0) }
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
