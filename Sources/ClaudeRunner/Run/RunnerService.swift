import AsyncHTTPClient
import Foundation
import Logging
import Synchronization

/// The runner's three operations, shared by every transport: a plain or review run, the GitHub issue
/// agent-task protocol, and issue workspace cleanup.
///
/// A transport decodes a request, calls one of these methods and encodes the answer; it never decides
/// what kind of job a request is.
public final class RunnerService: Sendable {
    public let config: RunnerConfig
    public let redactor: Redactor
    let git: Git
    let claude: ClaudeProcess
    let github: GitHubClient?
    let scheduler: (any IssueScheduler)?
    let logger: Logger
    /// Claude runs at once, and the line of runs waiting for one.
    public let slots: RunSlots
    private let accepting = Mutex(true)

    /// - Parameters:
    ///   - config: The loaded configuration.
    ///   - scheduler: Where issue work runs in the background; `nil` for callers that only use
    ///     ``prepareIssue(_:logger:)`` and ``executeIssue(_:logger:)`` (the one-shot CLI).
    ///   - httpClient: The client for GitHub REST calls.
    ///   - logger: The service logger; per-request loggers come from the transports.
    ///   - secrets: Further strings never to show (the NATS seed).
    public init(
        config: RunnerConfig, scheduler: (any IssueScheduler)?, httpClient: HTTPClient = .shared,
        secrets: [String] = [], logger: Logger
    ) {
        self.config = config
        var redactor = Redactor()
        if let token = config.github.token { redactor.add(token) }
        for token in config.http.tokens { redactor.add(token) }
        for secret in secrets { redactor.add(secret) }
        self.redactor = redactor
        self.git = Git(
            allowedProtocols: config.git.allowedProtocols, redactor: redactor,
            terminationGrace: config.terminationGrace
        )
        self.claude = ClaudeProcess(config: config, redactor: redactor)
        self.github = config.github.token.flatMap { token in
            token.isEmpty ? nil : GitHubClient(baseURL: config.github.baseURL, token: token, httpClient: httpClient)
        }
        self.scheduler = scheduler
        self.logger = logger
        self.slots = RunSlots(capacity: config.limits.maxConcurrentRuns, maxWaiting: config.limits.maxQueuedRuns)
    }

    /// The longest prompt accepted: Linux limits one program argument to 128 KiB, and the prompt is one.
    public static let maxPromptBytes = 120_000

    /// Refuses new runs from now on (graceful shutdown); runs in progress go on.
    public func stopAccepting() {
        accepting.withLock { $0 = false }
    }

    /// Whether new runs are taken.
    public var isAccepting: Bool { accepting.withLock { $0 } }

    func checkAccepting() throws(RunnerError) {
        guard isAccepting else { throw .unavailable("runner is shutting down; not accepting new work") }
    }

    /// Creates the workspace root so the first run does not race to make it.
    public func prepareWorkDir() throws {
        try FileManager.default.createDirectory(atPath: config.workDir, withIntermediateDirectories: true)
    }

    // MARK: Run

    /// Runs a prompt, in `workDir` or in a fresh clone of the request's repo (removed afterwards whatever
    /// happens), with the pull-request trailer and diff when a base ref is given.
    ///
    /// - Returns: The Result; `error` is set when Claude exited non-zero or a limit stopped it.
    /// - Throws: ``RunnerError`` for an invalid request or a failed clone, fetch or diff.
    public func run(_ request: RunRequest, logger: Logger) async throws -> RunResult {
        let runID = ULID().description
        var logger = logger
        logger[metadataKey: "run.id"] = "\(runID)"
        logger[metadataKey: "action"] = "run"
        if let repo = request.repo.nonEmpty { logger[metadataKey: "repo"] = "\(redactor.redact(repo))" }
        if let event = request.event.nonEmpty { logger[metadataKey: "event"] = "\(event)" }

        try checkAccepting()
        guard !request.prompt.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            logger.info("run rejected", metadata: ["outcome": "invalid prompt"])
            throw RunnerError.invalidRequest("invalid prompt")
        }
        guard request.prompt.utf8.count <= Self.maxPromptBytes else {
            throw RunnerError.invalidRequest(
                "invalid prompt: \(request.prompt.utf8.count) bytes is longer than the limit of \(Self.maxPromptBytes)")
        }
        let repo = try request.repo.nonEmpty.map { value throws(RunnerError) in
            try RepoReference(
                value, githubBaseURL: config.github.baseURL, allowedProtocols: config.git.allowedProtocols)
        }
        if let ref = request.ref.nonEmpty { try RefName.validate(ref, field: "ref") }
        if let baseRef = request.baseRef.nonEmpty { try RefName.validate(baseRef, field: "base_ref") }
        if repo == nil, request.baseRef.nonEmpty != nil {
            throw RunnerError.invalidRequest("invalid base_ref: a base ref needs a repo to diff against")
        }
        if let prNumber = request.prNumber, prNumber < 0 {
            throw RunnerError.invalidRequest("invalid pr_number: must not be negative")
        }

