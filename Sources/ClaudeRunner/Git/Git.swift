import Foundation
import Logging

/// The git operations a run needs, each one a `git` child process with validated arguments.
///
/// Every command runs with `GIT_TERMINAL_PROMPT=0` (never wait for a password) and `GIT_ALLOW_PROTOCOL`
/// set to the allowlist, which git enforces for the clone and for every submodule, whatever the user's
/// git config says. Error messages carry git's stderr with secrets redacted. Every command has a deadline,
/// ``timeout``: on expiry its process group is stopped as a run's is (SIGTERM, then SIGKILL after
/// ``terminationGrace``) and the error says which command timed out and after how long.
public struct Git: Sendable {
    public var allowedProtocols: [String]
    public var redactor: Redactor
    public var terminationGrace: Duration
    /// The deadline of each git command (`git.timeout`).
    public var timeout: Duration
    /// Extra environment for commands that talk to a remote (e.g. an authorization header for GitHub).
    public var remoteEnvironment: [String: String?]

    public init(
        allowedProtocols: [String], redactor: Redactor, terminationGrace: Duration = .seconds(10),
        timeout: Duration = .seconds(600), remoteEnvironment: [String: String?] = [:]
    ) {
        self.allowedProtocols = allowedProtocols
        self.redactor = redactor
        self.terminationGrace = terminationGrace
        self.timeout = timeout
        self.remoteEnvironment = remoteEnvironment
    }

    /// A failed git command: what was attempted and git's (redacted) stderr.
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public let description: String
        /// The command was stopped at its deadline (a stalled remote), rather than failing by itself.
        public let timedOut: Bool

