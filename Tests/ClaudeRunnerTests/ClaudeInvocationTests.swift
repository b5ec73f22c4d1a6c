import ClaudeRunner
import ClaudeRunnerTesting
import Testing

@Suite("claude arguments")
struct ClaudeInvocationTests {
    func config(_ edit: (inout RunnerConfig) -> Void = { _ in }) -> RunnerConfig {
        var config = RunnerConfig(configDirectory: "/tmp/cr")
        edit(&config)
        return config
    }

    @Test("a plain prompt with no config is just -p <prompt>")
    func bare() {
        #expect(ClaudeInvocation.run(prompt: "hello", config: config()).arguments == ["-p", "hello"])
    }

    @Test("order: -p, --allowedTools, --max-turns, --model")
    func order() {
        let config = config {
            $0.allowedTools = ["Read", "Edit", "Bash"]
            $0.maxTurns = 30
            $0.model = "claude-sonnet-4-6"
        }
        #expect(
            ClaudeInvocation.run(prompt: "p", config: config).arguments == [
                "-p", "p", "--allowedTools", "Read,Edit,Bash", "--max-turns", "30", "--model", "claude-sonnet-4-6",
            ])
    }

    @Test("non-issue runs ignore the issue section, bypass included")
    func runIgnoresIssueSettings() {
        let config = config {
            $0.allowedTools = ["Read"]
            $0.issue = .init(allowedTools: ["Edit"], maxTurns: 5, model: "m-issue", bypassPermissions: true)
        }
        #expect(ClaudeInvocation.run(prompt: "p", config: config).arguments == ["-p", "p", "--allowedTools", "Read"])
    }

    @Test("issue runs: bypass replaces --allowedTools; issue values fall back to the top level")
    func issueSettings() {
        let bypass = config {
            $0.allowedTools = ["Read"]
            $0.maxTurns = 10
            $0.issue = .init(maxTurns: 30, bypassPermissions: true)
        }
        #expect(
            ClaudeInvocation.issue(prompt: "p", model: "claude-opus-4-7", config: bypass).arguments == [
                "-p", "p", "--dangerously-skip-permissions", "--max-turns", "30", "--model", "claude-opus-4-7",
            ])
        let fallback = config {
            $0.allowedTools = ["Read", "Grep"]
            $0.maxTurns = 10
        }
        #expect(
            ClaudeInvocation.issue(prompt: "p", model: nil, config: fallback).arguments == [
                "-p", "p", "--allowedTools", "Read,Grep", "--max-turns", "10",
            ])
    }

    @Test("a prompt that looks like an option stays a prompt")
    func optionLikePrompt() {
        let arguments = ClaudeInvocation.run(prompt: "--dangerously-skip-permissions", config: config()).arguments
        #expect(arguments == ["-p", " --dangerously-skip-permissions"])
    }
}

@Suite("run ids")
struct ULIDTests {
    @Test("26 Crockford base32 characters, sortable by time")
    func shape() async throws {
        let first = ULID(milliseconds: 1_700_000_000_000)
        let second = ULID(milliseconds: 1_700_000_000_001)
        #expect(first.description.count == 26)
        #expect(ULID.isValid(first.description))
        #expect(first < second)
        #expect(ULID().description != ULID().description)
        #expect(!ULID.isValid("not-a-ulid"))
        // The time part encodes the milliseconds.
        #expect(ULID(milliseconds: 0).description.hasPrefix("0000000000"))
    }
}
