import ClaudeRunner
import Foundation

extension RealClaude {
    /// What one run of the CLI printed, with its `stream-json` events parsed.
    public struct Transcript: Sendable {
        public let exit: ProcessExit
        public let standardOutput: String
        public let standardError: String
        /// Each stdout line that is a JSON object, in order.
        public let events: [FakeAnthropic.JSON]

        init(exit: ProcessExit, standardOutput: String, standardError: String) {
            self.exit = exit
            self.standardOutput = standardOutput
            self.standardError = standardError
            events = standardOutput.split(whereSeparator: \.isNewline).compactMap { line in
                guard let event = try? FakeAnthropic.JSON(parsing: Data(line.utf8)), event.object != nil else {
                    return nil
                }
                return event
            }
        }

        /// Events of `type` (and `subtype`, when given).
        public func events(_ type: String, subtype: String? = nil) -> [FakeAnthropic.JSON] {
            events.filter { $0["type"]?.string == type && (subtype == nil || $0["subtype"]?.string == subtype) }
        }

        /// The `system`/`init` event.
        public var initEvent: FakeAnthropic.JSON? { events("system", subtype: "init").first }
        /// The final `result` event.
        public var result: FakeAnthropic.JSON? { events("result").last }
        public var sessionID: String? { initEvent?["session_id"]?.string ?? result?["session_id"]?.string }

        /// Content blocks of `assistant` events of `type` (`text`, `tool_use`), in order.
        public func assistantBlocks(_ type: String) -> [FakeAnthropic.JSON] {
            events("assistant").flatMap { $0["message"]?["content"]?.array ?? [] }.filter {
                $0["type"]?.string == type
            }
        }

        /// The run as a test failure message would want it: exit, stderr and stdout.
        public var summary: String {
            "\(exit)\nstderr: \(standardError)\nstdout: \(standardOutput)"
        }
    }

    /// Runs the CLI to completion in `workspace` against the fake at `baseURL`.
    ///
    /// - Parameters:
    ///   - arguments: The CLI's arguments, e.g. `["-p", "do it", "--output-format", "stream-json", "--verbose"]`.
    ///   - workspace: Its working directory (where its tools act).
    ///   - baseURL: The fake's base URL (``FakeAnthropic/serve(_:)``).
    ///   - environment: More overrides, on top of ``environment(baseURL:)``.
    ///   - collector: Receives the output as it arrives, for a test that looks at the run while it goes.
    ///   - timeout: After this the CLI's process group is stopped and the call throws.
    public func run(
        _ arguments: [String], in workspace: String, against baseURL: String, environment: [String: String?] = [:],
        collector: OutputCollector? = nil, timeout: Duration = .seconds(120)
    ) async throws -> Transcript {
        let collector = collector ?? OutputCollector(limit: 16 << 20)
        let spec = ProcessSpec(
            executable: executable, arguments: arguments, workingDirectory: workspace,
            environment: self.environment(baseURL: baseURL).merging(environment) { _, new in new },
            terminationGrace: .seconds(2))
        let exit = try await withThrowingTaskGroup(of: ProcessExit?.self) { group in
            group.addTask { try await ChildProcess.run(spec) { collector.record($0) } }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let exit = first else {
                throw Command.Failure(
                    description:
                        "claude \(arguments.joined(separator: " ")) did not finish within \(timeout); stderr: "
                        + (collector.standardError.text))
            }
            return exit
        }
        return Transcript(
            exit: exit, standardOutput: collector.standardOutput.text,
            standardError: collector.standardError.text)
    }
}
