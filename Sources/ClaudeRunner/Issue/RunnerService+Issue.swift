import Foundation
import Logging

extension RunnerService {
    /// The sync phase of the issue protocol, then the background phase on the scheduler.
    ///
    /// - Returns: `{id: <attempt id>, output: "Issue owner/repo#N accepted; ..."}` once the issue is claimed.
    /// - Throws: ``RunnerError`` for a missing token, a bad repo or number, an issue that fails validation
    ///   (nothing is claimed then) or a failed GitHub call.
    /// - Parameters:
    ///   - transport: Where the request came from (for the run's record).
    ///   - sink: Receives the attempt's progress events as they happen, in the background phase too
    ///     (see ``RunProgress/addSink(replay:_:)``: it must not wait).
    public func runIssue(
        _ request: RunIssueRequest, transport: RunTransport = .http, logger: Logger,
        sink: (@Sendable (RunEvent) -> Void)? = nil
    ) async throws -> RunResult {
        try checkAccepting()
        if let queue = durableQueue {
            return try await runDurableIssue(request, queue: queue, transport: transport, logger: logger)
        }
        guard let scheduler, scheduler.isAccepting else {
            throw RunnerError.unavailable("runner is shutting down; not accepting issue work")
        }
        guard slots.hasRoom else {
            let (running, waiting) = slots.counts
            throw RunnerError.unavailable(
                "runner is busy: \(running) runs in progress and \(waiting) waiting (limits.maxQueuedRuns); retry later"
            )
        }
        let task = try await prepareIssue(request, transport: transport, logger: logger)
        if let sink { task.execution.progress.addSink(replay: true, sink) }
        task.execution.begin()
        var taskLogger = logger
        taskLogger[metadataKey: "run.id"] = "\(task.attemptID)"
        let accepted = scheduler.schedule { [self, taskLogger] in
            _ = await self.executeIssue(task, logger: taskLogger)
        }
        guard accepted else {
            // Shutdown began between the check above and the claim: report it on the issue so it is not
            // left claimed.
            await reportFailure(
                task, detail: "the runner shut down before the run could start", preserved: false, logger: logger)
            throw RunnerError.unavailable("runner is shutting down; not accepting issue work")
        }
        return task.acceptedResult
    }

