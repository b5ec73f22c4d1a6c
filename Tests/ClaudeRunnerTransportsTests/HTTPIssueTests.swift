import ClaudeRunner
import ClaudeRunnerTesting
import Foundation
import Testing

/// The issue agent-task protocol end to end: HTTP in, fake GitHub, real git, fake claude.
@Suite("POST /api/run-issue and /api/cleanup-issue", .timeLimit(.minutes(3)))
struct HTTPIssueTests {
    static let repo = "acme/widgets"
    static let body = "Please add a --verbose flag.\n\n<!-- agent-task:v1 -->\n"
    static let labels = IssueLabels.required

    /// A runner with a fake GitHub holding issue #`number`, and a bare repo `acme/widgets`.
    func withIssue(
        number: Int = 42, labels: [String] = HTTPIssueTests.labels, body: String? = HTTPIssueTests.body,
        state: String = "open",
        claude: [String: String] = ["COMMIT": "1", "OUTPUT": "Opened PR #9. Tests: swift test passed."],
        configure: @escaping @Sendable (inout RunnerFixture) -> Void = { _ in },
        _ test: @escaping @Sendable (RunnerServer, FakeGitHub, RunnerFixture, GitFixture) async throws -> Void
    ) async throws {
        let github = FakeGitHub()
        await github.setIssue(repo: Self.repo, number: number, body: body, labels: labels, state: state)
        try await github.serve { url in
            var fixture = try RunnerFixture("issue", claudeBehaviour: claude, githubURL: url)
            defer { fixture.directory.remove() }
            configure(&fixture)
            let git = try await GitFixture.make(in: fixture.directory.appending("remotes"))
            try await RunnerServer.with(fixture) { [fixture] server in
                try await test(server, github, fixture, git)
            }
        }
    }

    func request(_ git: GitFixture, number: Int = 42, ref: String? = nil) -> RunIssueRequest {
        RunIssueRequest(repo: git.remote, ref: ref, issueNumber: number)
    }

    func waitForComments(_ github: FakeGitHub, _ count: Int, number: Int = 42) async throws {
        try await eventually(timeout: .seconds(30), "\(count) comments") {
            await github.comments(repo: Self.repo, number: number).count >= count
        }
    }

    @Test("a valid issue is claimed before the answer, then implemented in the background and reported")
    func happyPath() async throws {
        try await withIssue(configure: { fixture in
            fixture.config.issue.modelLabels = ["model:strong": "claude-opus-4-7"]
        }) { server, github, fixture, git in
            await github.setIssue(repo: Self.repo, number: 42, body: Self.body, labels: Self.labels + ["model:strong"])
            let response = try await server.post("/api/run-issue", json: request(git))
            #expect(response.status == 200)
            let result = try response.result()
            #expect(ULID.isValid(result.id))
            #expect(result.output == "Issue acme/widgets#42 accepted; claude-runner is processing in the background.")

            // The claim happened before the answer: label moved, claim comment posted.
            let claimWrites = await github.writes.prefix(3).map(\.description)
            #expect(
                claimWrites == [
                    "DELETE /repos/acme/widgets/issues/42/labels/agent-ready",
                    "POST /repos/acme/widgets/issues/42/labels",
                    "POST /repos/acme/widgets/issues/42/comments",
                ])
            let firstComment = await github.comments(repo: Self.repo, number: 42).first
            #expect(
                firstComment
                    == "claude-runner has claimed this issue and started working on it.\n\nModel selection:\n- Label: `model:strong`\n- Model: `claude-opus-4-7`"
            )
            #expect(await github.calls.first?.authorization == "Bearer ghp_testtoken_1234567890")