        do {
            try prepareWorkDir()
        } catch {
            throw RunnerError.failed("cannot create workDir \(config.workDir): \(error.localizedDescription)")
        }
        let started = ContinuousClock.now
        let result: RunResult = try await slots.withSlot {
            logger.info("run started")
            if let repo {
                let workspace = (config.workDir as NSString).appendingPathComponent(runID)
                defer { try? FileManager.default.removeItem(atPath: workspace) }
                return try await runInClone(request, repo: repo, runID: runID, workspace: workspace, logger: logger)
            }
            return try await runClaude(
                ClaudeInvocation.run(prompt: ReviewPrompt.build(request, diffWritten: false), config: config),
                runID: runID, in: config.workDir, logger: logger)
        }
        logger.info(
            "run finished",
            metadata: [
                "outcome": "\(result.error == nil ? "ok" : "claude error")",
                "duration": "\(ContinuousClock.now - started)",
            ])
        return result
    }

    private func runInClone(
        _ request: RunRequest, repo: RepoReference, runID: String, workspace: String, logger: Logger
    ) async throws -> RunResult {
        let baseRef = request.baseRef.nonEmpty
        do {
            try await git(for: repo).clone(
                source: repo.cloneSource, into: workspace, ref: request.ref.nonEmpty, shallow: baseRef == nil,
                logger: logger)
        } catch let failure as Git.Failure {
            try? FileManager.default.removeItem(atPath: workspace)
            logger.warning("clone failed", metadata: ["outcome": "clone failed"])
            throw RunnerError.failed(failure.description)
        }
        var diffWritten = false
        if let baseRef {
            do {
                try await git(for: repo).fetch(ref: baseRef, in: workspace, logger: logger)
            } catch let failure as Git.Failure {
                throw RunnerError.failed("git fetch base ref \"\(baseRef)\" failed: \(failure.description)")
            }
            let diffFile = (workspace as NSString).appendingPathComponent(ReviewPrompt.diffFileName)
            do {
                try await git.writeDiff(in: workspace, to: diffFile, logger: logger)
            } catch let failure as Git.Failure {
                throw RunnerError.failed("git diff base ref \"\(baseRef)\" failed: \(failure.description)")
            } catch let failure as ChildProcess.LaunchError {
                throw RunnerError.failed("git diff base ref \"\(baseRef)\" failed: \(failure.description)")
            }
            let size = (try? FileManager.default.attributesOfItem(atPath: diffFile)[.size] as? Int) ?? 0
            if size == 0 {
                try? FileManager.default.removeItem(atPath: diffFile)
            } else {
                diffWritten = true
            }
        }
        let prompt = ReviewPrompt.build(request, diffWritten: diffWritten)
        return try await runClaude(
            ClaudeInvocation.run(prompt: prompt, config: config), runID: runID, in: workspace, logger: logger)
    }

    private func runClaude(
        _ invocation: ClaudeInvocation, runID: String, in directory: String, logger: Logger
    ) async throws
        -> RunResult
    {
        do {
            let outcome = try await claude.run(invocation, in: directory, logger: logger)
            return RunResult(id: runID, output: outcome.output, error: outcome.error)
        } catch let failure as ClaudeProcess.LaunchFailure {
            // As the original: Claude that cannot start is a Result error, not a failed request.
            logger.error("claude could not be started", metadata: ["error": "\(failure.description)"])
            return RunResult(id: runID, output: "", error: failure.description)
        }
    }

    /// Git with the GitHub token as an HTTP header for clones from the configured GitHub host: the token
    /// never appears in a URL or in argv.
    func git(for repo: RepoReference) -> Git {
        var git = self.git
        if repo.isSlug, !git.allowedProtocols.contains(repo.transport) {
            // A slug is cloned from the configured GitHub host, whatever its scheme.
            git.allowedProtocols.append(repo.transport)
        }
        guard let token = config.github.token, !token.isEmpty else { return git }
        let web = RepoReference.webURL(forAPI: config.github.baseURL)
        guard repo.cloneSource.hasPrefix(web + "/") else { return git }
        let credentials = Data("x-access-token:\(token)".utf8).base64EncodedString()
        git.remoteEnvironment = [
            "GIT_CONFIG_COUNT": "1",
            "GIT_CONFIG_KEY_0": "http.\(web)/.extraheader",
            "GIT_CONFIG_VALUE_0": "AUTHORIZATION: basic \(credentials)",
        ]
        var redactor = git.redactor
        redactor.add(credentials)
        git.redactor = redactor
        return git
    }
}
