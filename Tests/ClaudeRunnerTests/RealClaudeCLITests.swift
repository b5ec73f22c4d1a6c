import ClaudeRunner
import ClaudeRunnerTesting
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The real Claude Code CLI against the scripted ``FakeAnthropic``: these pin down the CLI behaviour the
/// runner relies on (SPEC sections 9 and 10) and prove the fake is good enough to drive it.
///
/// Serialized: each CLI start costs a second or two of CPU, and a dozen at once would starve the
/// timing-sensitive tests running beside them.
@Suite("the real Claude Code CLI against the fake Anthropic API", .serialized)
struct RealClaudeCLITests {
    typealias Turn = FakeAnthropic.Turn

    /// `claude -p <prompt>` with stream-json output, then `extra`.
    static func print(_ prompt: String, _ extra: [String] = []) -> [String] {
        ["-p", prompt, "--output-format", "stream-json", "--verbose"] + extra
    }

    /// Runs `body` with the CLI set up in a temp folder, an empty workspace, and `fake` serving.
    func withCLI(
        _ fake: FakeAnthropic,
        _ body: @escaping @Sendable (_ claude: RealClaude, _ workspace: String, _ baseURL: String) async throws -> Void
    ) async throws {
        try await TemporaryDirectory.with("real-claude") { directory in
            let claude = try RealClaude(in: directory.appending("claude"))
            let workspace = directory.appending("workspace")
            try FileManager.default.createDirectory(atPath: workspace, withIntermediateDirectories: true)
            try await fake.serve { baseURL in try await body(claude, workspace, baseURL) }
        }
    }

    static let proofCommand = "echo made-by-claude > proof.txt && cat proof.txt"
    static let proofScript: [Turn] = [
        .tool("Bash", ["command": .string(proofCommand), "description": "Write proof.txt"], text: "Writing it."),
        .text("I wrote proof.txt."),
    ]

    @Test("an allowed Bash call runs in the workspace and its output goes back to the model", .timeLimit(.minutes(3)))
    func allowedBashRuns() async throws {
        let fake = FakeAnthropic(script: Self.proofScript)
        try await withCLI(fake) { claude, workspace, baseURL in
            let run = try await claude.run(
                Self.print("make proof.txt", ["--allowedTools", "Bash"]), in: workspace, against: baseURL)
            #expect(run.exit == .exited(0), "\(run.summary)")
            #expect(FileManager.default.text(at: workspace + "/proof.txt") == "made-by-claude\n")

            let initEvent = try #require(run.initEvent, "\(run.summary)")
            #expect(initEvent["cwd"]?.string == workspace)
            #expect(initEvent["session_id"]?.string?.isEmpty == false)
            let result = try #require(run.result, "\(run.summary)")
            #expect(result["subtype"]?.string == "success")
            #expect(result["is_error"]?.bool == false)
            #expect(result["result"]?.string == "I wrote proof.txt.")
            #expect(result["num_turns"]?.int == 2)
            #expect(result["permission_denials"]?.array == [])

            let requests = await fake.requests
            try #require(requests.count == 2)
            let toolUseID = try #require(requests[0].toolUseIDs.first)
            let toolUse = try #require(run.assistantBlocks("tool_use").first)
            #expect(toolUse["id"]?.string == toolUseID)
            #expect(toolUse["name"]?.string == "Bash")
            #expect(toolUse["input"]?["command"]?.string == Self.proofCommand)

            #expect(requests[0].apiKey == RealClaude.apiKey)
            #expect(requests[0].isStreaming)
            #expect(requests[0].model == initEvent["model"]?.string)
            #expect(requests[0].userTexts.contains("make proof.txt"))
            #expect(requests[0].toolNames.contains("Bash"))
            #expect(!requests[0].system.isEmpty)
            let toolResult = try #require(requests[1].toolResults.first)
            #expect(toolResult.toolUseID == toolUseID)
            #expect(toolResult.content.contains("made-by-claude"))
            #expect(!toolResult.isError)
            #expect(requests[1].toolUses.map(\.id) == [toolUseID])
            #expect(await fake.unhandledRequests.isEmpty)
        }
    }