    /// Validates and claims an issue: token, repo, number, the issue's state, marker and labels, then
    /// removes `agent-ready`, adds `claimed-by-claude` and posts the claim comment.
    public func prepareIssue(
        _ request: RunIssueRequest, transport: RunTransport = .cli, logger: Logger
    ) async throws -> IssueTask {
        var logger = logger
        logger[metadataKey: "action"] = "run_issue"
        logger[metadataKey: "issue_number"] = "\(request.issueNumber)"
        guard let github else {
            throw RunnerError.invalidRequest(
                "github client not configured: set github.token in config.yaml or the GITHUB_TOKEN environment variable"
            )
        }
        // Refused before anything is claimed.
        try budget.check()
        let repo = try RepoReference(
            request.repo, githubBaseURL: config.github.baseURL, allowedProtocols: config.git.allowedProtocols)
        logger[metadataKey: "repo"] = "\(repo.fullName)"
        guard request.issueNumber > 0 else {
            throw RunnerError.invalidRequest("invalid issue number: must be greater than 0, got \(request.issueNumber)")
        }
        if let ref = request.ref.nonEmpty { try RefName.validate(ref, field: "ref") }

        let issue: GitHubIssue
        do {
            issue = try await github.issue(repo.fullName, number: request.issueNumber, logger: logger)
        } catch let failure as GitHubClient.Failure {
            let kind: RunnerError.Kind = failure.status == 404 ? .rejected : .failed
            throw RunnerError(kind, "fetch issue: \(redactor.redact(failure.description))")
        }
        let validation: IssueValidation
        do {
            validation = try IssueValidation(issue)
        } catch {
            logger.info("issue rejected", metadata: ["outcome": "\(error.message)"])
            throw error
        }
        let model = validation.model(config: config)
        let execution = RunExecution(
            record: RunRecord(
                kind: .issue, transport: transport, repo: repo.fullName, ref: request.ref.nonEmpty,
                issueNumber: request.issueNumber, model: model),
            service: self)
        let claimText = IssueText.claimComment(modelLabel: validation.modelLabel, model: model)

        do {
            try await github.removeLabel(
                IssueLabels.ready, repo: repo.fullName, number: request.issueNumber, logger: logger)
        } catch let failure as GitHubClient.Failure {
            throw RunnerError.failed(
                "claim issue: remove \(IssueLabels.ready): \(redactor.redact(failure.description))")
        }
        do {
            try await github.addLabels(
                [IssueLabels.claimed], repo: repo.fullName, number: request.issueNumber, logger: logger)
        } catch let failure as GitHubClient.Failure {
            let message = "claim issue: add \(IssueLabels.claimed): \(redactor.redact(failure.description))"
            await reportFailedClaim(repo: repo.fullName, number: request.issueNumber, message: message, logger: logger)
            throw RunnerError.failed(message)
        }
        let claimCommentID: Int?
        do {
            claimCommentID = try await github.comment(
                claimText, repo: repo.fullName, number: request.issueNumber, logger: logger)
        } catch let failure as GitHubClient.Failure {
            let message = "claim issue: comment claim: \(redactor.redact(failure.description))"
            await reportFailedClaim(repo: repo.fullName, number: request.issueNumber, message: message, logger: logger)
            throw RunnerError.failed(message)
        }
        let task = IssueTask(
            execution: execution, repo: repo, issue: issue, ref: request.ref.nonEmpty, model: model,
            modelLabel: validation.modelLabel,
            workspace: issueWorkspace(repo: repo, number: request.issueNumber),
            claimText: claimText, claimCommentID: claimCommentID)
        logger.info(
            "issue accepted",
            metadata: ["run.id": "\(task.attemptID)", "model": "\(model ?? "")", "outcome": "claimed"])
        return task
    }

    /// The background phase: lock the task root, clone into `repo/`, run Claude, record the attempt and
    /// report success or failure on the issue. Never throws: every failure becomes a recorded, reported
    /// outcome.
    ///
    /// Ordering (spec section 12): the run slot is held only while the clone and Claude run; the attempt
    /// record and `state.json` hold their final values before the final comment is posted, and the lock is
    /// released right after it.
    /// - Parameter durable: The task came from a durable queue: when the runner stops before the attempt
    ///   ends, nothing is reported (another delivery runs it) and the outcome says ``IssueOutcome/requeued``.
    public func executeIssue(_ task: IssueTask, durable: Bool = false, logger: Logger) async -> IssueOutcome {
        var logger = logger
        logger[metadataKey: "run.id"] = "\(task.attemptID)"
        logger[metadataKey: "repo"] = "\(task.repo.fullName)"
        logger[metadataKey: "issue_number"] = "\(task.issue.number)"
        let workspace = task.workspace
        let startedAt = Date()
        let record = IssueAttemptRecord(
            attemptID: task.attemptID, taskID: workspace.taskID, repo: task.repo.fullName,
            issueNumber: task.issue.number, startedAt: Timestamp.string(from: startedAt), endedAt: nil,
            status: IssueAttemptStatus.running, errorType: nil, errorDetail: nil, branch: task.ref, commit: nil,
            model: task.model, modelLabel: task.modelLabel)

        guard !workspace.isSymlink else {
            let detail = "the issue task root is a symbolic link; refusing to use it"
            return await conclude(
                task, record, .failed(IssueErrorType.execError, detail), lock: nil, durable: durable, logger: logger)
        }
        do {
            try workspace.createDirectories()
        } catch {
            let detail = "create state dir: \(error.localizedDescription)"
            return await conclude(
                task, record, .failed(IssueErrorType.execError, detail), lock: nil, durable: durable, logger: logger)
        }
        do {
            if case .tookOver(let reason) = try workspace.acquireLock(attemptID: task.attemptID, now: startedAt) {
                logger.warning("\(reason)")
            }
        } catch let busy as IssueWorkspace.LockBusy {
            logger.warning("issue workspace locked", metadata: ["holder": "\(busy.holder.attemptID)"])
            return await conclude(
                task, record, .failed(IssueErrorType.locked, busy.description), lock: nil, durable: durable,
                logger: logger)
        } catch {
            let detail = "lock issue workspace: \(error.localizedDescription)"
            return await conclude(
                task, record, .failed(IssueErrorType.execError, detail), lock: nil, durable: durable, logger: logger)
        }
        // The attempt before this one, read before this one's records replace it in state.json.
        let previous = workspace.readState().flatMap { workspace.readAttempt($0.lastAttemptID) }
        do {
            try workspace.writeAttempt(record)
            try workspace.writeState(state(for: record, updatedAt: record.startedAt))
        } catch {
            workspace.releaseLock(attemptID: task.attemptID)
            let detail = "write attempt: \(error.localizedDescription)"
            return await conclude(
                task, record, .failed(IssueErrorType.execError, detail), lock: nil, durable: durable, logger: logger)
        }
        logger.info("issue run started", metadata: ["model": "\(task.model ?? "")"])
        let lock = IssueLockKeeper(workspace: workspace, attemptID: task.attemptID)

        return await withTaskGroup(of: Void.self) { group in
            group.addTask { await lock.keepAlive(interval: self.config.issue.lockHeartbeat) }
            if let tracker = trackingComment(for: task, logger: logger) {
                let events = task.execution.progress.subscribe(replay: true)
                group.addTask { await tracker.follow(events) }
            }
            let end = await attempt(task, previous: previous, logger: logger)
            let outcome = await conclude(task, record, end, lock: lock, durable: durable, logger: logger)
            await group.waitForAll()
            return outcome
        }
    }

