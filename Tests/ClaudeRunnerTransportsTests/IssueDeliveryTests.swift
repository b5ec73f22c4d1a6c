import ClaudeRunner
import ClaudeRunnerTesting
import Foundation
import Testing

/// Issue runs that deliver (spec section 12), end to end through the runner binary with the real Claude
/// Code CLI driven by a scripted model: `origin` is a local bare repository, the fake GitHub records the
/// pull-request calls.
@Suite("issue runs deliver a pull request or an honest failure", .serialized, .timeLimit(.minutes(5)))
struct IssueDeliveryTests {
    typealias Turn = FakeAnthropic.Turn
    static let repo = "acme/widgets"
    static let token = "ghp_delivery_token_0123456789abcdef"
    static let gitAs = "git -c user.name=Claude -c user.email=claude@example.com"

    struct Harness: Sendable {
        let github: FakeGitHub
        let fake: FakeAnthropic
        let fixture: RunnerFixture
        let git: GitFixture
        let server: RunnerFixture.ServerUnderTest
        let number: Int

        /// Triggers the issue and waits for its final comment (the `count`th comment); returns it.
        func trigger(commentCount: Int = 2) async throws -> (id: String, comment: String) {
            let answer = try await Command.output(
                "curl",
                [
                    "-sS", "-X", "POST", server.endpoint + "/api/run-issue", "-d",
                    #"{"repo":"\#(git.remote)","issue_number":\#(number)}"#,
                ])
            let result = try JSONDecoder().decode(RunResult.self, from: Data(answer.standardOutput.utf8))
            try await eventually(timeout: .seconds(120), "the final comment") {
                await github.comments(repo: IssueDeliveryTests.repo, number: number).count >= commentCount
            }
            return (result.id, await github.comments(repo: IssueDeliveryTests.repo, number: number)[commentCount - 1])
        }

        /// `git log -1 --format=<format> <ref>` in origin.
        func origin(_ format: String, _ ref: String) async throws -> String {
            try await Command.run("git", ["--git-dir", git.remote, "log", "-1", "--format=\(format)", ref])
                .trimmingCharacters(in: .whitespacesAndNewlines)
        }

        func attempt(_ id: String) throws -> IssueAttemptRecord {
            let root = fixture.workDir + "/gh-issue-acme-widgets-\(number)"
            let data = try #require(FileManager.default.contents(atPath: root + "/.claude-runner/attempts/\(id).json"))
            return try JSONDecoder().decode(IssueAttemptRecord.self, from: data)
        }

        var state: IssueTaskState? {
            let path = fixture.workDir + "/gh-issue-acme-widgets-\(number)/.claude-runner/state.json"
            return FileManager.default.contents(atPath: path).flatMap {
                try? JSONDecoder().decode(IssueTaskState.self, from: $0)
            }
        }
    }

    /// The runner binary with the real CLI against `script`, a fake GitHub holding issue `number` of
    /// acme/widgets, and its origin as a bare repository.
    func withIssue(
        number: Int, title: String = "Add a feature", script: [Turn], issueConfig: String = "",
        allowedTools: String = "[Bash, Write, Edit, Read]", environment: [String: String?] = [:],
        prepare: @escaping @Sendable (FakeGitHub, GitFixture) async throws -> Void = { _, _ in },
        _ body: @escaping @Sendable (Harness) async throws -> Void
    ) async throws {
        let github = FakeGitHub()
        await github.setIssue(
            repo: Self.repo, number: number, title: title, body: "Do it.\n\n<!-- agent-task:v1 -->",
            labels: IssueLabels.required)
        let fake = FakeAnthropic(script: script)
        let fixture = try RunnerFixture("delivery")
        defer { fixture.directory.remove() }
        let git = try await GitFixture.make(in: fixture.directory.appending("remotes"))
        try await prepare(github, git)
        let claude = try RealClaude(in: fixture.directory.appending("real"))
        try await github.serve { url in
            try await fake.serve { baseURL in
                let yaml = """
                    allowedTools: \(allowedTools)
                    github:
                      baseURL: \(url)
                      token: \(Self.token)
                    issue:
                      progressInterval: 0
                    \(issueConfig.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))

                    """
                var env = claude.environment(baseURL: baseURL)
                env["GITHUB_TOKEN"] = .some(nil)
                for (key, value) in environment { env[key] = value }
                let server = try await fixture.startServer(yaml: yaml, environment: env)
                defer { Task { await server.process.stop() } }
                try await body(
                    Harness(github: github, fake: fake, fixture: fixture, git: git, server: server, number: number))
            }
        }
    }

