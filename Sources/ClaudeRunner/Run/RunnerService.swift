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
    /// The repository mirrors behind warm workspaces; `nil` with `git.mirrors: false`.
    let mirrors: MirrorCache?
    let claude: ClaudeProcess
    let github: GitHubClient?
    let scheduler: (any IssueScheduler)?
    let logger: Logger
    /// Claude runs at once, and the line of runs waiting for one.
    public let slots: RunSlots
    /// The runs in progress, by id.
    public let activeRuns = ActiveRuns()
    /// The run ledger; `nil` when it is off (`ledger.enabled: false`) or could not be opened.
    public let ledger: (any RunLedger)?
    /// This runner's name in records and NATS replies.
    public let runnerName: String
    /// `limits.dailyBudgetUSD` and what was spent today.
    public let budget: DailyBudget
    private let durable = Mutex<(any DurableIssueQueue)?>(nil)

    /// The durable queue claimed issue tasks go to (JetStream), when there is one.
    public var durableQueue: (any DurableIssueQueue)? { durable.withLock { $0 } }

    /// From now on, claimed issue tasks go to `queue` (and are run by whichever runner takes them from it)
    /// instead of this runner's background work.
    public func useDurableQueue(_ queue: any DurableIssueQueue) {
        durable.withLock { $0 = queue }
    }
    let claudeVersion = ClaudeVersionCache()
    private let accepting = Mutex(true)

    /// - Parameters:
    ///   - config: The loaded configuration.
    ///   - scheduler: Where issue work runs in the background; `nil` for callers that only use
    ///     ``prepareIssue(_:logger:)`` and ``executeIssue(_:logger:)`` (the one-shot CLI).
    ///   - httpClient: The client for GitHub REST calls.
    ///   - logger: The service logger; per-request loggers come from the transports.
    ///   - secrets: Further strings never to show (the NATS seed).
    ///   - ledger: Where every run is recorded; `nil` records nothing.
    public init(
        config: RunnerConfig, scheduler: (any IssueScheduler)?, httpClient: HTTPClient = .shared,
        secrets: [String] = [], ledger: (any RunLedger)? = nil, logger: Logger
    ) {
        self.config = config
        self.ledger = ledger
        self.runnerName = config.runnerName
        self.budget = DailyBudget(limit: config.limits.dailyBudgetUSD)
        var redactor = Redactor()
        if let token = config.github.token { redactor.add(token) }
        for token in config.http.tokens { redactor.add(token) }
        for secret in secrets { redactor.add(secret) }
        // Secrets Claude itself may see in its environment and print.
        for name in Self.secretEnvironmentVariables {
            if let value = ProcessInfo.processInfo.environment[name] { redactor.add(value) }
        }
        self.redactor = redactor
        self.git = Git(
            allowedProtocols: config.git.allowedProtocols, redactor: redactor,
            terminationGrace: config.terminationGrace, timeout: config.git.timeout
        )
        let mirrors = MirrorCache(root: config.mirrorDirectory, maxBytes: config.git.mirrorMaxBytes, logger: logger)
        self.mirrors = config.git.mirrors ? mirrors : nil
        self.claude = ClaudeProcess(config: config, redactor: redactor)
        self.github = config.github.token.flatMap { token in
            token.isEmpty ? nil : GitHubClient(baseURL: config.github.baseURL, token: token, httpClient: httpClient)
        }
        self.scheduler = scheduler
        self.logger = logger
        self.slots = RunSlots(capacity: config.limits.maxConcurrentRuns, maxWaiting: config.limits.maxQueuedRuns)
    }

    /// Variables whose values are secrets wherever they appear (Claude sees them and may print them).
    public static let secretEnvironmentVariables = [
        "ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN", "GITHUB_TOKEN", "GH_TOKEN",
        "GITHUB_PAT", "CLAUDE_RUNNER_HTTP_TOKEN", "CLAUDE_RUNNER_TOKEN",
    ]

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

    /// Loads today's recorded cost into the daily budget (at start-up).
    public func loadBudget() async {
        guard budget.limit != nil, let ledger else { return }
        do {
            budget.load(cost: try await ledger.costToday())
        } catch {
            logger.warning("read today's cost from the ledger", metadata: ["error": "\(error)"])
        }
    }

    /// Problems with the configuration worth a warning at start-up.
    public func startupWarnings(effectiveUserID: UInt32 = geteuid()) -> [String] {
        var warnings: [String] = []
        if config.issue.bypassPermissions, effectiveUserID == 0, !config.issue.sandboxed {
            warnings.append(
                "issue.bypassPermissions is true but claude-runner runs as root: Claude Code refuses "
                    + "--dangerously-skip-permissions as root, so issue runs will fail; run claude-runner as a "
                    + "non-root user, or set issue.sandboxed: true if this host is a disposable sandbox")
        }
        return warnings
    }

    /// Creates the workspace root so the first run does not race to make it (again, if it was removed).
    public func prepareWorkDir() throws {
        // One system call when it is there, as it is for every run after the first.
        var info = stat()
        if stat(config.workDir, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR { return }
        try FileManager.default.createDirectory(atPath: config.workDir, withIntermediateDirectories: true)
    }

    // MARK: Run

    /// A validated run request, ready to execute; its ``execution`` can be watched before it starts.
    public struct PreparedRun: Sendable {
        public let request: RunRequest
        public let repo: RepoReference?
        public let execution: RunExecution
        public var id: String { execution.id }
        public var progress: RunProgress { execution.progress }
    }

    /// Checks a run request and gives it a run id, without starting anything.
    /// - Throws: ``RunnerError`` for an invalid request, or when the runner is shutting down.
    public func prepareRun(_ request: RunRequest, transport: RunTransport) throws(RunnerError) -> PreparedRun {
        try checkAccepting()
        // Nothing but white space (what `trimmingCharacters(in: .whitespacesAndNewlines)` would leave empty).
        guard request.prompt.unicodeScalars.contains(where: { !$0.properties.isWhitespace }) else {
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
        try budget.check()
        let record = RunRecord(
            kind: .of(baseRef: request.baseRef, prNumber: request.prNumber), transport: transport,
            repo: request.repo.nonEmpty.map(redactor.redact), ref: request.ref.nonEmpty,
            baseRef: request.baseRef.nonEmpty, event: request.event.nonEmpty,
            prNumber: request.prNumber.flatMap { $0 == 0 ? nil : $0 }, model: config.model)
        return PreparedRun(request: request, repo: repo, execution: RunExecution(record: record, service: self))
    }

    /// Runs a prompt, in `workDir` or in a fresh clone of the request's repo (removed afterwards whatever
    /// happens), with the pull-request trailer and diff when a base ref is given.
    ///
    /// - Parameters:
    ///   - callerLeaves: Whether cancelling the calling task means the caller went away (an HTTP
    ///     client that disconnected): the run then ends `cancelled`, not `interrupted`.
    ///   - onPrepared: Called with the run once it is accepted, before it begins (to cancel it from elsewhere).
    /// - Returns: The Result; `error` is set when Claude did not complete (exit status, error result, limit).
    /// - Throws: ``RunnerError`` for an invalid request or a failed clone, fetch or diff.
    public func run(
        _ request: RunRequest, transport: RunTransport = .http, callerLeaves: Bool = false, logger: Logger,
        onPrepared: (PreparedRun) -> Void = { _ in }
    ) async throws -> RunResult {
        let prepared: PreparedRun
        do {
            prepared = try prepareRun(request, transport: transport)
        } catch {
            logger.info("run rejected", metadata: ["outcome": "\(error.message)"])
            throw error
        }
        onPrepared(prepared)
        guard callerLeaves else { return try await execute(prepared, logger: logger) }
        return try await withTaskCancellationHandler {
            try await execute(prepared, logger: logger)
        } onCancel: {
            prepared.execution.cancel()
        }
    }

    /// Executes a prepared run; its last progress event is the Result (or the error).
    public func execute(_ prepared: PreparedRun, logger: Logger) async throws -> RunResult {
        let request = prepared.request
        let execution = prepared.execution
        var logger = logger
        // Set at once: a stream log handler formats its metadata again on every change.
        var metadata = logger.handler.metadata
        metadata["run.id"] = "\(execution.id)"
        metadata["action"] = "run"
        if let repo = request.repo.nonEmpty { metadata["repo"] = "\(redactor.redact(repo))" }
        if let event = request.event.nonEmpty { metadata["event"] = "\(event)" }
        logger.handler.metadata = metadata
        let started = ContinuousClock.now
        execution.begin()
        do {
            do {
                try prepareWorkDir()
            } catch {
                throw RunnerError.failed("cannot create workDir \(config.workDir): \(error.localizedDescription)")
            }
            let (result, status, exitCode) = try await execution.cancellable { [self, logger] in
                try await execution.withSlot {
                    if let repo = prepared.repo {
                        let workspace = (config.workDir as NSString).appendingPathComponent(execution.id)
                        do {
                            let ended = try await runInClone(
                                request, repo: repo, execution: execution, workspace: workspace, logger: logger)
                            await BlockingWork.remove(workspace)
                            return ended
                        } catch {
                            await BlockingWork.remove(workspace)
                            throw error
                        }
                    }
                    logger.info("run started")
                    return try await runClaude(
                        ClaudeInvocation.run(prompt: ReviewPrompt.build(request, diffWritten: false), config: config),
                        execution: execution, in: config.workDir, logger: logger)
                }
            }
            execution.finish(result, status: status, exitCode: exitCode)
            logger.info(
                "run finished",
                metadata: ["outcome": "\(status.rawValue)", "duration": "\(ContinuousClock.now - started)"])
            return result
        } catch let error as RunnerError {
            execution.fail(error.message)
            throw error
        } catch is CancellationError {
            let status = execution.stoppedStatus
            execution.fail("\(status.rawValue): the run was stopped before Claude started", status: status)
            throw CancellationError()
        } catch {
            execution.fail(redactor.redact("\(error)"))
            throw error
        }
    }

    private func runInClone(
        _ request: RunRequest, repo: RepoReference, execution: RunExecution, workspace: String, logger: Logger
    ) async throws -> (RunResult, RunStatus, Int32?) {
        let baseRef = request.baseRef.nonEmpty
        let prepared: PreparedWorkspace
        do {
            prepared = try await prepareWorkspace(
                repo: repo, into: workspace, ref: request.ref.nonEmpty, shallow: baseRef == nil, logger: logger)
        } catch let failure as Git.Failure {
            await BlockingWork.remove(workspace)
            logger.warning("clone failed", metadata: ["outcome": "clone failed"])
            throw RunnerError.failed(failure.description)
        }
        execution.recordWorkspace(prepared)
        logger.info("run started", metadata: prepared.logMetadata)
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
            ClaudeInvocation.run(prompt: prompt, config: config), execution: execution, in: workspace, logger: logger)
    }

    private func runClaude(
        _ invocation: ClaudeInvocation, execution: RunExecution, in directory: String, logger: Logger
    ) async throws -> (RunResult, RunStatus, Int32?) {
        do {
            let outcome = try await execution.runClaude(
                invocation, in: directory, paths: hostPaths(workspace: directory), logger: logger)
            return (outcome.result(id: execution.id), outcome.status, outcome.exitCode)
        } catch let failure as ClaudeProcess.LaunchFailure {
            // As the original: Claude that cannot start is a Result error, not a failed request.
            logger.error("claude could not be started", metadata: ["error": "\(failure.description)"])
            return (RunResult(id: execution.id, output: "", error: failure.description), .failed, nil)
        }
    }

    /// The host paths to take out of what a run in `workspace` shows.
    func hostPaths(workspace: String, taskRoot: String? = nil) -> HostPaths {
        HostPaths(workspace: workspace, taskRoot: taskRoot, workRoot: config.workDir, home: PathExpansion.homeDirectory)
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
