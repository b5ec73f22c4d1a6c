import Foundation
import Logging

extension RunnerService {
    /// The sync phase of the issue protocol, then the background phase on the scheduler.
    ///
    /// - Returns: `{id: <attempt id>, output: "Issue owner/repo#N accepted; ..."}` once the issue is claimed.
    /// - Throws: ``RunnerError`` for a missing token, a bad repo or number, an issue that fails validation
    ///   (nothing is claimed then) or a failed GitHub call.
    public func runIssue(_ request: RunIssueRequest, logger: Logger) async throws -> RunResult {
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
        let task = try await prepareIssue(request, logger: logger)
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
    public func prepareIssue(_ request: RunIssueRequest, logger: Logger) async throws -> IssueTask {
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
        let task = IssueTask(
            attemptID: ULID().description, repo: repo, issue: issue, ref: request.ref.nonEmpty, model: model,
            modelLabel: validation.modelLabel,
            workspace: IssueWorkspace(workDir: config.workDir, repo: repo, number: request.issueNumber))

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
        do {
            try await github.comment(
                IssueText.claimComment(modelLabel: validation.modelLabel, model: model), repo: repo.fullName,
                number: request.issueNumber, logger: logger)
        } catch let failure as GitHubClient.Failure {
            let message = "claim issue: comment claim: \(redactor.redact(failure.description))"
            await reportFailedClaim(repo: repo.fullName, number: request.issueNumber, message: message, logger: logger)
            throw RunnerError.failed(message)
        }
        logger.info(
            "issue accepted",
            metadata: ["run.id": "\(task.attemptID)", "model": "\(model ?? "")", "outcome": "claimed"])
        return task
    }

    /// The background phase: lock the task root, clone into `repo/`, run Claude, record the attempt and
    /// report success or failure on the issue. Never throws: every failure becomes a recorded, reported
    /// outcome.
    public func executeIssue(_ task: IssueTask, logger: Logger) async -> IssueOutcome {
        var logger = logger
        logger[metadataKey: "run.id"] = "\(task.attemptID)"
        logger[metadataKey: "repo"] = "\(task.repo.fullName)"
        logger[metadataKey: "issue_number"] = "\(task.issue.number)"
        let workspace = task.workspace
        let startedAt = Date()
        var record = IssueAttemptRecord(
            attemptID: task.attemptID, taskID: workspace.taskID, repo: task.repo.fullName,
            issueNumber: task.issue.number, startedAt: Timestamp.string(from: startedAt), endedAt: nil,
            status: IssueAttemptStatus.running, errorType: nil, errorDetail: nil, branch: task.ref, commit: nil,
            model: task.model, modelLabel: task.modelLabel)

        guard !workspace.isSymlink else {
            let detail = "the issue task root is a symbolic link; refusing to use it"
            return await fail(
                task, record: &record, type: IssueErrorType.execError, detail: detail, preserved: false,
                writeState: false,
                logger: logger)
        }
        do {
            try workspace.createDirectories()
        } catch {
            let detail = "create state dir: \(error.localizedDescription)"
            return await fail(
                task, record: &record, type: IssueErrorType.execError, detail: detail, preserved: false,
                writeState: false, logger: logger)
        }
        do {
            if case .tookOver(let reason) = try workspace.acquireLock(attemptID: task.attemptID, now: startedAt) {
                logger.warning("\(reason)")
            }
        } catch let busy as IssueWorkspace.LockBusy {
            logger.warning("issue workspace locked", metadata: ["holder": "\(busy.holder.attemptID)"])
            return await fail(
                task, record: &record, type: IssueErrorType.locked, detail: busy.description, preserved: false,
                writeState: false, logger: logger)
        } catch {
            let detail = "lock issue workspace: \(error.localizedDescription)"
            return await fail(
                task, record: &record, type: IssueErrorType.execError, detail: detail, preserved: false,
                writeState: false, logger: logger)
        }
        defer { workspace.releaseLock(attemptID: task.attemptID) }
        do {
            try workspace.writeAttempt(record)
            try workspace.writeState(state(for: record, updatedAt: record.startedAt))
        } catch {
            let detail = "write attempt: \(error.localizedDescription)"
            return await fail(
                task, record: &record, type: IssueErrorType.execError, detail: detail, preserved: false,
                writeState: false, logger: logger)
        }
        logger.info("issue run started", metadata: ["model": "\(task.model ?? "")"])
        do {
            return try await slots.withSlot {
                await runIssueAttempt(task, record: &record, logger: logger)
            }
        } catch is CancellationError {
            return await interrupted(task, record: &record, preserved: false, logger: logger)
        } catch {
            // The line of waiting runs was full.
            return await fail(
                task, record: &record, type: IssueErrorType.execError, detail: "\(error)", preserved: false,
                logger: logger)
        }
    }

    /// Clone, run Claude, record and report; the caller holds the lock and a run slot.
    private func runIssueAttempt(
        _ task: IssueTask, record: inout IssueAttemptRecord, logger: Logger
    ) async -> IssueOutcome {
        let workspace = task.workspace

        // A stale clone from an earlier attempt goes; the records stay.
        try? FileManager.default.removeItem(atPath: workspace.repoDirectory)
        do {
            try await git(for: task.repo).clone(
                source: task.repo.cloneSource, into: workspace.repoDirectory, ref: task.ref, shallow: true,
                logger: logger)
        } catch {
            try? FileManager.default.removeItem(atPath: workspace.repoDirectory)
            if error is CancellationError {
                return await interrupted(task, record: &record, preserved: false, logger: logger)
            }
            return await fail(
                task, record: &record, type: IssueErrorType.cloneFailed, detail: "\(error)", preserved: false,
                logger: logger)
        }

        let invocation = ClaudeInvocation.issue(
            prompt: IssueText.prompt(repo: task.repo.fullName, issue: task.issue), model: task.model, config: config)
        let outcome: ClaudeProcess.Outcome
        do {
            outcome = try await claude.run(
                invocation, in: workspace.repoDirectory, logger: logger,
                onStart: { pid in workspace.recordClaudeProcess(pid, attemptID: task.attemptID) })
        } catch is CancellationError {
            record.commit = await headCommit(workspace, logger: logger)
            return await interrupted(task, record: &record, preserved: true, logger: logger)
        } catch {
            try? FileManager.default.removeItem(atPath: workspace.repoDirectory)
            return await fail(
                task, record: &record, type: IssueErrorType.execError, detail: "\(error)", preserved: false,
                logger: logger)
        }
        record.commit = await headCommit(workspace, logger: logger)
        if let error = outcome.error {
            return await fail(
                task, record: &record, type: IssueErrorType.claudeFailed, detail: error, preserved: true, logger: logger
            )
        }

        record.status = IssueAttemptStatus.completed
        finish(&record, workspace: workspace, writeState: true, logger: logger)
        logger.info("issue completed", metadata: ["outcome": "completed", "commit": "\(record.commit ?? "")"])
        await postComment(
            task, IssueText.successComment(output: sanitize(outcome.output, workspace: workspace)),
            what: "comment success", logger: logger)
        return IssueOutcome(status: record.status, errorType: nil, detail: nil, commit: record.commit)
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

    private func fail(
        _ task: IssueTask, record: inout IssueAttemptRecord, type: String, detail: String, preserved: Bool,
        writeState: Bool = true, logger: Logger
    ) async -> IssueOutcome {
        let detail = sanitize(detail, workspace: task.workspace)
        record.status = IssueAttemptStatus.failed
        record.errorType = type
        record.errorDetail = detail
        finish(&record, workspace: task.workspace, writeState: writeState, logger: logger)
        logger.error("issue execution failed", metadata: ["outcome": "\(type)", "error": "\(detail)"])
        await reportFailure(task, detail: detail, preserved: preserved, logger: logger)
        return IssueOutcome(status: record.status, errorType: type, detail: detail, commit: record.commit)
    }

    /// The run was cancelled (shutdown grace ended): recorded as `interrupted` and reported, with the
    /// GitHub calls made outside the cancelled task so they still go out.
    private func interrupted(
        _ task: IssueTask, record: inout IssueAttemptRecord, preserved: Bool, logger: Logger
    ) async -> IssueOutcome {
        let detail = "The run was interrupted: the runner shut down before Claude finished."
        let finalRecord = record
        let reporter = Task { [self] in
            var copy = finalRecord
            return await self.fail(
                task, record: &copy, type: IssueErrorType.interrupted, detail: detail, preserved: preserved,
                logger: logger)
        }
        let outcome = await reporter.value
        record.status = outcome.status
        record.errorType = outcome.errorType
        return outcome
    }

    func reportFailure(_ task: IssueTask, detail: String, preserved: Bool, logger: Logger) async {
        guard let github else { return }
        do {
            try await github.addLabels(
                [IssueLabels.failed], repo: task.repo.fullName, number: task.issue.number, logger: logger)
        } catch {
            logger.warning("add agent-failed", metadata: ["error": "\(redactor.redact("\(error)"))"])
        }
        let comment = IssueText.failureComment(runID: task.attemptID, workspacePreserved: preserved, detail: detail)
        await postComment(task, comment, what: "comment failure", logger: logger)
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
