import Foundation
import Logging

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

extension RunnerService {
    /// Finds issue attempts that a previous runner left `running` (it was killed, or stopped before they
    /// ended) and closes them: the attempt is marked `failed` with error type `interrupted`, the lock is
    /// released, and the issue gets `agent-failed` and a comment saying the run was interrupted — so no
    /// issue stays claimed forever.
    ///
    /// An attempt whose lock is held by a live process that is not this one (another runner sharing
    /// `workDir`) and is younger than the lock lifetime is left alone.
    /// - Returns: The task ids that were recovered.
    ///
    /// With durable tasks (`durable`), an interrupted attempt's task is back in the queue, so recovery only
    /// clears this runner's stale lock and local records: another runner runs the task and reports it.
    @discardableResult
    public func recoverInterruptedIssues(durable: Bool = false, logger: Logger) async -> [String] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: config.workDir)) ?? []
        var recovered: [String] = []
        for entry in entries.sorted() where entry.hasPrefix("gh-issue-") {
            let root = (config.workDir as NSString).appendingPathComponent(entry)
            guard let workspace = IssueWorkspace(existingRoot: root, lockLifetime: lockLifetime),
                let state = workspace.readState()
            else { continue }
            if let holder = workspace.readLock(), holder.pid != Int(getpid()), Self.processIsAlive(holder.pid),
                workspace.freshLock() != nil
            {
                continue
            }
            if state.lastStatus == IssueAttemptStatus.running {
                await recover(workspace, state: state, report: !durable, logger: logger)
                recovered.append(workspace.taskID)
            } else if durable, workspace.readLock()?.attemptID == state.lastAttemptID {
                try? FileManager.default.removeItem(atPath: workspace.lockFile)
                recovered.append(workspace.taskID)
            } else if let holder = workspace.readLock(), holder.attemptID == state.lastAttemptID {
                // The attempt's records are final but its runner died before it released the lock (and
                // perhaps before its final comment): finish the job.
                await finishReporting(workspace, state: state, logger: logger)
                recovered.append(workspace.taskID)
            }
        }
        return recovered
    }

    private func recover(_ workspace: IssueWorkspace, state: IssueTaskState, report: Bool, logger: Logger) async {
        var logger = logger
        logger[metadataKey: "run.id"] = "\(state.lastAttemptID)"
        logger[metadataKey: "repo"] = "\(state.repo)"
        logger[metadataKey: "issue_number"] = "\(state.issueNumber)"
        let detail = "The run was interrupted: the runner stopped (killed or restarted) before Claude finished."
        let ended = Timestamp.string(from: Date())
        var record =
            workspace.readAttempt(state.lastAttemptID)
            ?? IssueAttemptRecord(
                attemptID: state.lastAttemptID, taskID: state.taskID, repo: state.repo, issueNumber: state.issueNumber,
                startedAt: state.updatedAt, endedAt: nil, status: IssueAttemptStatus.running, errorType: nil,
                errorDetail: nil, branch: nil, commit: nil, model: nil, modelLabel: nil)
        record.status = IssueAttemptStatus.failed
        record.errorType = IssueErrorType.interrupted
        record.errorDetail = detail
        record.endedAt = ended
        var newState = state
        newState.lastStatus = IssueAttemptStatus.failed
        newState.lastErrorType = IssueErrorType.interrupted
        newState.updatedAt = ended
        do {
            try workspace.writeAttempt(record)
            try workspace.writeState(newState)
        } catch {
            logger.warning(
                "cannot record the interrupted attempt", metadata: ["error": "\(error.localizedDescription)"])
        }
        if let orphan = workspace.readLock()?.claudePID, Self.isClaude(orphan, runningIn: workspace.repoDirectory) {
            // The dead runner's claude is still working in the task root: stop its whole group.
            kill(-pid_t(orphan), SIGKILL)
            logger.warning("stopped the interrupted attempt's claude", metadata: ["pid": "\(orphan)"])
        }
        try? FileManager.default.removeItem(atPath: workspace.lockFile)
        logger.warning("recovered an interrupted issue attempt", metadata: ["outcome": "interrupted"])

        guard report, let github else { return }
        do {
            try await github.addLabels(
                [IssueLabels.failed], repo: state.repo, number: state.issueNumber, logger: logger)
        } catch {
            logger.warning("add agent-failed", metadata: ["error": "\(redactor.redact("\(error)"))"])
        }
        let preserved = FileManager.default.fileExists(atPath: workspace.repoDirectory)
        let comment = IssueText.failureComment(
            runID: state.lastAttemptID, workspacePreserved: preserved, detail: detail)
        do {
            try await github.comment(comment, repo: state.repo, number: state.issueNumber, logger: logger)
        } catch {
            logger.warning("comment failure", metadata: ["error": "\(redactor.redact("\(error)"))"])
        }
    }

    /// Posts the final comment of an attempt whose runner died after recording its outcome, unless the
    /// issue already has it (it carries the attempt's `Run ID`), then releases the lock.
    private func finishReporting(_ workspace: IssueWorkspace, state: IssueTaskState, logger: Logger) async {
        var logger = logger
        logger[metadataKey: "run.id"] = "\(state.lastAttemptID)"
        logger[metadataKey: "repo"] = "\(state.repo)"
        logger[metadataKey: "issue_number"] = "\(state.issueNumber)"
        defer {
            try? FileManager.default.removeItem(atPath: workspace.lockFile)
            logger.warning("released the lock of a finished attempt whose runner stopped")
        }
        guard var record = workspace.readAttempt(state.lastAttemptID), record.reported == false, let github else {
            return
        }
        let posted =
            (try? await github.comments(repo: state.repo, number: state.issueNumber, logger: logger))?.contains {
                ($0.body ?? "").contains("Run ID: `\(record.attemptID)`")
            } ?? false
        if !posted {
            let comment: String
            if record.status == IssueAttemptStatus.completed {
                comment =
                    IssueText.successComment(
                        output: "(The runner stopped before it could post Claude's summary.)",
                        pullRequest: record.pullRequest) + "\n\nRun ID: `\(record.attemptID)`"
            } else {
                do {
                    try await github.addLabels(
                        [IssueLabels.failed], repo: state.repo, number: state.issueNumber, logger: logger)
                } catch {
                    logger.warning("add agent-failed", metadata: ["error": "\(redactor.redact("\(error)"))"])
                }
                comment = IssueText.failureComment(
                    runID: record.attemptID,
                    workspacePreserved: FileManager.default.fileExists(atPath: workspace.repoDirectory),
                    detail: record.errorDetail ?? "failed")
            }
            do {
                try await github.comment(
                    redactor.redact(comment), repo: state.repo, number: state.issueNumber, logger: logger)
            } catch {
                logger.warning("comment final outcome", metadata: ["error": "\(redactor.redact("\(error)"))"])
                return
            }
        }
        record.reported = true
        try? workspace.writeAttempt(record)
    }

    /// Whether `pid` is still a process group leader working in `directory` (so a reused pid is never
    /// killed by mistake).
    static func isClaude(_ pid: Int, runningIn directory: String) -> Bool {
        guard processIsAlive(pid), getpgid(pid_t(pid)) == pid_t(pid) else { return false }
        let cwd = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/cwd")
        return cwd.map { ($0 as NSString).standardizingPath == (directory as NSString).standardizingPath } ?? false
    }

    static func processIsAlive(_ pid: Int) -> Bool {
        guard pid > 0, pid <= Int(Int32.max) else { return false }
        return kill(pid_t(pid), 0) == 0 || errno == EPERM
    }
}
