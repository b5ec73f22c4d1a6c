import Foundation
import Logging

/// Durable issue tasks (spec section 14): the claim goes to a queue shared by every runner of the edge,
/// and whichever runner takes a task runs it — afresh after a runner died — with exactly one final comment
/// per attempt.
extension RunnerService {
    /// Claims the issue, puts the task in the queue and answers once the queue has stored it.
    ///
    /// A queue without room (a full stream) is an `.unavailable` error before the claim, so the issue stays
    /// as it was. Should the queue refuse the task after the claim all the same (it filled up in between),
    /// the claim is reported failed on the issue and the answer keeps the queue's error kind.
    func runDurableIssue(
        _ request: RunIssueRequest, queue: any DurableIssueQueue, transport: RunTransport, logger: Logger
    ) async throws -> RunResult {
        try await queue.checkRoom()
        let task = try await prepareIssue(request, transport: transport, logger: logger)
        let message = IssueTaskMessage(
            request: request, attemptID: task.attemptID, claimCommentID: task.claimCommentID, model: task.model,
            modelLabel: task.modelLabel, issue: task.issue, transport: transport, acceptedBy: runnerName,
            acceptedAt: Timestamp.string(from: Date()))
        do {
            try await queue.enqueue(message)
        } catch {
            let reason =
                "queue the task: \(redactor.redact("\(error)")); the claim was reported failed on the issue"
            await reportFailedClaim(
                repo: task.repo.fullName, number: task.issue.number, message: reason, logger: logger)
            throw RunnerError((error as? RunnerError)?.kind ?? .failed, reason)
        }
        logger.info("issue task queued", metadata: ["run.id": "\(task.attemptID)"])
        return task.acceptedResult
    }

    /// The durable queue could not acknowledge the delivery of `attemptID`'s task for longer than the ack
    /// wait (NATS out of reach, the runner frozen): another runner may have been given the task.
    public func taskAcknowledgementsLapsed(_ attemptID: String, logger: Logger) {
        guard let run = activeRuns[attemptID] else { return }
        logger.warning(
            "a task's acknowledgements lapsed beyond the ack wait; checking the issue before reporting",
            metadata: ["run.id": "\(attemptID)"])
        run.markOwnershipInDoubt()
    }

    /// Whether a later delivery of the task took over (its moved note is on the issue) or the attempt was
    /// already reported: asked only when the attempt's acknowledgements lapsed.
    func taskMovedOn(_ task: IssueTask, logger: Logger) async -> Bool {
        if task.execution.superseded { return true }
        guard let delivery = task.delivery, task.execution.ownershipInDoubt, let github else { return false }
        do {
            let comments = try await github.comments(
                repo: task.repo.fullName, number: task.issue.number, logger: logger)
            let movedOn = comments.contains { comment in
                IssueText.isFinalComment(comment.body, runID: task.attemptID)
                    || (IssueText.movedDelivery(in: comment.body) ?? 0) > delivery.count
            }
            if movedOn {
                logger.warning(
                    "the task moved to another runner while this one could not acknowledge it; stopping without a report",
                    metadata: ["outcome": "superseded"])
            }
            return movedOn
        } catch {
            logger.warning("read the issue's comments", metadata: ["error": "\(redactor.redact("\(error)"))"])
            return false
        }
    }

    /// Runs a task taken from the durable queue, as the `count`th delivery.
    public func executeDelivered(
        _ message: IssueTaskMessage, delivery: TaskDelivery, logger: Logger
    ) async -> DeliveredTaskOutcome {
        var logger = logger
        logger[metadataKey: "run.id"] = "\(message.attemptID)"
        logger[metadataKey: "delivery"] = "\(delivery.count)"
        guard ULID.isValid(message.attemptID) else { return .invalid("the attempt id is not a run id") }
        if activeRuns[message.attemptID] != nil {
            // This runner's acknowledgements lapsed and the task came back to it: the attempt running here
            // goes on and acknowledges the task when it ends.
            logger.warning("task redelivered while its attempt still runs here; the running attempt keeps it")
            return .superseded
        }
        let repo: RepoReference
        do {
            repo = try RepoReference(
                message.request.repo, githubBaseURL: config.github.baseURL,
                allowedProtocols: config.git.allowedProtocols)
        } catch {
            return .invalid(error.message)
        }
        guard message.request.issueNumber > 0, message.issue.number == message.request.issueNumber else {
            return .invalid("the task's issue number is not valid")
        }
        if let ref = message.request.ref.nonEmpty {
            do { try RefName.validate(ref, field: "ref") } catch { return .invalid(error.message) }
        }
        guard let github else { return .invalid("github client not configured on this runner") }
        logger[metadataKey: "repo"] = "\(repo.fullName)"
        logger[metadataKey: "issue_number"] = "\(message.issue.number)"

        var claimText = IssueText.claimComment(modelLabel: message.modelLabel, model: message.model)
        if delivery.isRedelivery {
            // The runner that had it died: was the attempt reported before that?
            do {
                let comments = try await github.comments(
                    repo: repo.fullName, number: message.issue.number, logger: logger)
                if comments.contains(where: { IssueText.isFinalComment($0.body, runID: message.attemptID) }) {
                    logger.info("redelivered task was already reported; acknowledging it")
                    return .alreadyReported
                }
            } catch {
                logger.warning("read the issue's comments", metadata: ["error": "\(redactor.redact("\(error)"))"])
            }
            RunMetrics.taskRedelivered()
            claimText += IssueText.movedNote(runner: runnerName, delivery: delivery)
            if let commentID = message.claimCommentID {
                do {
                    try await github.updateComment(
                        commentID, text: redactor.redact(claimText), repo: repo.fullName, logger: logger)
                } catch {
                    logger.warning("edit tracking comment", metadata: ["error": "\(redactor.redact("\(error)"))"])
                }
            }
        }
        let execution = RunExecution(
            record: RunRecord(
                id: message.attemptID, kind: .issue, transport: message.transport, repo: repo.fullName,
                ref: message.request.ref.nonEmpty, issueNumber: message.issue.number, model: message.model,
                deliveries: delivery.count),
            service: self)
        let task = IssueTask(
            execution: execution, repo: repo, issue: message.issue, ref: message.request.ref.nonEmpty,
            model: message.model, modelLabel: message.modelLabel,
            workspace: issueWorkspace(repo: repo, number: message.issue.number), claimText: claimText,
            claimCommentID: message.claimCommentID, delivery: delivery)
        execution.begin()
        let outcome = await executeIssue(task, durable: true, logger: logger)
        if outcome.superseded { return .superseded }
        if outcome.requeued { return .requeue }
        return .reported(completed: outcome.completed)
    }
}