    /// How the work of an attempt ended, before it is recorded and reported.
    enum AttemptEnd: Sendable {
        /// Claude ran (whatever its outcome), in a clone that started at `start`.
        case claude(ClaudeOutcome, start: IssueStart, resumeFellBack: Bool)
        /// The attempt failed before or instead of Claude: error type and detail.
        case failed(String, String)
        /// Stopped before Claude ran (cancelled or shut down while queued or cloning).
        case stopped
    }

    /// Clone (or, resuming, fetch) and run Claude, holding a run slot only for that.
    private func attempt(_ task: IssueTask, previous: IssueAttemptRecord?, logger: Logger) async -> AttemptEnd {
        let execution = task.execution
        do {
            return try await execution.cancellable { [self] in
                try await execution.withSlot {
                    if let previous, let resumed = try await resumeAttempt(task, previous: previous, logger: logger) {
                        return resumed
                    }
                    return try await freshAttempt(task, resumeFellBack: false, logger: logger)
                }
            }
        } catch is CancellationError {
            return .stopped
        } catch {
            // The line of waiting runs was full.
            return .failed(IssueErrorType.execError, "\(error)")
        }
    }

    /// A fresh clone into `repo/`, then Claude with the issue prompt.
    private func freshAttempt(_ task: IssueTask, resumeFellBack: Bool, logger: Logger) async throws -> AttemptEnd {
        let workspace = task.workspace
        // A stale clone from an earlier attempt goes; the records stay.
        await BlockingWork.remove(workspace.repoDirectory)
        do {
            let prepared = try await prepareWorkspace(
                repo: task.repo, into: workspace.repoDirectory, ref: task.ref, shallow: true, logger: logger)
            task.execution.recordWorkspace(prepared)
            logger.info("issue workspace ready", metadata: prepared.logMetadata)
        } catch let failure as Git.Failure {
            await BlockingWork.remove(workspace.repoDirectory)
            return .failed(IssueErrorType.cloneFailed, failure.description)
        } catch {
            await BlockingWork.remove(workspace.repoDirectory)
            throw error
        }
        let start = await issueStart(workspace, logger: logger)
        let invocation = issueInvocation(
            task, prompt: IssueText.prompt(repo: task.repo.fullName, issue: task.issue), resume: nil)
        return try await runIssueClaude(task, invocation, start: start, resumeFellBack: resumeFellBack, logger: logger)
    }