    @Test(
        "a tool outside --allowedTools is denied (event and result list) while the final text claims success",
        .timeLimit(.minutes(3)))
    func deniedTool() async throws {
        let fake = FakeAnthropic(script: Self.proofScript)
        try await withCLI(fake) { claude, workspace, baseURL in
            let run = try await claude.run(
                Self.print("make proof.txt", ["--allowedTools", "Read"]), in: workspace, against: baseURL)
            #expect(run.exit == .exited(0), "\(run.summary)")
            #expect(!FileManager.default.fileExists(atPath: workspace + "/proof.txt"))

            let requests = await fake.requests
            try #require(requests.count == 2)
            let toolUseID = try #require(requests[0].toolUseIDs.first)
            let denied = try #require(run.events("system", subtype: "permission_denied").first, "\(run.summary)")
            #expect(denied["tool_name"]?.string == "Bash")
            #expect(denied["tool_use_id"]?.string == toolUseID)
            #expect(denied["message"]?.string?.isEmpty == false)

            let result = try #require(run.result, "\(run.summary)")
            #expect(result["subtype"]?.string == "success")
            #expect(result["is_error"]?.bool == false)
            #expect(result["result"]?.string == "I wrote proof.txt.")
            let denials = try #require(result["permission_denials"]?.array)
            try #require(denials.count == 1)
            #expect(denials[0]["tool_name"]?.string == "Bash")
            #expect(denials[0]["tool_use_id"]?.string == toolUseID)
            #expect(denials[0]["tool_input"]?["command"]?.string == Self.proofCommand)

            let toolResult = try #require(requests[1].toolResults.first)
            #expect(toolResult.toolUseID == toolUseID)
            #expect(toolResult.isError)
        }
    }

    @Test("--max-turns stops a model that keeps calling tools: error_max_turns, exit 1", .timeLimit(.minutes(3)))
    func maxTurns() async throws {
        let step: Turn = .tool("Bash", ["command": "echo step >> steps.txt"])
        let fake = FakeAnthropic(script: [step, step, step, .text("finished")])
        try await withCLI(fake) { claude, workspace, baseURL in
            let run = try await claude.run(
                Self.print("loop", ["--max-turns", "1", "--allowedTools", "Bash"]), in: workspace, against: baseURL)
            #expect(run.exit == .exited(1), "\(run.summary)")
            let result = try #require(run.result, "\(run.summary)")
            #expect(result["subtype"]?.string == "error_max_turns")
            #expect(result["is_error"]?.bool == true)
            let errors = result["errors"]?.array?.compactMap(\.string) ?? []
            #expect(errors.contains { $0.contains("Reached maximum number of turns (1)") }, "\(result)")
            #expect(await fake.requests.count == 1)
        }
    }

    @Test(
        "--max-budget-usd stops a run whose reported usage costs more: error_max_budget_usd, exit 1",
        .timeLimit(.minutes(3)))
    func maxBudget() async throws {
        // A million input tokens is dollars at any Claude price; the budget is a cent.
        let expensive = Turn.tool("Bash", ["command": "echo step"]).usage(input: 1_000_000, output: 1_000)
        let fake = FakeAnthropic(script: [expensive, expensive, .text("finished")])
        try await withCLI(fake) { claude, workspace, baseURL in
            let run = try await claude.run(
                Self.print("spend", ["--max-budget-usd", "0.01", "--allowedTools", "Bash"]), in: workspace,
                against: baseURL)
            #expect(run.exit == .exited(1), "\(run.summary)")
            let result = try #require(run.result, "\(run.summary)")
            #expect(result["subtype"]?.string == "error_max_budget_usd")
            #expect(result["is_error"]?.bool == true)
            #expect((result["total_cost_usd"]?.number ?? 0) > 0.01, "\(result)")
            #expect(await fake.requests.count == 1)
        }
    }

    @Test(
        "--resume continues a session: the next request carries the first conversation and the new prompt",
        .timeLimit(.minutes(3)))
    func resume() async throws {
        let fake = FakeAnthropic(script: [.text("First answer."), .text("Second answer.")])
        try await withCLI(fake) { claude, workspace, baseURL in
            let first = try await claude.run(Self.print("first prompt"), in: workspace, against: baseURL)
            #expect(first.exit == .exited(0), "\(first.summary)")
            let sessionID = try #require(first.sessionID, "\(first.summary)")

            let second = try await claude.run(
                Self.print("second prompt", ["--resume", sessionID]), in: workspace, against: baseURL)
            #expect(second.exit == .exited(0), "\(second.summary)")
            #expect(second.result?["result"]?.string == "Second answer.")
            #expect(second.result?["session_id"]?.string == sessionID)

            let requests = await fake.requests
            try #require(requests.count == 2)
            #expect(requests[0].userTexts.contains("first prompt"))
            #expect(!requests[0].userTexts.contains("second prompt"))
            #expect(requests[1].userTexts.contains("first prompt"))
            #expect(requests[1].userTexts.contains("second prompt"))
            #expect(requests[1].assistantTexts == ["First answer."])
            // The new prompt comes after the earlier conversation.
            let order = requests[1].userTexts.filter { $0.hasSuffix(" prompt") }
            #expect(order == ["first prompt", "second prompt"])
        }
    }

