import ClaudeRunner
import ClaudeRunnerTesting
import Foundation
import Testing

@Suite("POST /api/run", .timeLimit(.minutes(3)))
struct HTTPRunTests {
    @Test("without a repo, Claude runs in workDir with the prompt unchanged; workDir stays")
    func promptOnly() async throws {
        let fixture = try RunnerFixture(claudeBehaviour: ["OUTPUT": "the answer <ok> & done"])
        defer { fixture.directory.remove() }
        try await RunnerServer.with(fixture) { [fixture] server in
            let response = try await server.post("/api/run", #"{"prompt":"What is 6 x 7?"}"#)
            #expect(response.status == 200)
            #expect(response.header("Content-Type") == "application/json; charset=utf-8")
            let result = try response.result()
            #expect(ULID.isValid(result.id))
            #expect(result.output == "the answer <ok> & done")
            #expect(result.error == nil)
            // Go's encoding: field order id, output; HTML characters escaped; no error field.
            #expect(response.body == #"{"id":"\#(result.id)","output":"the answer \u003cok\u003e \u0026 done"}"#)
            #expect(
                fixture.claude.arguments == ["-p", "What is 6 x 7?", "--output-format", "stream-json", "--verbose"])
            #expect(fixture.claude.workingDirectory == fixture.workDir)
            #expect(fixture.claude.standardInput == "")
            #expect(FileManager.default.fileExists(atPath: fixture.workDir))
        }
    }

    @Test("config values reach claude in the documented order")
    func argumentOrder() async throws {
        var fixture = try RunnerFixture()
        defer { fixture.directory.remove() }
        fixture.config.allowedTools = ["Read", "Glob", "Bash"]
        fixture.config.maxTurns = 12
        fixture.config.model = "claude-sonnet-4-6"
        fixture.config.issue = .init(
            allowedTools: ["Edit"], maxTurns: 99, model: "issue-model", bypassPermissions: true)
        try await RunnerServer.with(fixture) { [fixture] server in
            let response = try await server.post("/api/run", #"{"prompt":"review"}"#)
            #expect(response.status == 200)
            #expect(
                fixture.claude.arguments == [
                    "-p", "review", "--allowedTools", "Read,Glob,Bash", "--max-turns", "12", "--model",
                    "claude-sonnet-4-6", "--output-format", "stream-json", "--verbose",
                ])
        }
    }

    @Test("with a repo: a fresh clone at workDir/<run-id>, removed after the run")
    func cloneWorkspace() async throws {
        let fixture = try RunnerFixture(claudeBehaviour: ["LIST_FILES": "1"])
        defer { fixture.directory.remove() }
        let git = try await GitFixture.make(in: fixture.directory.appending("remotes"))
        try await git.addBranch("feature/x", file: "feature.txt", content: "feature\n")
        try await RunnerServer.with(fixture) { [fixture] server in
            let response = try await server.post(
                "/api/run", json: RunRequest(prompt: "look", repo: git.remote, ref: "feature/x"))
            #expect(response.status == 200)
            let result = try response.result()
            #expect(fixture.claude.workingDirectory == fixture.workDir + "/" + result.id)
            #expect(fixture.claude.files?.contains("feature.txt") == true)
            #expect(fixture.claude.files?.contains("README.md") == true)
            // No base ref, event or PR number: the prompt is unchanged, even with a ref.
            #expect(fixture.claude.prompt == "look")
            #expect(fixture.workDirEntries().isEmpty)
        }
    }