    /// With `issue.resume`, an attempt on an issue whose last attempt left `repo/` and a session: fetch
    /// `origin`, then continue that session with the comments posted since. `nil` when there is nothing
    /// to resume; a session Claude no longer knows falls back to a fresh attempt.
    private func resumeAttempt(
        _ task: IssueTask, previous: IssueAttemptRecord, logger: Logger
    ) async throws -> AttemptEnd? {
        let workspace = task.workspace
        guard config.issue.resume, let sessionID = previous.sessionID, !sessionID.isEmpty,
            FileManager.default.fileExists(atPath: workspace.repoDirectory + "/.git")
        else { return nil }
        do {
            try await git(for: task.repo).fetchOrigin(in: workspace.repoDirectory, logger: logger)
        } catch let failure as Git.Failure {
            logger.warning("resume: fetch origin failed; starting afresh", metadata: ["error": "\(failure)"])
            return try await freshAttempt(task, resumeFellBack: true, logger: logger)
        }
        let since = Timestamp.date(from: previous.startedAt)
        var comments: [GitHubComment] = []
        if let github {
            do {
                comments = try await github.comments(
                    repo: task.repo.fullName, number: task.issue.number, since: since, logger: logger
                ).filter { !IssueText.isRunnerComment($0.body) }
            } catch {
                logger.warning("resume: read comments", metadata: ["error": "\(redactor.redact("\(error)"))"])
            }
        }
        logger.info(
            "resuming the previous session", metadata: ["session_id": "\(sessionID)", "comments": "\(comments.count)"])
        // The clone's start is the first attempt's: the work so far is measured from there.
        var start = IssueStart(branch: previous.baseBranch, commit: previous.baseCommit)
        if start.branch == nil || start.commit == nil { start = await issueStart(workspace, logger: logger) }
        let invocation = issueInvocation(
            task,
            prompt: IssueText.resumePrompt(repo: task.repo.fullName, number: task.issue.number, comments: comments),
            resume: sessionID)
        let end = try await runIssueClaude(task, invocation, start: start, resumeFellBack: false, logger: logger)
        if case .claude(let outcome, _, _) = end, outcome.status == .failed,
            outcome.error?.contains("No conversation found") == true
        {
            logger.warning("resume: Claude does not know the session; starting afresh")
            return try await freshAttempt(task, resumeFellBack: true, logger: logger)
        }
        return end
    }

    private func issueInvocation(_ task: IssueTask, prompt: String, resume sessionID: String?) -> ClaudeInvocation {
        var invocation = ClaudeInvocation.issue(prompt: prompt, model: task.model, config: config)
        invocation.resumeSessionID = sessionID
        if config.issue.withholdGitHubToken {
            invocation.withheldEnvironment += ClaudeInvocation.gitHubTokenVariables
            invocation.isolatedGitConfig = task.workspace.stateDirectory + "/gitconfig"
        }
        return invocation
    }

    private func runIssueClaude(
        _ task: IssueTask, _ invocation: ClaudeInvocation, start: IssueStart, resumeFellBack: Bool, logger: Logger
    ) async throws -> AttemptEnd {
        let workspace = task.workspace
        if let gitConfig = invocation.isolatedGitConfig {
            try? IssueText.isolatedGitConfig(author: config.issue.commitAuthor).write(
                toFile: gitConfig, atomically: true, encoding: .utf8)
        }
        do {
            let outcome = try await task.execution.runClaude(
                invocation, in: workspace.repoDirectory,
                paths: hostPaths(workspace: workspace.repoDirectory, taskRoot: workspace.root), logger: logger,
                onStart: { pid in workspace.recordClaudeProcess(pid, attemptID: task.attemptID) })
            return .claude(outcome, start: start, resumeFellBack: resumeFellBack)
        } catch let failure as ClaudeProcess.LaunchFailure {
            await BlockingWork.remove(workspace.repoDirectory)
            return .failed(IssueErrorType.execError, failure.description)
        }
    }

