import Foundation

/// The texts the issue protocol writes: Claude's prompt and the comments on the issue.
public enum IssueText {
    /// Longest comment excerpt of Claude's output or a failure detail.
    public static let summaryLimit = 4000

    /// The prompt built from the issue; a client's prompt is never used in issue mode.
    public static func prompt(repo: String, issue: GitHubIssue) -> String {
        var text = "You are claude-runner working on GitHub issue #\(issue.number) in \(repo).\n\n"
        if !issue.title.isEmpty { text += "Issue title: \(issue.title)\n" }
        if let url = issue.htmlURL, !url.isEmpty { text += "Issue URL: \(url)\n" }
        text += "\nIssue body:\n"
        text += issue.body ?? ""
        text += "\n\nInstructions:\n"
        text += "- Implement the task described in the issue and open a pull request for review.\n"
        text += "- Do not stop after producing only a plan; implement the change in this run.\n"
        text += "- Do not ask for approval to begin implementation in issue mode.\n"
        text += "- Do not merge any pull requests.\n"
        text +=
            "- Run the relevant tests after your changes and report which commands you ran and the outcomes in your final summary.\n"
        text += "- Keep changes scoped to what the issue asks for.\n"
        return text
    }

    public static func claimComment(modelLabel: String?, model: String?) -> String {
        var text = "claude-runner has claimed this issue and started working on it."
        let label = modelLabel ?? ""
        let model = model ?? ""
        if !label.isEmpty || !model.isEmpty {
            text += "\n\nModel selection:"
            if !label.isEmpty { text += "\n- Label: `\(label)`" }
            if !model.isEmpty { text += "\n- Model: `\(model)`" }
        }
        return text
    }

    public static func acceptedOutput(repo: String, number: Int) -> String {
        "Issue \(repo)#\(number) accepted; claude-runner is processing in the background."
    }

    public static func successComment(output: String, pullRequest: String? = nil) -> String {
        var text = "claude-runner finished this task.\n\n" + summarize(output)
        if let pullRequest { text += "\n\nPull request: \(pullRequest)" }
        return text
    }

    /// The longest issue title the runner puts in a commit message or a pull-request title.
    public static let titleLimit = 200

    /// The issue title on one line, bounded: it goes into a commit message and a pull-request title.
    static func oneLineTitle(_ title: String) -> String {
        let line = ToolSummary.oneLine(title, limit: titleLimit)
        return line.isEmpty ? "(untitled)" : line
    }

    /// `Resolve #<n>: <issue title>`.
    public static func commitMessage(number: Int, title: String) -> String {
        "Resolve #\(number): \(oneLineTitle(title))"
    }

    public static func pullRequestTitle(_ title: String, number: Int) -> String {
        let line = ToolSummary.oneLine(title, limit: titleLimit)
        return line.isEmpty ? "Resolve #\(number)" : line
    }

    /// `Closes #<n>`, Claude's summary, the run id and the cost line.
    public static func pullRequestBody(number: Int, summary: String, runID: String, trailer: String) -> String {
        "Closes #\(number)\n\n" + summarize(summary) + "\n\nRun ID: `\(runID)`" + trailer
    }

    /// Why an issue run that changed nothing failed; names the denied tools when there were any.
    public static func noChangesDetail(output: String, denials: [RunResult.PermissionDenial]) -> String {
        var text = "Claude finished without making any changes and without opening a pull request."
        if !denials.isEmpty {
            let tools = Array(Set(denials.map(\.tool))).sorted().map { "`\($0)`" }.joined(separator: ", ")
            text += " Claude Code denied its calls to \(tools), so it could not do the work; allow them "
            text += "(allowedTools / issue.allowedTools) or run it with issue.bypassPermissions."
        }
        return text + "\n\nClaude's output:\n\n" + summarize(output)
    }

    /// The prompt of a resumed session: what was said on the issue since the last attempt began.
    public static func resumePrompt(repo: String, number: Int, comments: [GitHubComment]) -> String {
        var text = "GitHub issue #\(number) in \(repo) was triggered again. "
        if comments.isEmpty {
            text += "No new comments were posted since your last attempt."
        } else {
            text += "These comments were posted on the issue since your last attempt:\n"
            for comment in comments {
                text += "\n--- @\(comment.user?.login ?? "someone") wrote:\n\(comment.body ?? "")\n"
            }
        }
        text += "\nContinue the task: implement what is still missing, run the relevant tests, and make sure the work "
        text += "is committed and a pull request is open. Do not merge any pull requests."
        return text
    }

    /// The git config Claude gets when the GitHub token is withheld: who commits, nothing that holds or
    /// fetches credentials.
    public static func isolatedGitConfig(author: CommitAuthor) -> String {
        "[user]\n\tname = \(author.name)\n\temail = \(author.email)\n[credential]\n\thelper =\n"
    }

    public static let resumeFallbackNote =
        "The previous Claude session could not be resumed, so this attempt started afresh with a new clone."

    /// Whether `body` is the final comment of attempt `runID` (it carries its `Run ID`).
    public static func isFinalComment(_ body: String?, runID: String) -> Bool {
        guard let body else { return false }
        return body.contains("Run ID: `\(runID)`")
            && (body.hasPrefix("claude-runner finished this task.")
                || body.hasPrefix("claude-runner failed to complete this task."))
    }

