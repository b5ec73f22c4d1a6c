import ClaudeRunner
import ClaudeRunnerTesting
import Foundation
import Testing

/// The issue's tracking comment, the cost line of the final comment, and the root rule.
@Suite("issue progress and outcome comments", .timeLimit(.minutes(5)))
struct IssueProgressTests {
    static let repo = HTTPIssueTests.repo

    @Test("the claim comment is edited in place with the progress; the final comment ends with the cost line")
    func trackingComment() async throws {
        try await HTTPIssueTests().withIssue(
            claude: ["EVENTS_FILE": ProgressTests.sessionFile, "LINE_DELAY": "0.5", "COMMIT": "1"],
            configure: { $0.config.issue.progressInterval = .seconds(1) }
        ) { server, github, fixture, git in
            let response = try await server.post(
                "/api/run-issue", json: RunIssueRequest(repo: git.remote, issueNumber: 42))
            #expect(response.status == 200)
            try await HTTPIssueTests().waitForComments(github, 2)
            let claimID = try #require(await github.commentID(repo: Self.repo, number: 42, index: 0))
            try await eventually(timeout: .seconds(20), "the final edit") {
                await github.comment(id: claimID)?.contains("- Status: completed") == true
            }
            let edits = await github.edits(of: claimID)
            // At least one edit while it ran (the session takes ~3 s, edits 1 s apart), then the final one.
            #expect(edits.count >= 2)
            #expect(
                edits.allSatisfy { $0.hasPrefix("claude-runner has claimed this issue and started working on it.") })
            #expect(edits.dropLast().contains { $0.contains("**Progress** (updated by claude-runner while it works)") })
            let final = try #require(edits.last)
            #expect(final.contains("- Tool calls: 2"))
            #expect(final.contains("- `Bash` `npm test`"))
            #expect(final.contains("Denied:\n- `Bash` `git push`"))
            #expect(!final.contains(fixture.workDir))

            let comments = await github.comments(repo: Self.repo, number: 42)
            #expect(
                comments[1]
                    == "claude-runner finished this task.\n\nAll tests pass.\n\nPull request: https://github.com/acme/widgets/pull/100"
                    + "\n\nPermission denials:\n- `Bash` `git push`"
                    + "\n\nRun ID: `\(try response.result().id)`"
                    + "\nCost: $0.0162 · Turns: 2 · Duration: 4s · Model: claude-test-1")
            // The attempt record keeps the session and its cost.
            let workspace = try IssueWorkspace(
                workDir: fixture.workDir,
                repo: RepoReference(git.remote, githubBaseURL: "https://api.github.com", allowedProtocols: ["file"]),
                number: 42)
            let attempt = try #require(workspace.readAttempt(response.result().id))
            #expect(attempt.sessionID == "sess-1")
            #expect(attempt.costUSD == 0.0162)
            #expect(attempt.numTurns == 2)
        }
    }

    @Test("issue.progressInterval 0 turns editing off")
    func trackingOff() async throws {
        try await HTTPIssueTests().withIssue(
            claude: ["EVENTS_FILE": ProgressTests.sessionFile, "COMMIT": "1"],
            configure: { $0.config.issue.progressInterval = .zero }
        ) { server, github, _, git in
            let response = try await server.post(
                "/api/run-issue", json: RunIssueRequest(repo: git.remote, issueNumber: 42))
            #expect(response.status == 200)
            try await HTTPIssueTests().waitForComments(github, 2)
            #expect(await github.commentEdits.isEmpty)
            #expect(!(await github.calls.contains { $0.method == "PATCH" }))
        }
    }

    @Test("a failed edit of the tracking comment is logged and never fails the run")
    func failedEdit() async throws {
        try await HTTPIssueTests().withIssue(
            claude: ["EVENTS_FILE": ProgressTests.sessionFile, "COMMIT": "1"],
            configure: { $0.config.issue.progressInterval = .seconds(1) }
        ) { server, github, _, git in
            await github.fail("PATCH", "/repos/acme/widgets/issues/comments/1001", status: 500, count: 100)
            let response = try await server.post(
                "/api/run-issue", json: RunIssueRequest(repo: git.remote, issueNumber: 42))
            #expect(response.status == 200)
            try await HTTPIssueTests().waitForComments(github, 2)
            #expect(
                await github.comments(repo: Self.repo, number: 42)[1].hasPrefix("claude-runner finished this task."))
        }
    }

    @Test("bypassPermissions as root: the CLI's refusal becomes a failure that says what to do")
    func rootRefusal() async throws {
        try await HTTPIssueTests().withIssue(
            claude: [
                "EXIT": "1",
                "STDERR":
                    "--dangerously-skip-permissions cannot be used with root/sudo privileges for security reasons",
                "OUTPUT": "",
            ],
            configure: { $0.config.issue.bypassPermissions = true }
        ) { server, github, fixture, git in
            let response = try await server.post(
                "/api/run-issue", json: RunIssueRequest(repo: git.remote, issueNumber: 42))
            #expect(response.status == 200)
            try await HTTPIssueTests().waitForComments(github, 2)
            let comment = await github.comments(repo: Self.repo, number: 42)[1]
            #expect(comment.hasPrefix("claude-runner failed to complete this task."))
            #expect(comment.contains("claude refused --dangerously-skip-permissions because the runner runs as root"))
            #expect(comment.contains("issue.sandboxed: true"))
            #expect(fixture.claude.arguments?.contains("--dangerously-skip-permissions") == true)
        }
    }
}