    private func issueStart(_ workspace: IssueWorkspace, logger: Logger) async -> IssueStart {
        IssueStart(
            branch: (try? await git.currentBranch(in: workspace.repoDirectory, logger: logger)) ?? nil,
            commit: try? await git.headCommit(in: workspace.repoDirectory, logger: logger))
    }

    /// Records the attempt's final values, ends its run, reports on the issue and releases the lock — in
    /// that order, outside any cancellation (an interrupted attempt is still recorded and reported).
    /// - Parameter lock: The attempt's lock; `nil` when the attempt ended before it held one (then
    ///   `state.json` is not this attempt's to write either).
    private func conclude(
        _ task: IssueTask, _ record: IssueAttemptRecord, _ end: AttemptEnd, lock: IssueLockKeeper?,
        durable: Bool = false, logger: Logger
    ) async -> IssueOutcome {
        await Task { [self] in
            await concludeUncancelled(task, record, end, lock: lock, durable: durable, logger: logger)
        }.value
    }

    private func concludeUncancelled(
        _ task: IssueTask, _ record: IssueAttemptRecord, _ end: AttemptEnd, lock: IssueLockKeeper?, durable: Bool,
        logger: Logger
    ) async -> IssueOutcome {
        let workspace = task.workspace
        let execution = task.execution
        var record = record
        var claudeOutcome: ClaudeOutcome?
        var errorType: String?
        var detail: String?
        var preserved = false
        var status = RunStatus.failed
        var pullRequest: String?
        var notes: [String] = []
        // A durable task that another runner took over is that runner's to deliver and report.
        let superseded = durable ? await taskMovedOn(task, logger: logger) : false
        switch superseded ? .stopped : end {
        case .failed(let type, let text):
            errorType = type
            detail = text
        case .stopped:
            let stoppedByCaller = !superseded && execution.stoppedStatus == .cancelled
            errorType = stoppedByCaller ? IssueErrorType.cancelled : IssueErrorType.interrupted
            detail =
                superseded
                ? IssueText.supersededDetail : stoppedByCaller ? IssueText.cancelledDetail : IssueText.interruptedDetail
            status = stoppedByCaller ? .cancelled : .interrupted
        case .claude(let outcome, let start, let resumeFellBack):
            claudeOutcome = outcome
            preserved = true
            record.baseBranch = start.branch
            record.baseCommit = start.commit
            status = outcome.status
            if resumeFellBack { notes.append(IssueText.resumeFallbackNote) }
            let delivery = await deliverIfDue(task, outcome: outcome, start: start, logger: logger)
            errorType = delivery.errorType
            detail = delivery.detail
            pullRequest = delivery.pullRequest
            record.branch = delivery.branch ?? record.branch
        }
        if claudeOutcome != nil { record.commit = await headCommit(workspace, logger: logger) }
        record.sessionID = claudeOutcome?.sessionID
        record.costUSD = claudeOutcome?.costUSD
        record.numTurns = claudeOutcome?.numTurns
        record.pullRequest = pullRequest
        let sanitizedDetail = detail.map { sanitize($0, workspace: workspace) }
        if errorType == nil {
            record.status = IssueAttemptStatus.completed
        } else {
            record.status = IssueAttemptStatus.failed
            record.errorType = errorType
            record.errorDetail = sanitizedDetail
        }
        record.reported = false
        finish(&record, workspace: workspace, writeState: lock != nil, logger: logger)

        if durable, errorType == IssueErrorType.interrupted {
            // The task goes back to the queue: another runner runs it and reports it, once.
            record.reported = true
            finish(&record, workspace: workspace, writeState: lock != nil, logger: logger)
            execution.finish(
                RunResult(
                    id: task.attemptID, output: "", error: sanitizedDetail, status: RunStatus.interrupted.rawValue),
                status: .interrupted, exitCode: claudeOutcome?.exitCode)
            lock?.release()
            var outcome = IssueOutcome(
                status: record.status, errorType: record.errorType, detail: record.errorDetail, commit: record.commit)
            if superseded {
                logger.warning(
                    "issue attempt stopped: another runner has its task", metadata: ["outcome": "superseded"])
                outcome.superseded = true
            } else {
                logger.warning(
                    "issue attempt interrupted; its task goes back to the queue", metadata: ["outcome": "requeued"])
                outcome.requeued = true
            }
            return outcome
        }

        // The run's Result and its last event.
        let finalStatus: RunStatus = errorType == nil ? .completed : (status == .completed ? .failed : status)
        let output = claudeOutcome.map { sanitize($0.output, workspace: workspace) } ?? ""
        var result = claudeOutcome?.result(id: task.attemptID) ?? RunResult(id: task.attemptID, output: "")
        result.output = output
        result.error = sanitizedDetail
        if claudeOutcome?.sawEvents != false { result.status = finalStatus.rawValue }
        execution.finish(result, status: finalStatus, exitCode: claudeOutcome?.exitCode) { entry in
            entry.pullRequest = pullRequest
        }

        let notesText = notes.map { "\n\n" + $0 }.joined()
        if let errorType, let sanitizedDetail {
            logger.error(
                "issue execution failed", metadata: ["outcome": "\(errorType)", "error": "\(sanitizedDetail)"])
            await reportFailure(
                task, detail: sanitizedDetail, preserved: preserved,
                trailer: notesText + IssueText.runTrailer(claudeOutcome), logger: logger)
        } else {
            let trailer = notesText + IssueText.runTrailer(claudeOutcome, runID: task.attemptID)
            logger.info(
                "issue completed",
                metadata: [
                    "outcome": "completed", "commit": "\(record.commit ?? "")", "pull_request": "\(pullRequest ?? "")",
                ])
            await postComment(
                task, IssueText.successComment(output: output, pullRequest: pullRequest) + trailer,
                what: "comment success", logger: logger)
        }
        // Reported: the lock goes at once, so a caller who sees the comment can re-trigger.
        lock?.release()
        record.reported = true
        do { try workspace.writeAttempt(record) } catch {
            logger.warning("write final attempt", metadata: ["error": "\(error.localizedDescription)"])
        }
        return IssueOutcome(
            status: record.status, errorType: record.errorType, detail: record.errorDetail, commit: record.commit)
    }

