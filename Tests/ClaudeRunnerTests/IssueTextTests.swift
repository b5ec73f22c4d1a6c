import ClaudeRunner
import ClaudeRunnerTesting
import Testing

@Suite("issue texts", .timeLimit(.minutes(1)))
struct IssueTextTests {
    let issue = GitHubIssue(
        number: 42, title: "Add a flag", body: "<!-- agent-task:v1 -->\nDo it.", state: "open",
        htmlURL: "https://github.com/acme/widgets/issues/42", labels: [])

    @Test("the prompt carries the issue and the instructions")
    func prompt() {
        let prompt = IssueText.prompt(repo: "acme/widgets", issue: issue)
        #expect(prompt.hasPrefix("You are claude-runner working on GitHub issue #42 in acme/widgets.\n\n"))
        #expect(prompt.contains("Issue title: Add a flag\n"))
        #expect(prompt.contains("Issue URL: https://github.com/acme/widgets/issues/42\n"))
        #expect(prompt.contains("\nIssue body:\n<!-- agent-task:v1 -->\nDo it.\n\nInstructions:\n"))
        #expect(prompt.contains("open a pull request"))
        #expect(prompt.contains("Do not stop after producing only a plan"))
        #expect(prompt.contains("Do not ask for approval"))
        #expect(prompt.contains("Do not merge"))
        #expect(prompt.contains("Run the relevant tests"))
        #expect(prompt.contains("Keep changes scoped"))
    }

    @Test("claim comment mentions the model label and model when there are any")
    func claimComment() {
        #expect(
            IssueText.claimComment(modelLabel: nil, model: nil)
                == "claude-runner has claimed this issue and started working on it.")
        #expect(
            IssueText.claimComment(modelLabel: "model:fast", model: "claude-haiku-4-5")
                == "claude-runner has claimed this issue and started working on it.\n\nModel selection:\n- Label: `model:fast`\n- Model: `claude-haiku-4-5`"
        )
    }

    @Test("summaries are trimmed, say when empty, and are cut at 4000 characters")
    func summarize() {
        #expect(IssueText.summarize("  done \n") == "done")
        #expect(IssueText.summarize(" \n ") == "(no output)")
        let long = String(repeating: "é", count: 4500)
        let summary = IssueText.summarize(long)
        #expect(summary.hasSuffix("\n\n[truncated]"))
        #expect(summary.count == 4000 + "\n\n[truncated]".count)
    }

    @Test("failure comments carry the run id, the preserved line and sanitised detail")
    func failureComment() {
        let detail = IssueText.sanitize(
            "failed in /srv/work/gh-issue-a-b-1/repo and /srv/work/other and /home/runner/.cache",
            taskRoot: "/srv/work/gh-issue-a-b-1", workRoot: "/srv/work", home: "/home/runner")
        #expect(detail == "failed in <workspace>/repo and <workspace-root>/other and ~/.cache")
        let comment = IssueText.failureComment(runID: "01ABC", workspacePreserved: true, detail: detail)
        #expect(
            comment.hasPrefix(
                "claude-runner failed to complete this task.\n\n- Run ID: `01ABC`\n- Workspace preserved on the runner")
        )
        #expect(comment.hasSuffix("\n\n" + detail))
        #expect(!IssueText.failureComment(runID: "01ABC", workspacePreserved: false, detail: "x").contains("preserved"))
    }

    @Test("validation checks, in order, each naming the offending label")
    func validation() throws {
        func check(
            _ labels: [String], state: String = "open", body: String = "<!-- agent-task:v1 -->"
        ) throws(RunnerError)
            -> IssueValidation
        {
            try IssueValidation(
                GitHubIssue(
                    number: 1, title: "t", body: body, state: state, htmlURL: nil,
                    labels: labels.map(GitHubIssue.Label.init)))
        }
        let all = IssueLabels.required
        #expect(try check(all).modelLabel == nil)
        #expect(try check(all.map { $0.uppercased() } + ["Model:Fast"]).modelLabel == "model:fast")
        #expect(throws: RunnerError.rejected("issue is not open")) { try check(all, state: "closed") }
        #expect(throws: RunnerError.rejected("issue body missing agent task marker")) {
            try check(all, body: "no marker")
        }
        #expect(throws: RunnerError.rejected("issue missing required label: agent-approved")) {
            try check(all.filter { $0 != "agent-approved" })
        }
        #expect(throws: RunnerError.rejected("issue has excluded label: agent-blocked")) {
            try check(all + ["agent-blocked"])
        }
        #expect(
            throws: RunnerError.rejected("issue has multiple model recommendation labels: model:fast, model:strong")
        ) {
            try check(all + ["model:strong", "model:fast"])
        }
    }
}

@Suite("secret redaction", .timeLimit(.minutes(1)))
struct RedactorTests {
    @Test("known secrets and URL credentials are replaced")
    func redaction() {
        let redactor = Redactor(secrets: ["ghp_supersecret", "x"])
        let text = redactor.redact("token ghp_supersecret in https://user:pw@github.com/a/b.git and x")
        #expect(text == "token [REDACTED] in https://[REDACTED]@github.com/a/b.git and x")
    }
}