    /// What the tracking comment says when a task moved to another runner.
    public static func movedNote(runner: String, delivery: TaskDelivery) -> String {
        "\n\n> This task moved to runner `\(runner)` (delivery \(delivery.count) of \(delivery.maxDeliveries)): "
            + "the runner that had it stopped before it finished, so the attempt starts again here."
    }

    /// The latest delivery a moved note in `body` names (see ``movedNote(runner:delivery:)``), if any.
    public static func movedDelivery(in body: String?) -> Int? {
        guard let body else { return nil }
        var latest: Int?
        var rest = Substring(body)
        while let note = rest.range(of: "This task moved to runner `") {
            rest = rest[note.upperBound...]
            guard let open = rest.range(of: "` (delivery ") else { break }
            let digits = rest[open.upperBound...].prefix { $0.isASCII && $0.isNumber }
            if let count = Int(digits) { latest = max(latest ?? count, count) }
            rest = rest[open.upperBound...]
        }
        return latest
    }

    /// Whether `body` is one of the runner's own comments (claim, progress, outcome).
    public static func isRunnerComment(_ body: String?) -> Bool {
        guard let body else { return false }
        return body.hasPrefix("claude-runner ")
    }

    public static func failureComment(runID: String, workspacePreserved: Bool, detail: String) -> String {
        var text = "claude-runner failed to complete this task.\n\n"
        text += "- Run ID: `\(runID)`\n"
        if workspacePreserved {
            text += "- Workspace preserved on the runner; ask an operator to inspect with the run ID above.\n"
        }
        text += "\n"
        return text + summarize(detail)
    }

    public static let interruptedDetail = "The run was interrupted: the runner shut down before Claude finished."
    public static let supersededDetail =
        "The task moved to another runner while this one could not acknowledge it (NATS was out of reach for "
        + "longer than the ack wait); the other runner reports it."
    public static let cancelledDetail = "The run was cancelled by an operator before Claude finished."

    /// What ends a final comment when Claude printed stream-json events: the permission denials, the
    /// attempt's `Run ID` when given (so a runner can tell the attempt was reported), then
    /// `Cost: $X · Turns: N · Duration: Ns · Model: M` (unknown parts left out). Empty for a `claude`
    /// that printed plain text, whose comments stay as the original runner wrote them.
    public static func runTrailer(_ outcome: ClaudeOutcome?, runID: String? = nil) -> String {
        guard let outcome, outcome.sawEvents else { return "" }
        var text = ""
        if !outcome.permissionDenials.isEmpty {
            text += "\n\nPermission denials:"
            for denial in outcome.permissionDenials.prefix(20) {
                text += "\n- `\(denial.tool)`" + (denial.input.isEmpty ? "" : " \(codeSpan(denial.input))")
            }
            if outcome.permissionDenials.count > 20 { text += "\n- … and \(outcome.permissionDenials.count - 20) more" }
        }
        var lines: [String] = []
        if let runID { lines.append("Run ID: `\(runID)`") }
        let cost = costLine(outcome)
        if !cost.isEmpty { lines.append(cost) }
        if !lines.isEmpty { text += "\n\n" + lines.joined(separator: "\n") }
        return text
    }

    /// `Cost: $0.0162 · Turns: 2 · Duration: 45s · Model: claude-sonnet-4-6`.
    public static func costLine(_ outcome: ClaudeOutcome) -> String {
        var parts: [String] = []
        if let cost = outcome.costUSD { parts.append("Cost: \(Money.format(cost))") }
        if let turns = outcome.numTurns { parts.append("Turns: \(turns)") }
        if let duration = outcome.durationMS { parts.append("Duration: \(Int((Double(duration) / 1000).rounded()))s") }
        if let model = outcome.model, !model.isEmpty { parts.append("Model: \(model)") }
        return parts.joined(separator: " · ")
    }

    /// Text as inline Markdown code, safe whatever backticks it holds.
    static func codeSpan(_ text: String) -> String {
        var fence = "`"
        while text.contains(fence) { fence += "`" }
        let padded = text.hasPrefix("`") || text.hasSuffix("`") ? " \(text) " : text
        return fence + padded + fence
    }

    /// Trimmed text, `(no output)` when empty, cut at ``summaryLimit`` characters and marked when longer.
    public static func summarize(_ text: String) -> String {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.isEmpty { return "(no output)" }
        guard trimmed.count > summaryLimit else { return trimmed }
        return String(trimmed.prefix(summaryLimit)) + "\n\n[truncated]"
    }

    /// Replaces host paths with placeholders: the task root with `<workspace>`, the workspace root with
    /// `<workspace-root>`, the runner's home directory with `~`.
    public static func sanitize(_ text: String, taskRoot: String?, workRoot: String, home: String?) -> String {
        var result = text
        if let taskRoot, !taskRoot.isEmpty { result = result.replacingOccurrences(of: taskRoot, with: "<workspace>") }
        if !workRoot.isEmpty { result = result.replacingOccurrences(of: workRoot, with: "<workspace-root>") }
        if let home, !home.isEmpty, home != "/" { result = result.replacingOccurrences(of: home, with: "~") }
        return result
    }
}
