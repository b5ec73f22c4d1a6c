import ClaudeRunner
import Foundation
import Logging

/// A runner set up for a test: a temp config directory, a fake `claude`, and a config pointing at both.
public struct RunnerFixture: Sendable {
    public let directory: TemporaryDirectory
    public let claude: FakeClaude
    public var config: RunnerConfig

    /// - Parameters:
    ///   - claudeBehaviour: `FAKE_CLAUDE_*` settings for the fake.
    ///   - githubURL: The fake GitHub's base URL, if the test uses issues.
    public init(
        _ label: String = "runner", claudeBehaviour: [String: String] = [:], githubURL: String? = nil,
        githubToken: String? = "ghp_testtoken_1234567890"
    ) throws {
        directory = try TemporaryDirectory(label)
        claude = try FakeClaude(in: directory.appending("fake"), claudeBehaviour)
        config = RunnerConfig(configDirectory: directory.appending("config"))
        config.claudeExecutable = claude.executable
        config.terminationGrace = .seconds(2)
        if let githubURL { config.github = .init(token: githubToken, baseURL: githubURL) }
    }

    public var workDir: String { config.workDir }

    /// `PATH` with the fake `claude` first, for the binaries under test.
    public var pathWithFakeClaude: String {
        claude.binDirectory + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "")
    }

    /// Writes `config.yaml` into this fixture's config directory (created if needed) for tests that start
    /// the binaries; returns the directory, for `--path`.
    public func writeConfigFile(_ yaml: String) throws -> String {
        let path = directory.appending("config")
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        try yaml.write(toFile: path + "/config.yaml", atomically: true, encoding: .utf8)
        return path
    }

    /// Entries in `workDir` (run workspaces and issue task roots).
    public func workDirEntries() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: workDir)) ?? []).sorted()
    }

    public static var logger: Logger {
        var logger = Logger(label: "test")
        logger.logLevel =
            ProcessInfo.processInfo.environment["TEST_LOG_LEVEL"].flatMap { Logger.Level(rawValue: $0) } ?? .critical
        return logger
    }

    /// Runs `body` with a service whose background work runs until `body` returns.
    public func withService<T: Sendable>(
        _ body: @escaping @Sendable (RunnerService, BackgroundWork) async throws -> T
    ) async throws -> T {
        let background = BackgroundWork(shutdownGrace: .seconds(5), logger: Self.logger)
        let service = RunnerService(config: config, scheduler: background, logger: Self.logger)
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                try await background.run()
                return nil
            }
            group.addTask { try await body(service, background) }
            defer { group.cancelAll() }
            while let result = try await group.next() {
                if let result { return result }
            }
            throw Command.Failure(description: "background work stopped early")
        }
    }
}
