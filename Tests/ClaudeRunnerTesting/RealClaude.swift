import Foundation
import Synchronization

/// The real Claude Code CLI, set up for one test to talk to a ``FakeAnthropic`` instead of Anthropic.
///
/// The binary comes from `scripts/install-claude-cli.sh` (which `.ci/run` calls), or from the path in
/// `CLAUDE_RUNNER_REAL_CLAUDE`. A test that needs it and cannot find it fails with an error that says how
/// to install it; it never skips.
///
/// Each instance has its own `HOME` (the CLI keeps its sessions, settings and caches there, so
/// `--resume` works across runs of the same instance and nothing leaks between tests) and its own `bin`
/// folder holding a `claude` symlink, to put first on `PATH` for a runner under test.
public struct RealClaude: Sendable {
    /// The environment variable naming a `claude` binary to use instead of the installed one.
    public static let executableVariable = "CLAUDE_RUNNER_REAL_CLAUDE"

    /// The dummy API key the CLI sends (`x-api-key`); tests can look for it, e.g. to check redaction.
    public static let apiKey = "sk-ant-api03-fake-key-for-tests-0123456789"

    /// The real binary.
    public let executable: String
    /// A folder whose only entry is `claude`, a symlink to ``executable``: put it first on `PATH`.
    public let binDirectory: String
    /// The `HOME` the CLI runs with.
    public let home: String
    private let directory: String

    /// Finds the CLI and prepares `bin/` and `home/` in `directory`.
    ///
    /// - Throws: A ``Command/Failure`` saying how to install the CLI when it is not there.
    public init(in directory: String) throws {
        executable = try Self.locateExecutable()
        self.directory = directory
        binDirectory = (directory as NSString).appendingPathComponent("bin")
        home = (directory as NSString).appendingPathComponent("home")
        let fileManager = FileManager.default
        try fileManager.createDirectory(atPath: binDirectory, withIntermediateDirectories: true)
        try fileManager.createDirectory(atPath: home, withIntermediateDirectories: true)
        let link = (binDirectory as NSString).appendingPathComponent("claude")
        try? fileManager.removeItem(atPath: link)
        try fileManager.createSymbolicLink(atPath: link, withDestinationPath: executable)
    }

    /// The CLI binary: `$CLAUDE_RUNNER_REAL_CLAUDE`, else `.tools/claude-cli/claude` in the package.
    ///
    /// - Parameters:
    ///   - environment: Where to look for `CLAUDE_RUNNER_REAL_CLAUDE`; the process's own by default.
    ///   - packageRoot: The checkout holding `.tools/`; this package by default.
    public static func locateExecutable(
        environment: [String: String] = ProcessInfo.processInfo.environment, packageRoot: String = packageRoot
    ) throws -> String {
        if let path = environment[executableVariable], !path.isEmpty {
            guard FileManager.default.isExecutableFile(atPath: path) else {
                throw Command.Failure(
                    description:
                        "the real Claude Code CLI is required by this test; \(executableVariable)=\(path) is not an "
                        + "executable file (unset it to use the one scripts/install-claude-cli.sh installs)")
            }
            return path
        }
        let installed = packageRoot + "/.tools/claude-cli/claude"
        if !FileManager.default.isExecutableFile(atPath: installed) { installOnce(packageRoot: packageRoot) }
        guard FileManager.default.isExecutableFile(atPath: installed) else {
            throw Command.Failure(
                description:
                    "the real Claude Code CLI is required by this test; run scripts/install-claude-cli.sh "
                    + "(it installs \(installed)), or set \(executableVariable) to a claude binary"
                    + (installFailure(packageRoot: packageRoot).map { " (installing it failed: \($0))" } ?? ""))
        }
        return installed
    }

    /// What running the install script gave, per package root: `nil` for success.
    private static let installs = Mutex<[String: String?]>([:])

    /// Runs `scripts/install-claude-cli.sh` of `packageRoot` once per test process (a plain `swift test`
    /// on a fresh clone then needs no step before it); tests that need the CLI meanwhile wait for it.
    static func installOnce(packageRoot: String) {
        let script = packageRoot + "/scripts/install-claude-cli.sh"
        guard FileManager.default.fileExists(atPath: script) else { return }
        installs.withLock { installs in
            guard installs[packageRoot] == nil else { return }
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/bin/bash")
            process.arguments = [script]
            process.standardOutput = FileHandle.nullDevice
            let errors = Pipe()
            process.standardError = errors
            do {
                try process.run()
                let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                process.waitUntilExit()
                installs[packageRoot] =
                    process.terminationStatus == 0
                    ? .some(nil)
                    : .some(
                        text.split(separator: "\n").last.map(String.init) ?? "exit status \(process.terminationStatus)")
            } catch {
                installs[packageRoot] = .some("\(error)")
            }
        }
    }