    /// The outcome of an attempt in which Claude ran, after the runner has looked at `repo/` and delivered
    /// what was there (spec section 12).
    struct DeliveredOutcome: Sendable {
        var errorType: String?
        var detail: String?
        var pullRequest: String?
        var branch: String?
    }

    private func deliverIfDue(
        _ task: IssueTask, outcome: ClaudeOutcome, start: IssueStart, logger: Logger
    ) async -> DeliveredOutcome {
        let issue = config.issue
        switch outcome.status {
        case .cancelled:
            return .init(errorType: IssueErrorType.cancelled, detail: IssueText.cancelledDetail)
        case .interrupted:
            return .init(errorType: IssueErrorType.interrupted, detail: IssueText.interruptedDetail)
        default:
            break
        }
        let work = await inspectWork(task, start: start, logger: logger)
        let summary = sanitize(outcome.output, workspace: task.workspace)
        let trailer = IssueText.runTrailer(outcome)
        logger.info(
            "inspected the issue's workspace",
            metadata: [
                "branch": "\(work.branch ?? "(detached)")", "new_commits": "\(work.newCommits)",
                "uncommitted": "\(work.uncommitted)",
            ])

        guard outcome.status == .completed else {
            // Stopped by a limit or failed: the work done so far is still pushed, as a draft.
            var result = DeliveredOutcome(
                errorType: IssueErrorType.claudeFailed, detail: outcome.error ?? "claude failed", branch: work.branch)
            let limited: Set<RunStatus> = [.maxTurns, .budgetExceeded, .timeout, .idle]
            guard limited.contains(outcome.status), work.hasWork, issue.openPullRequest else { return result }
            switch await deliver(
                task, start: start, work: work, summary: summary, trailer: trailer, draft: true, logger: logger)
            {
            case .pullRequest(let url, let branch, _, _):
                result.pullRequest = url
                result.branch = branch
                result.detail =
                    (result.detail ?? "")
                    + "\n\nThe work done so far was pushed and opened as a draft pull request: \(url)"
            case .failed(let reason):
                result.detail = (result.detail ?? "") + "\n\nThe work done so far could not be pushed: \(reason)"
            }
            return result
        }

        // Claude opened the pull request itself.
        let headBranch =
            work.branch.flatMap { $0 == start.branch ? nil : $0 } ?? Self.runnerBranch(issue: task.issue.number)
        let existing = await openPullRequest(task, branch: headBranch, logger: logger)
        if let existing, !work.uncommitted, work.branch == headBranch || work.newCommits == 0 {
            return .init(pullRequest: existing.htmlURL, branch: headBranch)
        }
        if work.hasWork || existing != nil {
            guard issue.openPullRequest else { return .init(branch: work.branch) }
            switch await deliver(
                task, start: start, work: work, summary: summary, trailer: trailer, draft: issue.draftPullRequest,
                logger: logger)
            {
            case .pullRequest(let url, let branch, _, _):
                return .init(pullRequest: url, branch: branch)
            case .failed(let reason):
                return .init(
                    errorType: IssueErrorType.pushFailed,
                    detail: "Claude finished, but the runner could not deliver the work: \(reason)\n\n"
                        + "The workspace is kept on the runner.",
                    branch: work.branch)
            }
        }
        guard issue.requireChanges else { return .init(branch: work.branch) }
        return .init(
            errorType: outcome.permissionDenials.isEmpty ? IssueErrorType.noChanges : IssueErrorType.permissionDenied,
            detail: IssueText.noChangesDetail(output: summary, denials: outcome.permissionDenials),
            branch: work.branch)
    }

