import Foundation
import Logging

/// What the runner does after Claude exits on an issue run (spec section 12): look at what Claude left in
/// `repo/`, and deliver it — commit leftovers, push, open (or reuse) the pull request — so that an issue
/// run ends in a pull request or in an honest failure, never in a silent success.
extension RunnerService {
    /// Where the clone started: the branch checked out and its commit.
    struct IssueStart: Sendable {
        var branch: String?
        var commit: String?
    }

    /// What Claude left in `repo/`.
    struct IssueWork: Sendable {
        /// The branch checked out now; `nil` when `HEAD` is detached.
        var branch: String?
        var newCommits: Int
        var uncommitted: Bool

        var hasWork: Bool { newCommits > 0 || uncommitted }
    }

    /// How delivering went.
    enum Delivery: Sendable {
        /// The pull request, and the branch and commit it is at.
        case pullRequest(url: String, branch: String, commit: String?, opened: Bool)
        /// A push or pull-request call failed: the redacted reason.
        case failed(String)
    }

    /// The branch a run that stayed on the branch it was cloned at delivers to (the runner's own).
    static func runnerBranch(issue: Int) -> String { "claude/issue-\(issue)" }

    func inspectWork(_ task: IssueTask, start: IssueStart, logger: Logger) async -> IssueWork {
        let directory = task.workspace.repoDirectory
        let branch = try? await git.currentBranch(in: directory, logger: logger)
        var newCommits = 0
        if let base = start.commit {
            newCommits = (try? await git.commitCount(since: base, in: directory, logger: logger)) ?? 0
        } else if (try? await git.headCommit(in: directory, logger: logger)) != nil {
            // The clone had no commits: everything there now is new.
            newCommits = (try? await git.commitCount(since: nil, in: directory, logger: logger)) ?? 0
        }
        let uncommitted = (try? await git.hasUncommittedChanges(in: directory, logger: logger)) ?? false
        return IssueWork(branch: branch ?? nil, newCommits: newCommits, uncommitted: uncommitted)
    }

    /// The open pull request whose head is `branch` in the issue's repository, if any (a failed lookup is
    /// logged and counts as none).
    func openPullRequest(_ task: IssueTask, branch: String, logger: Logger) async -> GitHubPullRequest? {
        guard let github else { return nil }
        do {
            return try await github.openPullRequest(
                repo: task.repo.fullName, headOwner: task.repo.owner, branch: branch, logger: logger)
        } catch {
            logger.warning("look for a pull request", metadata: ["error": "\(redactor.redact("\(error)"))"])
            return nil
        }
    }

    /// Commits what is uncommitted, pushes, and opens the pull request (or reuses the open one).
    ///
    /// Work Claude left on the branch the clone started from goes to ``runnerBranch(issue:)``, which is the
    /// runner's own and is pushed with `--force`; a branch Claude made is pushed as it is, never forced.
    func deliver(
        _ task: IssueTask, start: IssueStart, work: IssueWork, summary: String, trailer: String, draft: Bool,
        logger: Logger
    ) async -> Delivery {
        let directory = task.workspace.repoDirectory
        let number = task.issue.number
        guard let base = start.branch else {
            return .failed("the clone did not start on a branch, so there is no base for a pull request")
        }
        do {
            if work.uncommitted {
                try await git.commitAll(
                    message: IssueText.commitMessage(number: number, title: task.issue.title),
                    author: config.issue.commitAuthor, in: directory, logger: logger)
            }
            var branch = Self.runnerBranch(issue: number)
            var force = true
            if let claudeBranch = work.branch, claudeBranch != base {
                if (try? RefName.validate(claudeBranch, field: "branch")) != nil, !claudeBranch.hasPrefix("-") {
                    branch = claudeBranch
                    force = false
                }
            }
            if force { try await git.checkoutBranch(branch, in: directory, logger: logger) }
            try await git(for: task.repo).push(branch: branch, force: force, in: directory, logger: logger)
            let commit = try? await git.headCommit(in: directory, logger: logger)
            logger.info("pushed the issue's work", metadata: ["branch": "\(branch)", "forced": "\(force)"])
            if let existing = await openPullRequest(task, branch: branch, logger: logger) {
                return .pullRequest(url: existing.htmlURL, branch: branch, commit: commit, opened: false)
            }
            guard let github else { return .failed("no GitHub client to open the pull request with") }
            let pull = try await github.createPullRequest(
                repo: task.repo.fullName, title: IssueText.pullRequestTitle(task.issue.title, number: number),
                head: branch, base: base,
                body: IssueText.pullRequestBody(
                    number: number, summary: summary, runID: task.attemptID, trailer: trailer),
                draft: draft, logger: logger)
            logger.info("opened a pull request", metadata: ["pull_request": "\(pull.htmlURL)", "draft": "\(draft)"])
            return .pullRequest(url: pull.htmlURL, branch: branch, commit: commit, opened: true)
        } catch let failure as Git.Failure {
            return .failed(failure.description)
        } catch let failure as GitHubClient.Failure {
            return .failed("open the pull request: \(redactor.redact(failure.description))")
        } catch {
            return .failed(redactor.redact("\(error)"))
        }
    }
}