    @Test(
        "--resume with an unknown session fails before calling the API: error_during_execution, exit 1",
        .timeLimit(.minutes(3)))
    func resumeUnknownSession() async throws {
        let fake = FakeAnthropic()
        try await withCLI(fake) { claude, workspace, baseURL in
            let unknown = "00000000-0000-4000-8000-000000000000"
            let run = try await claude.run(
                Self.print("again", ["--resume", unknown]), in: workspace, against: baseURL)
            #expect(run.exit == .exited(1), "\(run.summary)")
            let result = try #require(run.result, "\(run.summary)")
            #expect(result["subtype"]?.string == "error_during_execution")
            #expect(result["is_error"]?.bool == true)
            let errors = result["errors"]?.array?.compactMap(\.string) ?? []
            #expect(errors.contains { $0.contains("No conversation found with session ID: \(unknown)") }, "\(result)")
            #expect(await fake.requests.isEmpty)
        }
    }

    @Test(
        "an API error ends the run with is_error true and the API status although the subtype says success",
        .timeLimit(.minutes(3)))
    func apiError() async throws {
        let fake = FakeAnthropic(script: [.error(status: 500, type: "api_error", message: "the fake broke")])
        try await withCLI(fake) { claude, workspace, baseURL in
            let run = try await claude.run(Self.print("hello"), in: workspace, against: baseURL)
            #expect(run.exit == .exited(1), "\(run.summary)")
            let result = try #require(run.result, "\(run.summary)")
            #expect(result["subtype"]?.string == "success")
            #expect(result["is_error"]?.bool == true)
            #expect(result["api_error_status"]?.int == 500)
            #expect(result["result"]?.string?.contains("the fake broke") == true, "\(result)")
            // RealClaude turns the CLI's retries off: one request per scripted turn.
            #expect(await fake.requests.count == 1)
        }
    }

    @Test(
        "a 400 invalid_request_error is retried with fewer beta features before the run fails with it",
        .timeLimit(.minutes(3)))
    func invalidRequestRetried() async throws {
        let refusal = Turn.error(status: 400, type: "invalid_request_error", message: "the fake refuses this")
        let fake = FakeAnthropic(whenExhausted: refusal)
        try await withCLI(fake) { claude, workspace, baseURL in
            let run = try await claude.run(Self.print("hello"), in: workspace, against: baseURL)
            #expect(run.exit == .exited(1), "\(run.summary)")
            let result = try #require(run.result, "\(run.summary)")
            #expect(result["subtype"]?.string == "success")
            #expect(result["is_error"]?.bool == true)
            #expect(result["api_error_status"]?.int == 400)
            #expect(result["api_error_type"]?.string == "invalid_request_error")
            #expect(result["result"]?.string?.contains("the fake refuses this") == true, "\(result)")
            let betas = await fake.requests.map { Set(($0.headers["anthropic-beta"] ?? "").split(separator: ",")) }
            try #require(betas.count > 1)
            #expect(betas[1].isStrictSubset(of: betas[0]))
        }
    }