    /// The tracking comment for an attempt, unless editing is off or the claim comment's id is unknown.
    private func trackingComment(for task: IssueTask, logger: Logger) -> IssueTrackingComment? {
        guard let github, let commentID = task.claimCommentID, config.issue.progressInterval > .zero else {
            return nil
        }
        let stillOurs: (@Sendable () async -> Bool)? =
            task.delivery == nil
            ? nil
            : { @Sendable [self] in
                guard task.execution.ownershipInDoubt else { return true }
                guard await taskMovedOn(task, logger: logger) else { return true }
                task.execution.supersede()
                return false
            }
        return IssueTrackingComment(
            github: github, repo: task.repo.fullName, commentID: commentID, claimText: task.claimText,
            interval: config.issue.progressInterval, redactor: redactor, logger: logger, stillOurs: stillOurs)
    }

    /// A claim that stopped half way (`agent-ready` already removed) must not leave the issue looking
    /// claimed with nothing running: mark it failed, best effort (GitHub may still be failing).
    func reportFailedClaim(repo: String, number: Int, message: String, logger: Logger) async {
        guard let github else { return }
        do {
            try await github.addLabels([IssueLabels.failed], repo: repo, number: number, logger: logger)
            try await github.comment(
                "claude-runner could not claim this issue, so nothing is running for it.\n\n"
                    + IssueText.summarize(message),
                repo: repo, number: number, logger: logger)
        } catch {
            logger.warning("report failed claim", metadata: ["error": "\(redactor.redact("\(error)"))"])
        }
    }

    // MARK: Cleanup

