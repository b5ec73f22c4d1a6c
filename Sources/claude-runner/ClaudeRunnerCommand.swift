import ArgumentParser
import ClaudeRunner
import ClaudeRunnerTransports
import Foundation
import Logging
import ServiceLifecycle

/// Swift Concurrency's jobs run on its own cooperative pool, not on NIO's event loops: with NIO's loops as the
/// global executor, every hop to the generic executor became a real switch, and a library that holds a lock
/// across such a hop (swift-async-algorithms' `merge`, inside Hummingbird's date cache) could deadlock the loop
/// that cancelled it: a server whose listen address was taken then hung instead of exiting. (Only the HTTP
/// server's own tasks prefer its event loop, through a task executor preference: `HTTPApplication`.)
@main
struct ClaudeRunnerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "claude-runner",
        abstract: "Claude Code Runner over HTTP/NATS",
        discussion: "Runs the Claude Code CLI (claude -p) on request from remote callers.",
        subcommands: [Serve.self, RunIssue.self],
        defaultSubcommand: Serve.self
    )
}

/// Options every subcommand takes.
struct CommonOptions: ParsableArguments {
    @Option(name: .long, help: "Path to the config directory (default: ~/.flarex/claude-runner)")
    var path: String?

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical (env: LOG_LEVEL)")
    var logLevel: String?

    var configDirectory: String { PathExpansion.absolute(path ?? RunnerConfig.defaultDirectory) }

    /// Sends log lines to stderr at the chosen level and returns the root logger.
    func bootstrapLogging() throws -> Logger {
        let text =
            logLevel ?? ProcessInfo.processInfo.environment["LOG_LEVEL"].flatMap { $0.isEmpty ? nil : $0 } ?? "info"
        guard let level = Logger.Level(rawValue: text.lowercased()) else {
            throw ValidationError(
                "invalid log level \"\(text)\": use trace, debug, info, notice, warning, error or critical")
        }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        var logger = Logger(label: "claude-runner")
        logger.logLevel = level
        return logger
    }

    /// Loads `config.yaml`, logging each warning; a bad file ends the program with its message.
    func loadConfig(
        logger: Logger, environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws
        -> RunnerConfig
    {
        do {
            let loaded = try ConfigLoader.load(directory: configDirectory, environment: environment)
            for warning in loaded.warnings { logger.warning("\(warning)") }
            return loaded.config
        } catch let error as ConfigError {
            throw StartupError("invalid config: \(error)")
        }
    }
}

/// A start-up failure: printed as one line, exit status 1.
struct StartupError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

extension AsyncParsableCommand {
    /// Runs `body`, turning a ``StartupError`` into a one-line message on stderr and exit status 1.
    func exitOnStartupError(_ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch let error as StartupError {
            FileHandle.standardError.write(Data("claude-runner: \(error.description)\n".utf8))
            throw ExitCode.failure
        }
    }
}
