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
    @discardableResult
    public func recoverInterruptedIssues(logger: Logger) async -> [String] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: config.workDir)) ?? []
        var recovered: [String] = []
        for entry in entries.sorted() where entry.hasPrefix("gh-issue-") {
            let root = (config.workDir as NSString).appendingPathComponent(entry)
            guard let workspace = IssueWorkspace(existingRoot: root), let state = workspace.readState(),
                state.lastStatus == IssueAttemptStatus.running
            else { continue }
            if let holder = workspace.readLock(), holder.pid != Int(getpid()), Self.processIsAlive(holder.pid),
                workspace.freshLock() != nil
            {
                continue
            }
            await recover(workspace, state: state, logger: logger)
            recovered.append(workspace.taskID)
        }
        return recovered
    }

    private func recover(_ workspace: IssueWorkspace, state: IssueTaskState, logger: Logger) async {
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

        guard let github else { return }
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