    /// Removes an issue's task root unless an attempt holds a fresh lock on it.
    public func cleanupIssue(_ request: CleanupIssueRequest, logger: Logger) async throws -> RunResult {
        var logger = logger
        logger[metadataKey: "action"] = "cleanup_issue"
        let repo = try RepoReference(
            request.repo, githubBaseURL: config.github.baseURL, allowedProtocols: config.git.allowedProtocols)
        guard request.issueNumber > 0 else {
            throw RunnerError.invalidRequest("invalid issue number: must be greater than 0, got \(request.issueNumber)")
        }
        let workspace = issueWorkspace(repo: repo, number: request.issueNumber)
        logger[metadataKey: "repo"] = "\(repo.fullName)"
        logger[metadataKey: "issue_number"] = "\(request.issueNumber)"

        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: workspace.root, isDirectory: &isDirectory) else {
            logger.info("cleanup finished", metadata: ["outcome": "nothing to clean up"])
            return RunResult(id: "", output: "Issue workspace \(workspace.taskID) not found; nothing to clean up.")
        }
        if let holder = workspace.freshLock() {
            logger.info("cleanup skipped", metadata: ["outcome": "locked", "holder": "\(holder.attemptID)"])
            return RunResult(
                id: "",
                output: "Issue workspace \(workspace.taskID) is locked by attempt \(holder.attemptID); cleanup skipped."
            )
        }
        do {
            let root = workspace.root
            try await BlockingWork.run { try FileManager.default.removeItem(atPath: root) }
        } catch {
            throw RunnerError.failed("remove issue workspace \(workspace.taskID): \(error.localizedDescription)")
        }
        logger.info("cleanup finished", metadata: ["outcome": "removed"])
        return RunResult(id: "", output: "Issue workspace \(workspace.taskID) cleaned up.")
    }

    // MARK: Reporting

    func reportFailure(
        _ task: IssueTask, detail: String, preserved: Bool, trailer: String = "", logger: Logger
    ) async {
        guard let github else { return }
        do {
            try await github.addLabels(
                [IssueLabels.failed], repo: task.repo.fullName, number: task.issue.number, logger: logger)
        } catch {
            logger.warning("add agent-failed", metadata: ["error": "\(redactor.redact("\(error)"))"])
        }
        let comment = IssueText.failureComment(runID: task.attemptID, workspacePreserved: preserved, detail: detail)
        await postComment(task, comment + trailer, what: "comment failure", logger: logger)
    }

    private func postComment(_ task: IssueTask, _ text: String, what: String, logger: Logger) async {
        guard let github else { return }
        do {
            try await github.comment(
                redactor.redact(text), repo: task.repo.fullName, number: task.issue.number, logger: logger)
        } catch {
            logger.warning("\(what)", metadata: ["error": "\(redactor.redact("\(error)"))"])
        }
    }

    private func finish(_ record: inout IssueAttemptRecord, workspace: IssueWorkspace, writeState: Bool, logger: Logger)
    {
        let ended = Timestamp.string(from: Date())
        record.endedAt = ended
        do {
            try workspace.writeAttempt(record)
        } catch {
            logger.warning("write final attempt", metadata: ["error": "\(error.localizedDescription)"])
        }
        guard writeState else { return }
        do {
            try workspace.writeState(state(for: record, updatedAt: ended))
        } catch {
            logger.warning("write final state", metadata: ["error": "\(error.localizedDescription)"])
        }
    }

    private func state(for record: IssueAttemptRecord, updatedAt: String) -> IssueTaskState {
        IssueTaskState(
            taskID: record.taskID, repo: record.repo, issueNumber: record.issueNumber, lastAttemptID: record.attemptID,
            lastStatus: record.status, lastErrorType: record.errorType, lastCommit: record.commit, updatedAt: updatedAt,
            branch: record.branch, commit: record.commit, pullRequest: record.pullRequest, sessionID: record.sessionID,
            costUSD: record.costUSD, numTurns: record.numTurns)
    }

    private func headCommit(_ workspace: IssueWorkspace, logger: Logger) async -> String? {
        try? await git.headCommit(in: workspace.repoDirectory, logger: logger)
    }

    /// The task root of issue `number` of `repo`, with the configured lock lifetime.
    func issueWorkspace(repo: RepoReference, number: Int) -> IssueWorkspace {
        IssueWorkspace(workDir: config.workDir, repo: repo, number: number, lockLifetime: lockLifetime)
    }

    var lockLifetime: TimeInterval {
        let lifetime = config.issue.lockLifetime.components
        return TimeInterval(lifetime.seconds) + TimeInterval(lifetime.attoseconds) / 1e18
    }

    /// Secrets out, host paths replaced with placeholders: a comment is public.
    func sanitize(_ text: String, workspace: IssueWorkspace) -> String {
        IssueText.sanitize(
            redactor.redact(text), taskRoot: workspace.root, workRoot: config.workDir, home: PathExpansion.homeDirectory
        )
    }
}
