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
        let execution = RunExecution(id: ULID().description, kind: .issue, transport: transport, service: self)
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
            workspace: IssueWorkspace(workDir: config.workDir, repo: repo, number: request.issueNumber),
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
    public func executeIssue(_ task: IssueTask, logger: Logger) async -> IssueOutcome {
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
            return await conclude(task, record, .failed(IssueErrorType.execError, detail), setup: true, logger: logger)
        }
        do {
            try workspace.createDirectories()
        } catch {
            let detail = "create state dir: \(error.localizedDescription)"
            return await conclude(task, record, .failed(IssueErrorType.execError, detail), setup: true, logger: logger)
        }
        do {
            if case .tookOver(let reason) = try workspace.acquireLock(attemptID: task.attemptID, now: startedAt) {
                logger.warning("\(reason)")
            }
        } catch let busy as IssueWorkspace.LockBusy {
            logger.warning("issue workspace locked", metadata: ["holder": "\(busy.holder.attemptID)"])
            return await conclude(
                task, record, .failed(IssueErrorType.locked, busy.description), setup: true, logger: logger)
        } catch {
            let detail = "lock issue workspace: \(error.localizedDescription)"
            return await conclude(task, record, .failed(IssueErrorType.execError, detail), setup: true, logger: logger)
        }
        do {
            try workspace.writeAttempt(record)
            try workspace.writeState(state(for: record, updatedAt: record.startedAt))
        } catch {
            workspace.releaseLock(attemptID: task.attemptID)
            let detail = "write attempt: \(error.localizedDescription)"
            return await conclude(task, record, .failed(IssueErrorType.execError, detail), setup: true, logger: logger)
        }

        return await withTaskGroup(of: Void.self) { group in
            if let tracker = trackingComment(for: task, logger: logger) {
                let events = task.execution.progress.subscribe(replay: true)
                group.addTask { await tracker.follow(events) }
            }
            let end = await attempt(task, logger: logger)
            let outcome = await conclude(task, record, end, setup: false, logger: logger)
            await group.waitForAll()
            return outcome
        }
    }

    /// How the work of an attempt ended, before it is recorded and reported.
    enum AttemptEnd: Sendable {
        /// Claude ran (whatever its outcome).
        case claude(ClaudeOutcome)
        /// The attempt failed before or instead of Claude: error type and detail.
        case failed(String, String)
        /// Stopped before Claude ran (cancelled or shut down while queued or cloning).
        case stopped
    }

    /// Clone and run Claude, holding a run slot only for that.
    private func attempt(_ task: IssueTask, logger: Logger) async -> AttemptEnd {
        let workspace = task.workspace
        let execution = task.execution
        do {
            return try await execution.cancellable { [self] in
                try await execution.withSlot {
                    // A stale clone from an earlier attempt goes; the records stay.
                    try? FileManager.default.removeItem(atPath: workspace.repoDirectory)
                    do {
                        let prepared = try await prepareWorkspace(
                            repo: task.repo, into: workspace.repoDirectory, ref: task.ref, shallow: true, logger: logger
                        )
                        logger.info(
                            "issue run started",
                            metadata: prepared.logMetadata.merging(["model": "\(task.model ?? "")"]) { $1 })
                    } catch let failure as Git.Failure {
                        try? FileManager.default.removeItem(atPath: workspace.repoDirectory)
                        return .failed(IssueErrorType.cloneFailed, failure.description)
                    } catch {
                        try? FileManager.default.removeItem(atPath: workspace.repoDirectory)
                        throw error
                    }
                    let invocation = ClaudeInvocation.issue(
                        prompt: IssueText.prompt(repo: task.repo.fullName, issue: task.issue), model: task.model,
                        config: config)
                    do {
                        let outcome = try await execution.runClaude(
                            invocation, in: workspace.repoDirectory,
                            paths: hostPaths(workspace: workspace.repoDirectory, taskRoot: workspace.root),
                            logger: logger,
                            onStart: { pid in workspace.recordClaudeProcess(pid, attemptID: task.attemptID) })
                        return .claude(outcome)
                    } catch let failure as ClaudeProcess.LaunchFailure {
                        try? FileManager.default.removeItem(atPath: workspace.repoDirectory)
                        return .failed(IssueErrorType.execError, failure.description)
                    }
                }
            }
        } catch is CancellationError {
            return .stopped
        } catch {
            // The line of waiting runs was full.
            return .failed(IssueErrorType.execError, "\(error)")
        }
    }

    /// Records the attempt's final values, ends its run, reports on the issue and releases the lock — in
    /// that order, outside any cancellation (an interrupted attempt is still recorded and reported).
    /// - Parameter setup: The attempt ended before it held the lock (or before it began): `state.json` is
    ///   not this attempt's to write and the lock not its to release.
    private func conclude(
        _ task: IssueTask, _ record: IssueAttemptRecord, _ end: AttemptEnd, setup: Bool, logger: Logger
    ) async -> IssueOutcome {
        await Task { [self] in
            await concludeUncancelled(task, record, end, setup: setup, logger: logger)
        }.value
    }

    private func concludeUncancelled(
        _ task: IssueTask, _ record: IssueAttemptRecord, _ end: AttemptEnd, setup: Bool, logger: Logger
    ) async -> IssueOutcome {
        let workspace = task.workspace
        let execution = task.execution
        var record = record
        var claudeOutcome: ClaudeOutcome?
        var errorType: String?
        var detail: String?
        var preserved = false
        var status = RunStatus.failed
        switch end {
        case .failed(let type, let text):
            errorType = type
            detail = text
        case .stopped:
            let stoppedByCaller = execution.stoppedStatus == .cancelled
            errorType = stoppedByCaller ? IssueErrorType.cancelled : IssueErrorType.interrupted
            detail = stoppedByCaller ? IssueText.cancelledDetail : IssueText.interruptedDetail
            status = stoppedByCaller ? .cancelled : .interrupted
        case .claude(let outcome):
            claudeOutcome = outcome
            record.commit = await headCommit(workspace, logger: logger)
            preserved = true
            status = outcome.status
            switch outcome.status {
            case .completed:
                break
            case .cancelled:
                errorType = IssueErrorType.cancelled
                detail = IssueText.cancelledDetail
            case .interrupted:
                errorType = IssueErrorType.interrupted
                detail = IssueText.interruptedDetail
            default:
                errorType = IssueErrorType.claudeFailed
                detail = outcome.error ?? "claude failed"
            }
        }
        record.sessionID = claudeOutcome?.sessionID
        record.costUSD = claudeOutcome?.costUSD
        record.numTurns = claudeOutcome?.numTurns
        let sanitizedDetail = detail.map { sanitize($0, workspace: workspace) }
        if errorType == nil {
            record.status = IssueAttemptStatus.completed
        } else {
            record.status = IssueAttemptStatus.failed
            record.errorType = errorType
            record.errorDetail = sanitizedDetail
        }
        finish(&record, workspace: workspace, writeState: !setup, logger: logger)

        // The run's Result and its last event.
        let finalStatus: RunStatus = errorType == nil ? .completed : (status == .completed ? .failed : status)
        let output = claudeOutcome.map { sanitize($0.output, workspace: workspace) } ?? ""
        var result = claudeOutcome?.result(id: task.attemptID) ?? RunResult(id: task.attemptID, output: "")
        result.output = output
        result.error = sanitizedDetail
        if claudeOutcome?.sawEvents != false { result.status = finalStatus.rawValue }
        execution.finish(result, status: finalStatus)

        let trailer = IssueText.runTrailer(claudeOutcome)
        if let errorType, let sanitizedDetail {
            logger.error(
                "issue execution failed", metadata: ["outcome": "\(errorType)", "error": "\(sanitizedDetail)"])
            await reportFailure(
                task, detail: sanitizedDetail, preserved: preserved, trailer: trailer, logger: logger)
        } else {
            logger.info("issue completed", metadata: ["outcome": "completed", "commit": "\(record.commit ?? "")"])
            await postComment(
                task, IssueText.successComment(output: output) + trailer, what: "comment success", logger: logger)
        }
        if !setup { workspace.releaseLock(attemptID: task.attemptID) }
        return IssueOutcome(
            status: record.status, errorType: record.errorType, detail: record.errorDetail, commit: record.commit)
    }

    /// The tracking comment for an attempt, unless editing is off or the claim comment's id is unknown.
    private func trackingComment(for task: IssueTask, logger: Logger) -> IssueTrackingComment? {
        guard let github, let commentID = task.claimCommentID, config.issue.progressInterval > .zero else {
            return nil
        }
        return IssueTrackingComment(
            github: github, repo: task.repo.fullName, commentID: commentID, claimText: task.claimText,
            interval: config.issue.progressInterval, redactor: redactor, logger: logger)
    }

    /// A claim that stopped half way (`agent-ready` already removed) must not leave the issue looking
    /// claimed with nothing running: mark it failed, best effort (GitHub may still be failing).
    private func reportFailedClaim(repo: String, number: Int, message: String, logger: Logger) async {
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
        let workspace = IssueWorkspace(workDir: config.workDir, repo: repo, number: request.issueNumber)
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
            try FileManager.default.removeItem(atPath: workspace.root)
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
            lastStatus: record.status, lastErrorType: record.errorType, lastCommit: record.commit, updatedAt: updatedAt)
    }

    private func headCommit(_ workspace: IssueWorkspace, logger: Logger) async -> String? {
        try? await git.headCommit(in: workspace.repoDirectory, logger: logger)
    }

    /// Secrets out, host paths replaced with placeholders: a comment is public.
    func sanitize(_ text: String, workspace: IssueWorkspace) -> String {
        IssueText.sanitize(
            redactor.redact(text), taskRoot: workspace.root, workRoot: config.workDir, home: PathExpansion.homeDirectory
        )
    }
}