    static func installFailure(packageRoot: String) -> String? {
        installs.withLock { $0[packageRoot] ?? nil }
    }

    /// The package's root folder (this file is `Tests/ClaudeRunnerTesting/RealClaude.swift` in it).
    public static var packageRoot: String {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }

    /// `PATH` with ``binDirectory`` first.
    public var path: String {
        binDirectory + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
    }

    /// The environment to run the CLI (or a runner that starts it) with against the fake at `baseURL`,
    /// as overrides of the test process's own environment (`nil` removes a variable).
    ///
    /// Besides the fake's address, a dummy key and a private `HOME`, it makes runs deterministic: no
    /// traffic other than the Messages API (no update checks, telemetry or error reports, which would
    /// also try the internet), no retries of failed API calls (one request per scripted turn), and none
    /// of the variables that would point the CLI elsewhere or change its behaviour when the tests
    /// themselves run under Claude Code. `IS_SANDBOX` is removed, so the CLI refuses
    /// `--dangerously-skip-permissions` as root as it does in production; add it back to test that.
    public func environment(baseURL: String) -> [String: String?] {
        var environment: [String: String?] = [
            "ANTHROPIC_BASE_URL": baseURL,
            "ANTHROPIC_API_KEY": Self.apiKey,
            "HOME": home,
            "PATH": path,
            "XDG_CONFIG_HOME": home + "/.config",
            "XDG_CACHE_HOME": home + "/.cache",
            "XDG_DATA_HOME": home + "/.local/share",
            "XDG_STATE_HOME": home + "/.local/state",
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
            "DISABLE_AUTOUPDATER": "1",
            "DISABLE_TELEMETRY": "1",
            "DISABLE_ERROR_REPORTING": "1",
            "CLAUDE_CODE_MAX_RETRIES": "0",
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
        ]
        for name in Self.removedVariables { environment[name] = .some(nil) }
        return environment
    }

    /// Variables of the test process that must not reach the CLI: other credentials and endpoints, model
    /// overrides, a config folder outside ``home``, and the markers of running inside Claude Code.
    static let removedVariables = [
        "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN", "ANTHROPIC_CUSTOM_HEADERS", "ANTHROPIC_BETAS",
        "ANTHROPIC_MODEL", "ANTHROPIC_SMALL_FAST_MODEL", "ANTHROPIC_DEFAULT_OPUS_MODEL",
        "ANTHROPIC_DEFAULT_SONNET_MODEL", "ANTHROPIC_DEFAULT_HAIKU_MODEL", "CLAUDE_CODE_SUBAGENT_MODEL",
        "CLAUDE_CODE_USE_BEDROCK", "CLAUDE_CODE_USE_VERTEX", "CLAUDE_CODE_USE_FOUNDRY", "CLAUDE_CONFIG_DIR",
        "CLAUDECODE", "CLAUDE_CODE_ENTRYPOINT", "CLAUDE_CODE_SESSION_ID", "CLAUDE_CODE_CHILD_SESSION",
        "CLAUDE_CODE_SSE_PORT", "IS_SANDBOX", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy",
        "https_proxy", "all_proxy",
    ]

    /// A `claude` launcher script that sets ``environment(baseURL:)`` and runs the real CLI, for a runner
    /// tested in process (whose children inherit the test process's environment): use it as
    /// ``RunnerConfig/claudeExecutable``. Each call replaces the previous launcher of this instance.
    ///
    /// - Returns: The launcher's path.
    public func launcher(baseURL: String) throws -> String {
        let folder = (directory as NSString).appendingPathComponent("launcher")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let script = (folder as NSString).appendingPathComponent("claude")
        var lines = ["#!/bin/sh"]
        for (name, value) in environment(baseURL: baseURL).sorted(by: { $0.key < $1.key }) {
            lines.append(value.map { "export \(name)=\(FakeClaude.shellQuoted($0))" } ?? "unset \(name)")
        }
        lines.append("exec \(FakeClaude.shellQuoted(executable)) \"$@\"")
        try (lines.joined(separator: "\n") + "\n").write(toFile: script, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: script)
        return script
    }
}
