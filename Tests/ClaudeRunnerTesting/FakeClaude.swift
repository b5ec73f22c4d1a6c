import Foundation

/// A fake `claude` executable for one test: a wrapper script that sets the behaviour and execs the shared
/// `fake-claude` script, which records argv, cwd and stdin in ``recordDirectory``.
public struct FakeClaude: Sendable {
    /// The wrapper: put it first on `PATH` (as `claude`) or use it as ``RunnerConfig/claudeExecutable``.
    public let executable: String
    /// The folder holding `claude`, for `PATH`.
    public let binDirectory: String
    public let recordDirectory: String

    /// - Parameters:
    ///   - directory: Where to create `bin/claude` and `record/`.
    ///   - behaviour: `FAKE_CLAUDE_*` settings (without the prefix), e.g. `["OUTPUT": "hi", "EXIT": "2"]`.
    public init(in directory: String, _ behaviour: [String: String] = [:]) throws {
        guard let script = Bundle.module.path(forResource: "fake-claude", ofType: nil) else {
            throw Command.Failure(description: "fake-claude resource is missing from the test bundle")
        }
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: script)
        binDirectory = (directory as NSString).appendingPathComponent("bin")
        recordDirectory = (directory as NSString).appendingPathComponent("record")
        executable = (binDirectory as NSString).appendingPathComponent("claude")
        try FileManager.default.createDirectory(atPath: binDirectory, withIntermediateDirectories: true)
        var lines = ["#!/bin/sh", "export FAKE_CLAUDE_RECORD_DIR=\(Self.shellQuoted(recordDirectory))"]
        for (key, value) in behaviour.sorted(by: { $0.key < $1.key }) {
            lines.append("export FAKE_CLAUDE_\(key)=\(Self.shellQuoted(value))")
        }
        lines.append("exec \(Self.shellQuoted(script)) \"$@\"")
        try (lines.joined(separator: "\n") + "\n").write(toFile: executable, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: executable)
    }

    /// The arguments of the last call (without the program name).
    public var arguments: [String]? {
        guard let data = FileManager.default.contents(atPath: record("argv")) else { return nil }
        return data.split(separator: 0, omittingEmptySubsequences: false).dropLast().map {
            String(decoding: $0, as: UTF8.self)
        }
    }

    /// The whole environment of the last call, as the process saw it.
    public var environment: [String: String]? {
        guard let data = FileManager.default.contents(atPath: record("env")) else { return nil }
        var variables: [String: String] = [:]
        for entry in data.split(separator: 0) {
            let text = String(decoding: entry, as: UTF8.self)
            guard let equals = text.firstIndex(of: "=") else { continue }
            variables[String(text[..<equals])] = String(text[text.index(after: equals)...])
        }
        return variables
    }

    public var workingDirectory: String? { text("cwd")?.trimmingCharacters(in: .whitespacesAndNewlines) }
    public var standardInput: String? { text("stdin") }
    public var processID: Int32? { text("pid").flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) } }
    public var childProcessID: Int32? {
        text("child.pid").flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }
    /// Files in the working directory at the last call (needs `LIST_FILES`).
    public var files: [String]? { text("files")?.split(separator: "\n").map(String.init) }
    /// The diff file Claude saw (needs `LIST_FILES`).
    public var diff: String? { text("diff") }
    /// The diff file's bytes, for byte-for-byte comparisons (needs `LIST_FILES`).
    public var diffBytes: Data? { FileManager.default.contents(atPath: record("diff")) }
    /// What git showed of the working directory (needs `GIT_STATE`): shallow or not, commit count, HEAD,
    /// branch, refs and remote config, one item per line.
    public var gitState: String? { text("git-state") }
    /// How many times it was called.
    public var callCount: Int { text("calls.log")?.split(separator: "\n").count ?? 0 }
    public var wasCalled: Bool { callCount > 0 }

    /// The prompt (the argument after `-p`).
    public var prompt: String? {
        guard let arguments, let index = arguments.firstIndex(of: "-p"), index + 1 < arguments.count else { return nil }
        return arguments[index + 1]
    }

    func record(_ name: String) -> String { (recordDirectory as NSString).appendingPathComponent(name) }
    func text(_ name: String) -> String? { FileManager.default.text(at: record(name)) }

    /// Waits until the fake has started (it records its pid first thing).
    public func waitUntilStarted(timeout: Duration = .seconds(60)) async throws {
        let deadline = ContinuousClock.now + timeout
        while processID == nil {
            guard ContinuousClock.now < deadline else {
                throw Command.Failure(description: "fake claude did not start within \(timeout)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    static func shellQuoted(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}

/// Whether a process exists (and is not a zombie waiting to be reaped).
public func processIsAlive(_ pid: Int32) -> Bool {
    guard let status = FileManager.default.text(at: "/proc/\(pid)/status") else { return false }
    return !status.contains("State:\tZ")
}

/// Waits until `condition` holds, polling; throws after `timeout`.
public func eventually(
    timeout: Duration = .seconds(20), _ what: String = "condition", _ condition: () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + timeout
    while try await !condition() {
        guard ContinuousClock.now < deadline else {
            throw Command.Failure(description: "timed out waiting for \(what)")
        }
        try await Task.sleep(for: .milliseconds(25))
    }
}