    @Test("with a base ref: the PR diff is written to claude-runner.diff and the prompt gets the trailer")
    func pullRequestReview() async throws {
        let fixture = try RunnerFixture(claudeBehaviour: ["LIST_FILES": "1"])
        defer { fixture.directory.remove() }
        let git = try await GitFixture.make(in: fixture.directory.appending("remotes"))
        try await git.addBranch("feature/y", file: "change.txt", content: "a new line\n")
        try await RunnerServer.with(fixture) { [fixture] server in
            let request = RunRequest(
                prompt: "Review this.", repo: git.remote, ref: "feature/y", baseRef: "main", event: "pull_request",
                prNumber: 7)
            let response = try await server.post("/api/run", json: request)
            #expect(response.status == 200)
            let diff = try #require(fixture.claude.diff)
            #expect(diff.contains("diff --git a/change.txt b/change.txt"))
            #expect(diff.contains("+a new line"))
            #expect(
                fixture.claude.prompt == """
                    Review this.

                    Pull request context supplied by claude-runner:
                    - Event: pull_request
                    - PR number: 7
                    - Base ref: main
                    - Head ref: feature/y
                    - Diff file: claude-runner.diff

                    Use claude-runner.diff as the authoritative review scope. Review only changes shown in that diff unless the prompt explicitly asks otherwise.
                    When citing line numbers, use the Read tool on the file at HEAD to look them up; do not infer line numbers from diff hunk offsets.

                    """)
            #expect(fixture.workDirEntries().isEmpty)
        }
    }

    @Test("an event alone adds the trailer without a diff line")
    func eventTrailer() async throws {
        let fixture = try RunnerFixture()
        defer { fixture.directory.remove() }
        try await RunnerServer.with(fixture) { [fixture] server in
            _ = try await server.post("/api/run", json: RunRequest(prompt: "p", event: "push"))
            #expect(fixture.claude.prompt == "p\n\nPull request context supplied by claude-runner:\n- Event: push\n")
        }
    }

    @Test("a clone that fails is a request error carrying git's stderr and leaves nothing behind")
    func failedClone() async throws {
        let fixture = try RunnerFixture()
        defer { fixture.directory.remove() }
        try await RunnerServer.with(fixture) { [fixture] server in
            let missing = fixture.directory.appending("remotes/acme/missing.git")
            let response = try await server.post("/api/run", json: RunRequest(prompt: "p", repo: missing))
            #expect(response.status == 500)
            let message = try #require(response.errorMessage)
            #expect(message.hasPrefix("git clone failed"))
            #expect(message.contains("does not exist"))
            #expect(!fixture.claude.wasCalled)
            #expect(fixture.workDirEntries().isEmpty)
        }
    }

    @Test("a missing branch fails the clone and names it")
    func missingBranch() async throws {
        let fixture = try RunnerFixture()
        defer { fixture.directory.remove() }
        let git = try await GitFixture.make(in: fixture.directory.appending("remotes"))
        try await RunnerServer.with(fixture) { [fixture] server in
            let response = try await server.post(
                "/api/run", json: RunRequest(prompt: "p", repo: git.remote, ref: "nope"))
            #expect(response.status == 500)
            #expect(response.errorMessage?.contains("nope") == true)
            #expect(fixture.workDirEntries().isEmpty)
        }
    }

    @Test("claude exiting non-zero: 200 with error = its stderr; output still returned")
    func claudeFailure() async throws {
        let fixture = try RunnerFixture(claudeBehaviour: ["OUTPUT": "partial", "STDERR": "rate limited\n", "EXIT": "2"])
        defer { fixture.directory.remove() }
        try await RunnerServer.with(fixture) { [fixture] server in
            let response = try await server.post("/api/run", #"{"prompt":"p"}"#)
            #expect(response.status == 200)
            let result = try response.result()
            #expect(result.output == "partial")
            // stderr as claude wrote it, as the original runner returns it.
            #expect(result.error == "rate limited\n")
        }
    }

    @Test("claude exiting non-zero with empty stderr: error is the exit reason")
    func claudeFailureNoStderr() async throws {
        let fixture = try RunnerFixture(claudeBehaviour: ["OUTPUT": "", "EXIT": "3"])
        defer { fixture.directory.remove() }
        try await RunnerServer.with(fixture) { [fixture] server in
            let result = try await server.post("/api/run", #"{"prompt":"p"}"#).result()
            #expect(result.error == "exit status 3")
            #expect(result.output == "")
        }
    }

    @Test("a missing claude executable is a Result error naming it")
    func claudeMissing() async throws {
        var fixture = try RunnerFixture()
        defer { fixture.directory.remove() }
        fixture.config.claudeExecutable = fixture.directory.appending("no/such/claude")
        try await RunnerServer.with(fixture) { [fixture] server in
            let response = try await server.post("/api/run", #"{"prompt":"p"}"#)
            #expect(response.status == 200)
            #expect(try response.result().error?.contains("no/such/claude") == true)
        }
    }

    @Test("50 MB of output: kept up to the cap, with a note, and the server stays up")
    func hugeOutput() async throws {
        var fixture = try RunnerFixture(claudeBehaviour: ["OUTPUT_BYTES": "52428800"])
        defer { fixture.directory.remove() }
        fixture.config.limits.maxOutputBytes = 4 << 20
        try await RunnerServer.with(fixture) { [fixture] server in
            let response = try await server.post("/api/run", #"{"prompt":"p"}"#)
            #expect(response.status == 200)
            let result = try response.result()
            let note = "\n\n[claude-runner: output truncated: kept the first 4194304 of 52428800 bytes]"
            // Exactly the first maxOutputBytes of what claude printed, then the note: nothing more is returned.
            #expect(result.output.utf8.count == (4 << 20) + note.utf8.count)
            #expect(result.output.hasSuffix(note))
            #expect(result.output.utf8.prefix(4 << 20).allSatisfy { $0 == UInt8(ascii: "x") })
            let again = try await server.post("/api/run", #"{"prompt":"p"}"#)
            #expect(again.status == 200)
        }
    }

    @Test("the client going away stops the run: claude and its children are gone")
    func clientDisconnectCancels() async throws {
        let fixture = try RunnerFixture(claudeBehaviour: ["DELAY": "120", "IGNORE_TERM": "1", "SPAWN_CHILD": "1"])
        defer { fixture.directory.remove() }
        try await RunnerServer.with(fixture) { [fixture] server in
            let request = Task { try await server.post("/api/run", #"{"prompt":"long"}"#) }
            try await fixture.claude.waitUntilStarted()
            try await eventually("child started") { fixture.claude.childProcessID != nil }
            let pid = try #require(fixture.claude.processID)
            let child = try #require(fixture.claude.childProcessID)
            request.cancel()
            _ = try? await request.value
            try await eventually(timeout: .seconds(15), "claude's group gone") {
                !processIsAlive(pid) && !processIsAlive(child)
            }
        }
    }
}

@Suite("bad requests", .timeLimit(.minutes(2)))
struct HTTPBadRequestTests {
    @Test(
        "a body that is not the right JSON is 400 naming the problem, and runs nothing",
        arguments: [
            ("/api/run", "{not json", "request body is not valid JSON"),
            ("/api/run", "[1,2]", "request body must be a JSON object"),
            ("/api/run", "", "request body is empty"),
            ("/api/run", #"{"prompt":"p","pr_number":"seven"}"#, #"field "pr_number" must be an integer"#),
            ("/api/run", #"{"prompt":42}"#, #"field "prompt" must be a string"#),
            ("/api/run-issue", #"{"repo":"a/b","issue_number":"1"}"#, #"field "issue_number" must be an integer"#),
            ("/api/cleanup-issue", #"{"repo":["a"],"issue_number":1}"#, #"field "repo" must be a string"#),
        ])
    func malformed(path: String, body: String, message: String) async throws {
        let fixture = try RunnerFixture()
        defer { fixture.directory.remove() }
        try await RunnerServer.with(fixture) { [fixture] server in
            let response = try await server.post(path, body)
            #expect(response.status == 400)
            #expect(response.errorMessage?.contains(message) == true, "\(response.body)")
            #expect(!fixture.claude.wasCalled)
        }
    }

    @Test(
        "invalid values are errors that say which, and change nothing",
        arguments: [
            (#"{"prompt":""}"#, "invalid prompt"),
            (#"{"prompt":"  \n"}"#, "invalid prompt"),
            (#"{"prompt":"p","repo":"--upload-pack=touch /tmp/pwned"}"#, "must not start with '-'"),
            (#"{"prompt":"p","repo":"ext::sh -c touch% /tmp/pwned"}"#, "protocol ext not allowed"),
            (#"{"prompt":"p","repo":"/srv/a/b.git","ref":"--orphan"}"#, "invalid ref"),
            (#"{"prompt":"p","repo":"/srv/a/b.git","base_ref":"main@{1}"}"#, "invalid base_ref"),
            (#"{"prompt":"p","base_ref":"main"}"#, "needs a repo"),
        ])
    func invalidValues(body: String, message: String) async throws {
        let fixture = try RunnerFixture()
        defer { fixture.directory.remove() }
        try await RunnerServer.with(fixture) { [fixture] server in
            let response = try await server.post("/api/run", body)
            #expect(response.status == 400)
            #expect(response.errorMessage?.contains(message) == true, "\(response.body)")
            #expect(!fixture.claude.wasCalled)
            #expect(fixture.workDirEntries().isEmpty)
        }
    }

    @Test("a body over the limit is 413, chunked too")
    func bodyLimit() async throws {
        var fixture = try RunnerFixture()
        defer { fixture.directory.remove() }
        fixture.config.http.maxBodyBytes = 1024
        try await RunnerServer.with(fixture) { [fixture] server in
            let big = #"{"prompt":""# + String(repeating: "a", count: 4096) + #""}"#
            let response = try await server.post("/api/run", big)
            #expect(response.status == 413)
            #expect(response.errorMessage?.contains("larger than 1024 bytes") == true)
            #expect(!fixture.claude.wasCalled)
        }
    }

    @Test("unknown routes are 404")
    func unknownRoute() async throws {
        let fixture = try RunnerFixture()
        defer { fixture.directory.remove() }
        try await RunnerServer.with(fixture) { [fixture] server in
            let response = try await server.post("/api/nope", "{}")
            #expect(response.status == 404)
        }
    }
}

@Suite("run limits", .timeLimit(.minutes(2)))
struct RunLimitTests {
    @Test("the run timeout ends claude's whole group, even one ignoring SIGTERM, and says so")
    func runTimeout() async throws {
        var fixture = try RunnerFixture(claudeBehaviour: ["DELAY": "60", "IGNORE_TERM": "1", "SPAWN_CHILD": "1"])
        defer { fixture.directory.remove() }
        // Long enough for the fake to start and record its pids on a loaded machine before it is stopped.
        fixture.config.limits.runTimeout = .seconds(4)
        fixture.config.terminationGrace = .milliseconds(500)
        try await RunnerServer.with(fixture) { [fixture] server in
            let started = ContinuousClock.now
            let result = try await server.post("/api/run", #"{"prompt":"p"}"#).result()
            // The fake sleeps 60 s: well under that means the 4 s timeout stopped it.
            #expect(ContinuousClock.now - started < .seconds(30))
            #expect(result.error?.hasPrefix("timeout: claude ran longer than the run timeout of 4s") == true)
            let pid = try #require(fixture.claude.processID)
            let child = try #require(fixture.claude.childProcessID)
            try await eventually("group gone") { !processIsAlive(pid) && !processIsAlive(child) }
        }
    }

    @Test("the idle timeout ends a run that prints nothing")
    func idleTimeout() async throws {
        var fixture = try RunnerFixture(claudeBehaviour: ["DELAY": "60", "IGNORE_TERM": "1", "SPAWN_CHILD": "1"])
        defer { fixture.directory.remove() }
        // Long enough for the fake to start and record its pids on a loaded machine before it is stopped.
        fixture.config.limits.idleTimeout = .seconds(4)
        fixture.config.terminationGrace = .milliseconds(500)
        try await RunnerServer.with(fixture) { [fixture] server in
            let result = try await server.post("/api/run", #"{"prompt":"p"}"#).result()
            #expect(result.error?.hasPrefix("idle: claude printed nothing for 4s") == true)
            let pid = try #require(fixture.claude.processID)
            let child = try #require(fixture.claude.childProcessID)
            try await eventually("group gone") { !processIsAlive(pid) && !processIsAlive(child) }
        }
    }
}

@Suite("prompt size", .timeLimit(.minutes(2)))
struct PromptSizeTests {
    @Test("a prompt over the argument limit is rejected with a clear error")
    func tooLong() async throws {
        let fixture = try RunnerFixture()
        defer { fixture.directory.remove() }
        try await RunnerServer.with(fixture) { server in
            let prompt = String(repeating: "z", count: RunnerService.maxPromptBytes + 1)
            let response = try await server.post("/api/run", json: RunRequest(prompt: prompt))
            #expect(response.status == 400)
            #expect(response.errorMessage?.hasPrefix("invalid prompt: 120001 bytes is longer than the limit") == true)
            #expect(!fixture.claude.wasCalled)
        }
    }
}
