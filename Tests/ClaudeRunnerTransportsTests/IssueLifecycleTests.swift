import ClaudeRunner
import ClaudeRunnerTesting
import Foundation
import Testing

/// The order of an attempt's last steps, its lock's heartbeat, and what a stopped attempt records.
@Suite("issue attempt lifecycle", .timeLimit(.minutes(3)))
struct IssueLifecycleTests {
    static let repo = HTTPIssueTests.repo

    func workspace(_ fixture: RunnerFixture, _ git: GitFixture, number: Int = 42) throws -> IssueWorkspace {
        IssueWorkspace(
            workDir: fixture.workDir,
            repo: try RepoReference(git.remote, githubBaseURL: "https://api.github.com", allowedProtocols: ["file"]),
            number: number)
    }

    @Test("ordering: when the final comment is posted the records are final; the lock goes right after it")
    func ordering() async throws {
        try await HTTPIssueTests().withIssue(
            claude: ["DELAY": "60"], configure: { $0.config.limits.runTimeout = .seconds(2) }
        ) { server, github, fixture, git in
            let response = try await server.post(
                "/api/run-issue", json: RunIssueRequest(repo: git.remote, issueNumber: 42))
            #expect(response.status == 200)
            let workspace = try workspace(fixture, git)
            // Watch closely: the first moment the final comment exists.
            try await eventually(timeout: .seconds(60), "the final comment") {
                await github.comments(repo: Self.repo, number: 42).count >= 2
            }
            let state = try #require(workspace.readState())
            #expect(state.lastStatus == "failed")
            #expect(state.lastErrorType == "claude_failed")
            #expect(workspace.readAttempt(try response.result().id)?.endedAt != nil)
            let seen = ContinuousClock.now
            try await eventually(timeout: .seconds(30), "the lock released") {
                !FileManager.default.fileExists(atPath: workspace.lockFile)
            }
            // Within a second on an idle machine; a generous bound here, far below the old behaviour
            // (the lock stayed through every GitHub retry and the run slot's release).
            #expect(ContinuousClock.now - seen < .seconds(5))
            #expect(await github.comments(repo: Self.repo, number: 42)[1].contains("timeout: claude ran longer"))
        }
    }

    @Test("the lock's heartbeat keeps a run longer than the lock lifetime from being taken over")
    func heartbeat() async throws {
        try await HTTPIssueTests().withIssue(
            claude: ["DELAY": "8"],
            configure: {
                $0.config.issue.lockLifetime = .seconds(3)
                $0.config.issue.lockHeartbeat = .milliseconds(500)
            }
        ) { server, github, fixture, git in
            let response = try await server.post(
                "/api/run-issue", json: RunIssueRequest(repo: git.remote, issueNumber: 42))
            #expect(response.status == 200)
            try await fixture.claude.waitUntilStarted()
            var workspace = try workspace(fixture, git)
            workspace.lockLifetime = 3
            try await Task.sleep(for: .seconds(5))
            // Started more than the lifetime ago, and still not stale.
            let lock = try #require(workspace.readLock())
            let started = try #require(Timestamp.date(from: lock.startedAt))
            #expect(Date().timeIntervalSince(started) > 3)
            let beat = try #require(lock.heartbeatAt.flatMap(Timestamp.date(from:)))
            #expect(Date().timeIntervalSince(beat) < 3)
            #expect(workspace.freshLock() != nil)
            #expect(throws: IssueWorkspace.LockBusy.self) {
                try workspace.acquireLock(attemptID: "01ZZZZZZZZZZZZZZZZZZZZZZZZ")
            }
            try await HTTPIssueTests().waitForComments(github, 2)
        }
    }

    @Test("a cancelled issue run records HEAD of repo/, reports the cancel, adds agent-failed, releases the lock")
    func cancelledRecordsCommit() async throws {
        try await HTTPIssueTests().withIssue(claude: ["COMMIT": "1", "HANG_AFTER": "60", "OUTPUT": "working"]) {
            server, github, fixture, git in
            let response = try await server.post(
                "/api/run-issue", json: RunIssueRequest(repo: git.remote, issueNumber: 42))
            let id = try response.result().id
            let workspace = try workspace(fixture, git)
            try await eventually(timeout: .seconds(30), "Claude's commit") {
                (try? await Command.run("git", ["-C", workspace.repoDirectory, "log", "-1", "--format=%s"]))?
                    .contains("fake claude work") == true
            }
            let head = try await Command.run("git", ["-C", workspace.repoDirectory, "rev-parse", "HEAD"])
                .trimmingCharacters(in: .whitespacesAndNewlines)
            let run = try #require(server.service.activeRuns[id])
            #expect(run.cancel())
            try await HTTPIssueTests().waitForComments(github, 2)
            let comment = await github.comments(repo: Self.repo, number: 42)[1]
            #expect(comment.contains(IssueText.cancelledDetail), "\(comment)")
            #expect(await github.labels(repo: Self.repo, number: 42).contains("agent-failed"))
            let attempt = try #require(workspace.readAttempt(id))
            #expect(attempt.errorType == "cancelled")
            #expect(attempt.commit == head)
            try await eventually(timeout: .seconds(30), "the lock released") {
                !FileManager.default.fileExists(atPath: workspace.lockFile)
            }
            #expect(!run.cancel(), "a finished run cannot be cancelled again")
        }
    }
}