    @Test(
        "Claude commits through Bash on the branch it was cloned at: the runner pushes claude/issue-<n> and opens the PR"
    )
    func commitsViaBash() async throws {
        let script: [Turn] = [
            .tool(
                "Bash",
                [
                    "command": .string(
                        "echo hello > feature.txt && git add feature.txt && \(Self.gitAs) commit -qm 'Add feature'")
                ],
                text: "Implementing."),
            .text("Implemented the feature; tests pass."),
        ]
        try await withIssue(number: 21, script: script) { h in
            let (id, comment) = try await h.trigger()
            #expect(
                comment.hasPrefix(
                    "claude-runner finished this task.\n\nImplemented the feature; tests pass.\n\nPull request: https://github.com/acme/widgets/pull/100"
                ), "\(comment)")
            #expect(comment.contains("Run ID: `\(id)`"))
            #expect(comment.contains("\nCost: $"))
            #expect(try await h.origin("%s", "claude/issue-21") == "Add feature")
            #expect(try await h.origin("%an", "claude/issue-21") == "Claude")
            let pull = try #require(await h.github.pullRequests.first)
            #expect(pull.head == "acme:claude/issue-21")
            #expect(pull.base == "main")
            #expect(pull.body.hasPrefix("Closes #21\n\nImplemented the feature; tests pass.\n\nRun ID: `\(id)`"))
            let attempt = try h.attempt(id)
            #expect(attempt.status == "completed")
            #expect(attempt.branch == "claude/issue-21")
            #expect(attempt.pullRequest == pull.url)
            #expect(attempt.commit == (try await h.git.commitID("claude/issue-21")))
            #expect(attempt.sessionID?.isEmpty == false)
            #expect((attempt.costUSD ?? 0) > 0)
            #expect(attempt.numTurns == 2)
            #expect(h.state?.pullRequest == pull.url)
            // The token was only ever in a header, never in the workspace's config.
            let config = try String(
                contentsOfFile: h.fixture.workDir + "/gh-issue-acme-widgets-21/repo/.git/config", encoding: .utf8)
            #expect(!config.contains(Self.token))
        }
    }

    @Test("Claude edits files and never commits: the runner commits as issue.commitAuthor, pushes, opens the PR")
    func editsWithoutCommit() async throws {
        let script: [Turn] = [
            .tool("Write", ["file_path": "notes.md", "content": "# Notes\n"], text: "Writing notes."),
            .text("Wrote the notes."),
        ]
        try await withIssue(
            number: 22, title: "Write `notes`; rm -rf / && echo $(whoami)\nsecond line", script: script,
            issueConfig: "commitAuthor: Runner Bot <bot@example.com>\ndraftPullRequest: true"
        ) { h in
            let (_, comment) = try await h.trigger()
            #expect(comment.contains("Pull request: https://github.com/acme/widgets/pull/100"), "\(comment)")
            #expect(try await h.origin("%an <%ae>", "claude/issue-22") == "Runner Bot <bot@example.com>")
            // The title's shell characters and newline stay text, on one line.
            #expect(
                try await h.origin("%s", "claude/issue-22")
                    == "Resolve #22: Write `notes`; rm -rf / && echo $(whoami) second line")
            #expect(
                try await Command.run("git", ["--git-dir", h.git.remote, "show", "claude/issue-22:notes.md"])
                    == "# Notes\n")
            let pull = try #require(await h.github.pullRequests.first)
            #expect(pull.draft)
            #expect(pull.title == "Write `notes`; rm -rf / && echo $(whoami) second line")
        }
    }

    @Test("Claude commits on its own branch: that branch is pushed as it is and the PR opened from it")
    func ownBranch() async throws {
        let script: [Turn] = [
            .tool(
                "Bash",
                [
                    "command": .string(
                        "git checkout -qb feature/own && echo x > x.txt && git add x.txt && \(Self.gitAs) commit -qm 'Own branch'"
                    )
                ]),
            .text("Done on feature/own."),
        ]
        try await withIssue(number: 23, script: script) { h in
            let (id, comment) = try await h.trigger()
            #expect(comment.contains("Pull request: "), "\(comment)")
            #expect(try await h.origin("%s", "feature/own") == "Own branch")
            #expect((try? await h.git.commitID("claude/issue-23")) == nil)
            #expect(await h.github.pullRequests.first?.head == "acme:feature/own")
            #expect(try h.attempt(id).branch == "feature/own")
        }
    }

    @Test("an open pull request for the branch is reused, never duplicated")
    func reusesPullRequest() async throws {
        let script: [Turn] = [
            .tool(
                "Bash",
                ["command": .string("echo again > again.txt && git add again.txt && \(Self.gitAs) commit -qm again")]),
            .text("Updated."),
        ]
        try await withIssue(
            number: 24, script: script,
            prepare: { github, _ in await github.addPullRequest(repo: Self.repo, head: "acme:claude/issue-24") }
        ) { h in
            let (_, comment) = try await h.trigger()
            #expect(comment.contains("Pull request: https://github.com/acme/widgets/pull/100"), "\(comment)")
            #expect(await h.github.pullRequests.count == 1)
            #expect(await !h.github.calls.contains { $0.method == "POST" && $0.path.hasSuffix("/pulls") })
            #expect(try await h.origin("%s", "claude/issue-24") == "again")
        }
    }

    @Test("Claude does nothing: failed, no_changes, agent-failed, a comment that says so")
    func noChanges() async throws {
        try await withIssue(number: 25, script: [.text("I looked around and all is fine.")]) { h in
            let (id, comment) = try await h.trigger()
            #expect(comment.hasPrefix("claude-runner failed to complete this task."), "\(comment)")
            #expect(comment.contains("Claude finished without making any changes and without opening a pull request."))
            #expect(comment.contains("I looked around and all is fine."))
            #expect(await h.github.labels(repo: Self.repo, number: 25).contains("agent-failed"))
            #expect(try h.attempt(id).errorType == "no_changes")
            #expect(await h.github.pullRequests.isEmpty)
        }
    }

    @Test("a denied Bash call and no changes: permission_denied, naming the tool")
    func permissionDenied() async throws {
        let script: [Turn] = [
            .tool("Bash", ["command": .string("echo x > x.txt && git add x.txt && \(Self.gitAs) commit -qm x")]),
            .text("I implemented the feature and committed it."),
        ]
        try await withIssue(number: 26, script: script, allowedTools: "[Read]") { h in
            let (id, comment) = try await h.trigger()
            #expect(comment.contains("Claude Code denied its calls to `Bash`"), "\(comment)")
            #expect(comment.contains("Permission denials:\n- `Bash`"))
            #expect(try h.attempt(id).errorType == "permission_denied")
        }
    }

    @Test("stopped by max turns after editing: the work is pushed as a draft PR and the failure comment links it")
    func maxTurnsDraft() async throws {
        let script: [Turn] = [
            .tool("Write", ["file_path": "half.txt", "content": "half done\n"]),
            .tool("Bash", ["command": .string("echo more")]),
            .text("never reached"),
        ]
        try await withIssue(number: 27, script: script, issueConfig: "maxTurns: 1") { h in
            let (id, comment) = try await h.trigger()
            #expect(comment.hasPrefix("claude-runner failed to complete this task."), "\(comment)")
            #expect(comment.contains("max turns reached (1)"))
            #expect(comment.contains("opened as a draft pull request: https://github.com/acme/widgets/pull/100"))
            let pull = try #require(await h.github.pullRequests.first)
            #expect(pull.draft)
            #expect(
                try await Command.run("git", ["--git-dir", h.git.remote, "show", "claude/issue-27:half.txt"])
                    == "half done\n")
            let attempt = try h.attempt(id)
            #expect(attempt.errorType == "claude_failed")
            #expect(attempt.pullRequest == pull.url)
        }
    }

    @Test("a push rejected as non-fast-forward on Claude's own branch: push_failed, never forced, workspace kept")
    func nonFastForward() async throws {
        let script: [Turn] = [
            .tool(
                "Bash",
                [
                    "command": .string(
                        "git checkout -qb taken && echo mine > mine.txt && git add mine.txt && \(Self.gitAs) commit -qm mine"
                    )
                ]),
            .text("Done."),
        ]
        try await withIssue(
            number: 28, script: script,
            prepare: { _, git in try await git.addBranch("taken", file: "theirs.txt", content: "theirs\n") }
        ) { h in
            let before = try await h.git.commitID("taken")
            let (id, comment) = try await h.trigger()
            #expect(comment.contains("could not deliver the work"), "\(comment)")
            #expect(comment.contains("Workspace preserved on the runner"))
            #expect(!comment.contains(Self.token))
            #expect(try await h.git.commitID("taken") == before)
            #expect(try h.attempt(id).errorType == "push_failed")
            #expect(
                FileManager.default.fileExists(atPath: h.fixture.workDir + "/gh-issue-acme-widgets-28/repo/mine.txt"))
        }
    }

    @Test(
        "issue.withholdGitHubToken: Claude's environment has no GitHub token; the runner still pushes and opens the PR")
    func withheldToken() async throws {
        let script: [Turn] = [
            .tool("Bash", ["command": .string("env; echo withheld > w.txt")]),
            .text("Done."),
        ]
        try await withIssue(
            number: 29, script: script, issueConfig: "withholdGitHubToken: true",
            environment: ["GITHUB_TOKEN": Self.token, "GH_TOKEN": Self.token]
        ) { h in
            let (_, comment) = try await h.trigger()
            #expect(comment.contains("Pull request: "), "\(comment)")
            // What Claude's `env` printed went back to the model as the tool result.
            let requests = await h.fake.requests
            let results = requests.flatMap(\.toolResults).map(\.content).joined(separator: "\n")
            #expect(results.contains("HOME="), "the env output did not reach the model: \(results.prefix(300))")
            #expect(!results.contains(Self.token))
            #expect(!results.contains("GITHUB_TOKEN="))
            #expect(!results.contains("GH_TOKEN="))
            for comment in await h.github.comments(repo: Self.repo, number: 29) {
                #expect(!comment.contains(Self.token))
            }
            #expect(try await h.origin("%s", "claude/issue-29").hasPrefix("Resolve #29"))
        }
    }

    @Test("issue.resume: a re-triggered issue continues the session with the new comments, in the kept workspace")
    func resume() async throws {
        let script: [Turn] = [
            .text("Which colour should the button be?"),
            .tool(
                "Bash",
                ["command": .string("echo green > colour.txt && git add colour.txt && \(Self.gitAs) commit -qm green")]),
            .text("Made it green."),
        ]
        try await withIssue(number: 30, script: script, issueConfig: "resume: true") { h in
            let first = try await h.trigger()
            #expect(first.comment.contains("no_changes") || first.comment.contains("without making any changes"))
            let session = try #require(try h.attempt(first.id).sessionID)
            await h.github.addComment(repo: Self.repo, number: 30, body: "Make it green, please.")
            await h.github.setIssue(
                repo: Self.repo, number: 30, body: "Do it.\n\n<!-- agent-task:v1 -->", labels: IssueLabels.required)
            let second = try await h.trigger(commentCount: 5)
            #expect(second.comment.contains("Pull request: "), "\(second.comment)")
            let attempt = try h.attempt(second.id)
            let log = await h.server.process.standardError
            #expect(attempt.sessionID == session, "\(second.comment)\n\(log)")
            let requests = await h.fake.requests
            let resumed = try #require(requests.dropFirst().first)
            // The second run's first request carries the first conversation and the new comment.
            let texts = resumed.assistantTexts.joined(separator: "\n") + resumed.userTexts.joined(separator: "\n")
            #expect(texts.contains("Which colour should the button be?"))
            #expect(texts.contains("Make it green, please."))
            #expect(try await h.origin("%s", "claude/issue-30") == "green")
        }
    }

    @Test("issue.resume with a session Claude does not know: a fresh clone and session, and the comment says so")
    func resumeUnknownSession() async throws {
        let script: [Turn] = [
            .text("Nothing yet."),
            .tool("Bash", ["command": .string("echo v2 > v2.txt && git add v2.txt && \(Self.gitAs) commit -qm v2")]),
            .text("Done now."),
        ]
        try await withIssue(number: 31, script: script, issueConfig: "resume: true") { h in
            let first = try await h.trigger()
            // The session is forgotten (as after moving the runner to another machine), once the runner has
            // written its last word on the attempt (it marks it reported right after the comment).
            try await eventually(timeout: .seconds(30), "the first attempt marked reported") {
                (try? h.attempt(first.id).reported) == true
            }
            let root = h.fixture.workDir + "/gh-issue-acme-widgets-31/.claude-runner/attempts/\(first.id).json"
            var record = try h.attempt(first.id)
            record.sessionID = "00000000-1111-2222-3333-444444444444"
            try JSONEncoder().encode(record).write(to: URL(fileURLWithPath: root))
            await h.github.setIssue(
                repo: Self.repo, number: 31, body: "Do it.\n\n<!-- agent-task:v1 -->", labels: IssueLabels.required)
            let second = try await h.trigger(commentCount: 4)
            #expect(second.comment.contains(IssueText.resumeFallbackNote), "\(second.comment)")
            #expect(second.comment.contains("Pull request: "))
            #expect(try h.attempt(second.id).sessionID != record.sessionID)
        }
    }

    @Test("a detached HEAD with new commits: the work goes to claude/issue-<n>")
    func detachedHead() async throws {
        let script: [Turn] = [
            .tool(
                "Bash",
                [
                    "command": .string(
                        "git checkout -q --detach && echo d > d.txt && git add d.txt && \(Self.gitAs) commit -qm detached"
                    )
                ]),
            .text("Committed on a detached HEAD."),
        ]
        try await withIssue(number: 32, script: script) { h in
            let (_, comment) = try await h.trigger()
            #expect(comment.contains("Pull request: "), "\(comment)")
            #expect(try await h.origin("%s", "claude/issue-32") == "detached")
        }
    }
}