        init(description: String, timedOut: Bool = false) {
            self.description = description
            self.timedOut = timedOut
        }
    }

    /// `git clone [--depth 1] [--branch <ref>] -- <source> <directory>`.
    public func clone(source: String, into directory: String, ref: String?, shallow: Bool, logger: Logger) async throws
    {
        var arguments = ["clone", "--quiet", "--no-recurse-submodules"]
        if shallow { arguments += ["--depth", "1"] }
        if let ref { arguments += ["--branch", ref] }
        arguments += ["--", source, directory]
        try await run(arguments, in: nil, remote: true, action: "git clone", logger: logger)
    }

    /// `git fetch origin <ref>`: leaves the fetched commit in `FETCH_HEAD`.
    public func fetch(ref: String, in directory: String, logger: Logger) async throws {
        try await run(
            ["fetch", "--quiet", "origin", "--", ref], in: directory, remote: true, action: "git fetch", logger: logger)
    }

    /// Writes `git diff --no-ext-diff --binary FETCH_HEAD...HEAD` to `file`, streaming it to disk.
    public func writeDiff(in directory: String, to file: String, logger: Logger) async throws {
        guard FileManager.default.createFile(atPath: file, contents: nil, attributes: [.posixPermissions: 0o600]),
            let handle = FileHandle(forWritingAtPath: file)
        else {
            throw Failure(description: "cannot write \((file as NSString).lastPathComponent)")
        }
        defer { try? handle.close() }
        let spec = processSpec(
            ["diff", "--no-ext-diff", "--binary", "FETCH_HEAD...HEAD"], in: directory, remote: false)
        let errors = LockedValue(OutputBuffer(limit: 1 << 20))
        let writeFailed = LockedValue(false)
        let exit = try await runWithDeadline(spec, action: "git diff") { event in
            switch event {
            case .standardOutput(let chunk):
                // Into the page cache: quick enough for the process monitor's thread.
                do { try handle.write(contentsOf: chunk) } catch { writeFailed.value = true }
            case .standardError(let chunk):
                errors.withLock { $0.append(chunk) }
            }
        }
        if writeFailed.value { throw Failure(description: "git diff: cannot write the diff file") }
        guard exit.isSuccess else { throw failure("git diff", exit: exit, stderr: errors.value.text) }
    }

    /// The commit id of `HEAD` in `directory`.
    public func headCommit(in directory: String, logger: Logger) async throws -> String {
        try await run(
            Self.untrusted + ["rev-parse", "--verify", "HEAD"], in: directory, remote: false, action: "git rev-parse",
            logger: logger
        ).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    // MARK: A workspace Claude worked in

    /// Settings that neutralise what Claude could have written into a workspace's `.git/config` to run a
    /// program under the runner (hooks, an fsmonitor, a signing program, a credential helper).
    static let untrusted = [
        "-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false", "-c", "commit.gpgsign=false",
        "-c", "tag.gpgsign=false", "-c", "credential.helper=", "-c", "http.sslVerify=true",
    ]

    /// The branch checked out, or `nil` when `HEAD` is detached.
    public func currentBranch(in directory: String, logger: Logger) async throws -> String? {
        let spec = processSpec(
            Self.untrusted + ["symbolic-ref", "--quiet", "--short", "HEAD"], in: directory, remote: false)
        let collector = OutputCollector(limit: 64 << 10)
        let exit = try await runWithDeadline(spec, action: "git symbolic-ref") { collector.record($0) }
        guard exit.isSuccess else { return nil }
        let name = collector.standardOutput.text.trimmingCharacters(in: .whitespacesAndNewlines)
        return name.isEmpty ? nil : name
    }

    /// How many commits `HEAD` has that `base` does not (all of them without a base).
    public func commitCount(since base: String?, in directory: String, logger: Logger) async throws -> Int {
        let text = try await run(
            Self.untrusted + ["rev-list", "--count", base.map { "\($0)..HEAD" } ?? "HEAD"], in: directory,
            remote: false, action: "git rev-list", logger: logger)
        return Int(text.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
    }

    /// Whether the work tree has changes not committed, untracked files included.
    public func hasUncommittedChanges(in directory: String, logger: Logger) async throws -> Bool {
        let text = try await run(
            Self.untrusted + ["status", "--porcelain", "--untracked-files=all"], in: directory, remote: false,
            action: "git status", logger: logger)
        return !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty
    }

    /// Commits everything (untracked files too) as `author`, without running any hook.
    public func commitAll(
        message: String, author: CommitAuthor, in directory: String, logger: Logger
    ) async throws {
        try await run(Self.untrusted + ["add", "-A"], in: directory, remote: false, action: "git add", logger: logger)
        try await run(
            Self.untrusted + ["commit", "--quiet", "--no-verify", "-m", message], in: directory, remote: false,
            action: "git commit", environment: author.environment, logger: logger)
    }

    /// Points branch `name` at `HEAD` and checks it out (creating or moving it).
    public func checkoutBranch(_ name: String, in directory: String, logger: Logger) async throws {
        try await run(
            Self.untrusted + ["checkout", "--quiet", "-B", name], in: directory, remote: false,
            action: "git checkout", logger: logger)
    }

    /// `git push [--force] origin HEAD:refs/heads/<branch>`, no hooks.
    public func push(branch: String, force: Bool, in directory: String, logger: Logger) async throws {
        var arguments = Self.untrusted + ["push", "--quiet", "--no-verify"]
        if force { arguments.append("--force") }
        arguments += ["origin", "HEAD:refs/heads/\(branch)"]
        try await run(arguments, in: directory, remote: true, action: "git push", logger: logger)
    }

    /// `git fetch origin`: brings the remote's branches up to date in an existing workspace.
    public func fetchOrigin(in directory: String, logger: Logger) async throws {
        try await run(
            Self.untrusted + ["fetch", "--quiet", "origin"], in: directory, remote: true, action: "git fetch",
            logger: logger)
    }

    /// Runs one git command; returns its stdout.
    /// - Parameter strict: Also fail when git reports an `error:` or `fatal:` line but exits 0, as it does when
    ///   it reads around a damaged pack (used for mirrors, which are then made again).
    @discardableResult
    func run(
        _ arguments: [String], in directory: String?, remote: Bool, action: String, strict: Bool = false,
        environment: [String: String?] = [:], logger: Logger
    ) async throws
        -> String
    {
        let started = ContinuousClock.now
        var spec = processSpec(arguments, in: directory, remote: remote)
        for (key, value) in environment { spec.environment[key] = value }
        let collector = OutputCollector(limit: 1 << 20)
        let exit: ProcessExit
        do {
            exit = try await runWithDeadline(spec, action: action) { collector.record($0) }
        } catch let error as ChildProcess.LaunchError {
            throw Failure(description: "\(action): \(error.description)")
        }
        guard exit.isSuccess else {
            throw failure(action, exit: exit, stderr: collector.standardError.text)
        }
        if strict {
            let stderr = collector.standardError.text
            if stderr.split(whereSeparator: \.isNewline).contains(where: {
                $0.hasPrefix("error: ") || $0.hasPrefix("fatal: ")
            }) {
                throw failure(action, exit: exit, stderr: stderr)
            }
        }
        logger.debug(
            "git command finished",
            metadata: ["git.action": "\(action)", "duration": "\(ContinuousClock.now - started)"])
        return collector.standardOutput.text
    }

    /// Runs `spec` to completion or until ``timeout``, whichever comes first.
    ///
    /// The deadline is watched beside the process, as a run's limits are: when it passes, the whole process
    /// group is stopped (SIGTERM, SIGKILL after the grace), and this waits for that before it throws.
    /// - Throws: ``Failure`` with ``Failure/timedOut`` on expiry; `CancellationError` when the caller was
    ///   cancelled; ``ChildProcess/LaunchError``.
    func runWithDeadline(
        _ spec: ProcessSpec, action: String, onOutput: @escaping @Sendable (ProcessOutputEvent) -> Void
    ) async throws -> ProcessExit {
        let timedOut = LockedValue(false)
        var spec = spec
        spec.watchdog = deadlineWatchdog(.now + timeout, expired: timedOut)
        let exit = try await ChildProcess.run(spec, onOutput: onOutput)
        guard !timedOut.value else {
            throw Failure(description: "\(action) timed out after \(ClaudeProcess.format(timeout))", timedOut: true)
        }
        return exit
    }

    func failure(_ action: String, exit: ProcessExit, stderr: String) -> Failure {
        let detail = redactor.redact(stderr.trimmingCharacters(in: .whitespacesAndNewlines))
        return Failure(
            description: detail.isEmpty ? "\(action) failed: \(exit)" : "\(action) failed: \(exit): \(detail)")
    }

    func processSpec(_ arguments: [String], in directory: String?, remote: Bool) -> ProcessSpec {
        var environment: [String: String?] = [
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_ALLOW_PROTOCOL": allowedProtocols.joined(separator: ":"),
            "GIT_ASKPASS": nil,
            "SSH_ASKPASS": nil,
            "GIT_EXTERNAL_DIFF": nil,
            "GIT_PAGER": "cat",
            "LC_ALL": "C",
        ]
        // Git never needs the runner's own HTTP tokens.
        for name in ClaudeInvocation.runnerSecretVariables { environment[name] = .some(nil) }
        if remote {
            environment["GIT_SSH_COMMAND"] =
                ProcessInfo.processInfo.environment["GIT_SSH_COMMAND"] ?? "ssh -o BatchMode=yes"
            for (key, value) in remoteEnvironment { environment[key] = value }
        }
        return ProcessSpec(
            executable: "git", arguments: arguments, workingDirectory: directory, environment: environment,
            terminationGrace: terminationGrace
        )
    }
}

/// Collects stderr text from concurrent event callbacks.
/// Who the runner's own commits are by: `Name <email>`.
public struct CommitAuthor: Sendable, Equatable, CustomStringConvertible {
    public var name: String
    public var email: String

    public static let `default` = CommitAuthor(
        name: "claude-runner", email: "claude-runner@users.noreply.github.com")

    public init(name: String, email: String) {
        self.name = name
        self.email = email
    }

    /// Parses `Name <email>`; `nil` when it is not that shape.
    public init?(parsing text: String) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard trimmed.hasSuffix(">"), let open = trimmed.lastIndex(of: "<") else { return nil }
        let name = trimmed[..<open].trimmingCharacters(in: .whitespaces)
        let email = trimmed[trimmed.index(after: open)..<trimmed.index(before: trimmed.endIndex)]
        guard !name.isEmpty, !email.isEmpty, email.contains("@"), !name.contains(where: \.isNewline),
            !email.contains(where: { $0.isWhitespace || $0 == "<" || $0 == ">" })
        else { return nil }
        self.name = name
        self.email = String(email)
    }

    public var description: String { "\(name) <\(email)>" }

    var environment: [String: String?] {
        [
            "GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email, "GIT_COMMITTER_NAME": name,
            "GIT_COMMITTER_EMAIL": email,
        ]
    }
}