    @Test(
        "a delayed turn holds the CLI mid-run: its init event is out while the fake has not answered",
        .timeLimit(.minutes(3)))
    func delayedTurn() async throws {
        let fake = FakeAnthropic(script: [Turn.text("Slow answer.").delayed(by: .seconds(5))])
        try await withCLI(fake) { claude, workspace, baseURL in
            let collector = OutputCollector(limit: 1 << 20)
            let started = ContinuousClock.now
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    let run = try await claude.run(
                        Self.print("take your time"), in: workspace, against: baseURL, collector: collector)
                    #expect(run.exit == .exited(0), "\(run.summary)")
                    #expect(run.result?["result"]?.string == "Slow answer.")
                }
                try await fake.waitForRequests(1)
                try await eventually("the init event") {
                    collector.standardOutput.text.contains(#""subtype":"init""#)
                }
                // The fake holds its answer for 5 s after the request arrived; this looks well before that.
                let midRun = collector.standardOutput.text
                #expect(!midRun.contains("Slow answer."))
                #expect(!midRun.contains(#""type":"result""#))
                try await group.waitForAll()
            }
            #expect(ContinuousClock.now - started >= .seconds(5))
        }
    }

    @Test(
        "a runner finds the CLI as `claude` on PATH through bin/, and the launcher needs no environment",
        .timeLimit(.minutes(3)))
    func symlinkAndLauncher() async throws {
        let fake = FakeAnthropic(script: [.text("via PATH"), .text("via launcher")])
        try await withCLI(fake) { claude, workspace, baseURL in
            // As a runner started with this environment would: look `claude` up on PATH.
            let viaPath = try await Command.output(
                "sh", ["-c", "command -v claude && exec claude -p hi --output-format stream-json --verbose"],
                in: workspace, environment: claude.environment(baseURL: baseURL))
            #expect(viaPath.exit == .exited(0), "\(viaPath.standardError)")
            #expect(viaPath.standardOutput.hasPrefix(claude.binDirectory + "/claude\n"))
            #expect(viaPath.standardOutput.contains(#""result":"via PATH""#))

            // As an in-process runner would: the launcher, with none of the fake's settings around it.
            let launcher = try claude.launcher(baseURL: baseURL)
            let viaLauncher = try await Command.output(
                launcher, Self.print("hi"), in: workspace,
                environment: ["ANTHROPIC_BASE_URL": nil, "ANTHROPIC_API_KEY": nil, "HOME": "/nonexistent"])
            #expect(viaLauncher.exit == .exited(0), "\(viaLauncher.standardError)")
            #expect(viaLauncher.standardOutput.contains(#""result":"via launcher""#))
            #expect(await fake.requests.map(\.apiKey) == [RealClaude.apiKey, RealClaude.apiKey])
        }
    }

    @Test("a missing CLI is a loud error that says how to install it", .timeLimit(.minutes(1)))
    func missingCLI() async throws {
        try await TemporaryDirectory.with("no-claude") { directory in
            let notInstalled = try #require(throws: Command.Failure.self) {
                try RealClaude.locateExecutable(environment: [:], packageRoot: directory.path)
            }
            #expect(notInstalled.description.contains("the real Claude Code CLI is required by this test"))
            #expect(notInstalled.description.contains("run scripts/install-claude-cli.sh"))
            #expect(notInstalled.description.contains(directory.path + "/.tools/claude-cli/claude"))

            let missing = directory.appending("no-such-claude")
            let badOverride = try #require(throws: Command.Failure.self) {
                try RealClaude.locateExecutable(environment: [RealClaude.executableVariable: missing])
            }
            #expect(badOverride.description.contains(missing))

            try "#!/bin/sh\n".write(toFile: missing, atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: missing)
            #expect(try RealClaude.locateExecutable(environment: [RealClaude.executableVariable: missing]) == missing)
        }
    }

    @Test(
        "as root the CLI refuses --dangerously-skip-permissions unless IS_SANDBOX=1, which lets Bash run unasked",
        .timeLimit(.minutes(3)))
    func skipPermissionsAsRoot() async throws {
        let fake = FakeAnthropic(script: Self.proofScript)
        try await withCLI(fake) { claude, workspace, baseURL in
            let arguments = Self.print("make proof.txt", ["--dangerously-skip-permissions"])
            let refused = try await claude.run(arguments, in: workspace, against: baseURL)
            if getuid() == 0 {
                #expect(refused.exit == .exited(1), "\(refused.summary)")
                #expect(refused.standardError.contains("cannot be used with root/sudo privileges"))
                #expect(await fake.requests.isEmpty)
            } else {
                #expect(refused.exit == .exited(0), "\(refused.summary)")
                try FileManager.default.removeItem(atPath: workspace + "/proof.txt")
                await fake.append(Self.proofScript)
            }
            let sandboxed = try await claude.run(
                arguments, in: workspace, against: baseURL, environment: ["IS_SANDBOX": "1"])
            #expect(sandboxed.exit == .exited(0), "\(sandboxed.summary)")
            #expect(sandboxed.result?["permission_denials"]?.array == [])
            #expect(FileManager.default.text(at: workspace + "/proof.txt") == "made-by-claude\n")
        }
    }
}