            try await waitForComments(github, 2)
            let comments = await github.comments(repo: Self.repo, number: 42)
            // Claude committed but opened no pull request: the runner pushed its branch and opened one.
            #expect(
                comments[1]
                    == "claude-runner finished this task.\n\nOpened PR #9. Tests: swift test passed."
                    + "\n\nPull request: https://github.com/acme/widgets/pull/100")
            let pull = try #require(await github.pullRequests.first)
            #expect(pull.head == "acme:claude/issue-42")
            #expect(pull.base == "main")
            #expect(pull.title == "Add a feature")
            #expect(pull.body.hasPrefix("Closes #42\n\nOpened PR #9."))
            #expect(!pull.draft)
            let pushed = try await Command.run(
                "git", ["--git-dir", git.remote, "rev-parse", "refs/heads/claude/issue-42"])
            #expect(pushed.trimmingCharacters(in: .whitespacesAndNewlines).count == 40)
            let labels = await github.labels(repo: Self.repo, number: 42)
            #expect(labels.contains("claimed-by-claude"))
            #expect(!labels.contains("agent-ready"))
            #expect(!labels.contains("agent-failed"))

            // Claude ran in the task root's clone with the issue prompt and the label's model.
            let taskRoot = fixture.workDir + "/gh-issue-acme-widgets-42"
            #expect(fixture.claude.workingDirectory == taskRoot + "/repo")
            let arguments = try #require(fixture.claude.arguments)
            #expect(
                arguments.suffix(5) == ["--model", "claude-opus-4-7", "--output-format", "stream-json", "--verbose"])
            let prompt = try #require(fixture.claude.prompt)
            #expect(prompt.hasPrefix("You are claude-runner working on GitHub issue #42 in acme/widgets."))
            #expect(prompt.contains(Self.body))

            // Records: state, attempt, no lock; the task root is preserved with the commit Claude made.
            try await eventually("lock released") {
                !FileManager.default.fileExists(atPath: taskRoot + "/.claude-runner/lock.json")
            }
            let workspace = IssueWorkspace(
                workDir: fixture.workDir,
                repo: try RepoReference(
                    git.remote, githubBaseURL: "https://api.github.com", allowedProtocols: ["file"]),
                number: 42)
            let state = try #require(workspace.readState())
            #expect(state.taskID == "gh-issue-acme-widgets-42")
            #expect(state.repo == "acme/widgets")
            #expect(state.issueNumber == 42)
            #expect(state.lastAttemptID == result.id)
            #expect(state.lastStatus == "completed")
            #expect(state.lastErrorType == nil)
            let attempt = try #require(workspace.readAttempt(result.id))
            #expect(attempt.status == "completed")
            #expect(attempt.model == "claude-opus-4-7")
            #expect(attempt.modelLabel == "model:strong")
            #expect(attempt.endedAt != nil)
            #expect(Timestamp.date(from: attempt.startedAt) != nil)
            let head = try await Command.run("git", ["rev-parse", "HEAD"], in: taskRoot + "/repo")
                .trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(attempt.commit == head)
            #expect(state.lastCommit == head)
            #expect(try await git.commitID("main") != head)
            #expect(FileManager.default.fileExists(atPath: taskRoot + "/repo/agent-work.txt"))
        }
    }

    @Test(
        "each validation failure names the problem and makes no GitHub write",
        arguments: [
            (HTTPIssueTests.labels, "open", "no marker here", "issue body missing agent task marker"),
            (HTTPIssueTests.labels, "closed", HTTPIssueTests.body, "issue is not open"),
            (
                ["type:agent-task", "agent:claude-code", "agent-approved"], "open", HTTPIssueTests.body,
                "issue missing required label: agent-ready"
            ),
            (
                ["type:agent-task", "agent:claude-code", "agent-ready"], "open", HTTPIssueTests.body,
                "issue missing required label: agent-approved"
            ),
            (
                HTTPIssueTests.labels + ["claimed-by-claude"], "open", HTTPIssueTests.body,
                "issue has excluded label: claimed-by-claude"
            ),
            (
                HTTPIssueTests.labels + ["Agent-Blocked"], "open", HTTPIssueTests.body,
                "issue has excluded label: agent-blocked"
            ),
            (
                HTTPIssueTests.labels + ["security-sensitive"], "open", HTTPIssueTests.body,
                "issue has excluded label: security-sensitive"
            ),
            (
                HTTPIssueTests.labels + ["model:fast", "model:balanced"], "open", HTTPIssueTests.body,
                "issue has multiple model recommendation labels: model:fast, model:balanced"
            ),
        ])
    func validationFailure(labels: [String], state: String, body: String, message: String) async throws {
        try await withIssue(labels: labels, body: body, state: state) { server, github, fixture, git in
            let response = try await server.post("/api/run-issue", json: request(git))
            #expect(response.status == 422)
            #expect(response.errorMessage == message)
            #expect(await github.writes.isEmpty)
            #expect(!fixture.claude.wasCalled)
            #expect(fixture.workDirEntries().isEmpty)
        }
    }

    @Test(
        "bad repo, number or token: an error that says which, nothing called",
        arguments: [
            (#"{"repo":"acme","issue_number":1}"#, "invalid repo"),
            (#"{"repo":"../../etc","issue_number":1}"#, "invalid repo"),
            (#"{"repo":"","issue_number":1}"#, "invalid repo"),
            (#"{"repo":"acme/widgets","issue_number":0}"#, "invalid issue number"),
            (#"{"repo":"acme/widgets","issue_number":-4}"#, "invalid issue number"),
            (#"{"repo":"acme/widgets"}"#, "invalid issue number"),
            (#"{"repo":"acme/widgets","issue_number":1,"ref":"-x"}"#, "invalid ref"),
        ])
    func badInput(body: String, message: String) async throws {
        try await withIssue { server, github, fixture, _ in
            let response = try await server.post("/api/run-issue", body)
            #expect(response.status == 400)
            #expect(response.errorMessage?.hasPrefix(message) == true, "\(response.body)")
            #expect(await github.calls.isEmpty)
        }
    }

    @Test("no GitHub token: an error that says so")
    func missingToken() async throws {
        let fixture = try RunnerFixture()
        defer { fixture.directory.remove() }
        try await RunnerServer.with(fixture) { server in
            let response = try await server.post("/api/run-issue", #"{"repo":"acme/widgets","issue_number":1}"#)
            #expect(response.status == 400)
            #expect(response.errorMessage?.hasPrefix("github client not configured") == true)
        }
    }

    @Test("an issue GitHub does not know is rejected with GitHub's answer")
    func unknownIssue() async throws {
        try await withIssue { server, github, _, git in
            let response = try await server.post("/api/run-issue", json: request(git, number: 7))
            #expect(response.status == 422)
            #expect(
                response.errorMessage?.hasPrefix("fetch issue: GitHub GET /repos/acme/widgets/issues/7: 404") == true)
            #expect(await github.writes.isEmpty)
        }
    }

    @Test("claude failing: agent-failed, a failure comment with the run id, preserved workspace, no host paths")
    func claudeFails() async throws {
        try await withIssue(claude: ["EXIT": "1", "STDERR": "boom in {cwd}"]) { server, github, fixture, git in
            let result = try await server.post("/api/run-issue", json: request(git)).result()
            try await waitForComments(github, 2)
            let comment = await github.comments(repo: Self.repo, number: 42)[1]
            #expect(comment.hasPrefix("claude-runner failed to complete this task.\n\n- Run ID: `\(result.id)`\n"))
            #expect(comment.contains("- Workspace preserved on the runner"))
            #expect(comment.hasSuffix("boom in <workspace>/repo"))
            #expect(!comment.contains(fixture.workDir))
            #expect(await github.labels(repo: Self.repo, number: 42).contains("agent-failed"))
            let taskRoot = fixture.workDir + "/gh-issue-acme-widgets-42"
            try await eventually("lock released") {
                !FileManager.default.fileExists(atPath: taskRoot + "/.claude-runner/lock.json")
            }
            #expect(FileManager.default.fileExists(atPath: taskRoot + "/repo/README.md"))
            let attempt = try JSONDecoder().decode(
                IssueAttemptRecord.self,
                from: try #require(
                    FileManager.default.contents(atPath: "\(taskRoot)/.claude-runner/attempts/\(result.id).json")))
            #expect(attempt.status == "failed")
            #expect(attempt.errorType == "claude_failed")
        }
    }

    @Test("a failed clone: repo/ removed, records kept, failure reported without the preserved line")
    func cloneFails() async throws {
        try await withIssue { server, github, fixture, git in
            let result = try await server.post("/api/run-issue", json: request(git, ref: "no-such-branch")).result()
            try await waitForComments(github, 2)
            let comment = await github.comments(repo: Self.repo, number: 42)[1]
            #expect(comment.contains("Run ID: `\(result.id)`"))
            #expect(!comment.contains("Workspace preserved"))
            #expect(comment.contains("git clone failed"))
            #expect(!comment.contains(fixture.directory.path))
            let taskRoot = fixture.workDir + "/gh-issue-acme-widgets-42"
            try await eventually("state written") {
                FileManager.default.text(at: taskRoot + "/.claude-runner/state.json")?.contains("clone_failed") == true
            }
            #expect(!FileManager.default.fileExists(atPath: taskRoot + "/repo"))
            #expect(FileManager.default.fileExists(atPath: "\(taskRoot)/.claude-runner/attempts/\(result.id).json"))
            #expect(!fixture.claude.wasCalled)
        }
    }

    @Test("a fresh lock makes the attempt fail as locked and is left untouched")
    func lockBusy() async throws {
        try await withIssue { server, github, fixture, git in
            let stateDirectory = fixture.workDir + "/gh-issue-acme-widgets-42/.claude-runner"
            try FileManager.default.createDirectory(atPath: stateDirectory, withIntermediateDirectories: true)
            let lock =
                #"{"attempt_id":"01OTHERATTEMPT00000000000","pid":999999,"started_at":"\#(Timestamp.string(from: Date()))"}"#
            try lock.write(toFile: stateDirectory + "/lock.json", atomically: true, encoding: .utf8)
            let result = try await server.post("/api/run-issue", json: request(git)).result()
            try await waitForComments(github, 2)
            let comment = await github.comments(repo: Self.repo, number: 42)[1]
            #expect(
                comment.contains(
                    "issue workspace already locked: held by attempt 01OTHERATTEMPT00000000000 (pid 999999"))
            #expect(await github.labels(repo: Self.repo, number: 42).contains("agent-failed"))
            #expect(FileManager.default.text(at: stateDirectory + "/lock.json") == lock)
            #expect(!fixture.claude.wasCalled)
            let attempt = try #require(FileManager.default.text(at: "\(stateDirectory)/attempts/\(result.id).json"))
            #expect(attempt.contains(#""error_type" : "locked""#) || attempt.contains(#""error_type":"locked""#))
        }
    }

    @Test("a lock older than an hour is taken over and the run completes")
    func staleLock() async throws {
        try await withIssue { server, github, fixture, git in
            let stateDirectory = fixture.workDir + "/gh-issue-acme-widgets-42/.claude-runner"
            try FileManager.default.createDirectory(atPath: stateDirectory, withIntermediateDirectories: true)
            let old = Timestamp.string(from: Date().addingTimeInterval(-7200))
            try #"{"attempt_id":"01OLD","pid":1,"started_at":"\#(old)"}"#.write(
                toFile: stateDirectory + "/lock.json", atomically: true, encoding: .utf8)
            _ = try await server.post("/api/run-issue", json: request(git))
            try await waitForComments(github, 2)
            #expect(
                await github.comments(repo: Self.repo, number: 42)[1].hasPrefix("claude-runner finished this task."))
            try await eventually("lock released") {
                !FileManager.default.fileExists(atPath: stateDirectory + "/lock.json")
            }
        }
    }

    @Test("a second attempt keeps the first attempt's record and replaces the stale clone")
    func secondAttempt() async throws {
        try await withIssue { server, github, fixture, git in
            let first = try await server.post("/api/run-issue", json: request(git)).result()
            try await waitForComments(github, 2)
            let taskRoot = fixture.workDir + "/gh-issue-acme-widgets-42"
            try await eventually("lock released") {
                !FileManager.default.fileExists(atPath: taskRoot + "/.claude-runner/lock.json")
            }
            await github.setIssue(repo: Self.repo, number: 42, body: Self.body, labels: Self.labels)
            let second = try await server.post("/api/run-issue", json: request(git)).result()
            try await waitForComments(github, 4)
            try await eventually("second state") {
                FileManager.default.text(at: taskRoot + "/.claude-runner/state.json")?.contains(second.id) == true
            }
            // A record being rewritten at this moment has a hidden temporary file beside it: not a record.
            let attempts = try FileManager.default.contentsOfDirectory(atPath: taskRoot + "/.claude-runner/attempts")
                .filter { !$0.hasPrefix(".") }
            #expect(Set(attempts) == ["\(first.id).json", "\(second.id).json"])
        }
    }

    @Test("cleanup: nothing there, locked, removed")
    func cleanup() async throws {
        try await withIssue { server, github, fixture, git in
            let cleanup = CleanupIssueRequest(repo: git.remote, issueNumber: 42)
            let nothing = try await server.post("/api/cleanup-issue", json: cleanup)
            #expect(nothing.status == 200)
            #expect(
                try nothing.result().output
                    == "Issue workspace gh-issue-acme-widgets-42 not found; nothing to clean up.")
            #expect(try nothing.result().id == "")

            let stateDirectory = fixture.workDir + "/gh-issue-acme-widgets-42/.claude-runner"
            try FileManager.default.createDirectory(atPath: stateDirectory, withIntermediateDirectories: true)
            let lock = #"{"attempt_id":"01HOLDER","pid":1,"started_at":"\#(Timestamp.string(from: Date()))"}"#
            try lock.write(toFile: stateDirectory + "/lock.json", atomically: true, encoding: .utf8)
            let locked = try await server.post("/api/cleanup-issue", json: cleanup).result()
            #expect(
                locked.output
                    == "Issue workspace gh-issue-acme-widgets-42 is locked by attempt 01HOLDER; cleanup skipped.")
            #expect(FileManager.default.fileExists(atPath: stateDirectory + "/lock.json"))

            try FileManager.default.removeItem(atPath: stateDirectory + "/lock.json")
            let removed = try await server.post("/api/cleanup-issue", json: cleanup).result()
            #expect(removed.output == "Issue workspace gh-issue-acme-widgets-42 cleaned up.")
            #expect(fixture.workDirEntries().isEmpty)
            #expect(await github.calls.isEmpty)

            let bad = try await server.post("/api/cleanup-issue", #"{"repo":"acme/widgets","issue_number":0}"#)
            #expect(bad.status == 400)
            #expect(bad.errorMessage?.hasPrefix("invalid issue number") == true, "\(bad.body)")
        }
    }

    @Test("the GitHub token never reaches a comment or a Result")
    func tokenNeverLeaks() async throws {
        try await withIssue(claude: ["EXIT": "1", "STDERR": "failed with token ghp_testtoken_1234567890"]) {
            server, github, fixture, git in
            let response = try await server.post("/api/run-issue", json: request(git))
            #expect(!response.body.contains("ghp_testtoken_1234567890"))
            try await waitForComments(github, 2)
            for comment in await github.comments(repo: Self.repo, number: 42) {
                #expect(!comment.contains("ghp_testtoken_1234567890"))
            }
            #expect(await github.comments(repo: Self.repo, number: 42)[1].contains("failed with token [REDACTED]"))
            let stateDirectory = fixture.workDir + "/gh-issue-acme-widgets-42/.claude-runner"
            try await eventually("records written") {
                FileManager.default.text(at: stateDirectory + "/state.json")?.contains("failed") == true
            }
            let result = try response.result()
            let attempt = FileManager.default.text(at: "\(stateDirectory)/attempts/\(result.id).json") ?? ""
            #expect(attempt.contains("[REDACTED]"))
            #expect(!attempt.contains("ghp_testtoken_1234567890"))
        }
    }
}

@Suite("owner/repo slugs", .timeLimit(.minutes(3)))
struct SlugCloneTests {
    @Test("a slug is cloned from the GitHub web host of github.baseURL, with the token in a header, never in argv")
    func slugClone() async throws {
        let directory = try TemporaryDirectory("slug")
        defer { directory.remove() }
        let git = try await GitFixture.make(in: directory.appending("git-root"))
        try await Command.run("git", ["--git-dir", git.remote, "update-server-info"])
        let github = FakeGitHub(gitRoot: directory.appending("git-root"))
        await github.setIssue(repo: "acme/widgets", number: 3, body: IssueLabels.marker, labels: IssueLabels.required)
        try await github.serve { url in
            var fixture = try RunnerFixture("slug", claudeBehaviour: ["LIST_FILES": "1"], githubURL: url)
            defer { fixture.directory.remove() }
            // http is what the loopback fake speaks; the slug's host comes from config, not the request.
            fixture.config.git.allowedProtocols = ["https"]
            // This fake changes nothing: requireChanges false keeps the original's "finished".
            fixture.config.issue.requireChanges = false
            try await RunnerServer.with(fixture) { [fixture] server in
                let run = try await server.post("/api/run", json: RunRequest(prompt: "p", repo: "acme/widgets"))
                #expect(run.status == 200, "\(run.body)")
                #expect(fixture.claude.files?.contains("README.md") == true)
                let requests = await github.gitRequests
                #expect(requests.first?.path == "/acme/widgets.git/info/refs")
                let expected = "Basic " + Data("x-access-token:ghp_testtoken_1234567890".utf8).base64EncodedString()
                #expect(requests.allSatisfy { $0.authorization?.lowercased() == expected.lowercased() })

                let issue = try await server.post("/api/run-issue", #"{"repo":"acme/widgets","issue_number":3}"#)
                #expect(issue.status == 200, "\(issue.body)")
                try await eventually("finished") { await github.comments(repo: "acme/widgets", number: 3).count == 2 }
                #expect(await github.comments(repo: "acme/widgets", number: 3)[1].hasPrefix("claude-runner finished"))
                #expect(fixture.claude.workingDirectory == fixture.workDir + "/gh-issue-acme-widgets-3/repo")
            }
        }
    }
}
