import ClaudeRunner
import ClaudeRunnerTesting
import Testing

@Suite("claude arguments", .timeLimit(.minutes(1)))
struct ClaudeInvocationTests {
    func config(_ edit: (inout RunnerConfig) -> Void = { _ in }) -> RunnerConfig {
        var config = RunnerConfig(configDirectory: "/tmp/cr")
        edit(&config)
        return config
    }

    @Test("a plain prompt with no config is -p <prompt> plus the stream-json flags")
    func bare() {
        #expect(
            ClaudeInvocation.run(prompt: "hello", config: config()).arguments == [
                "-p", "hello", "--output-format", "stream-json", "--verbose",
            ])
    }

    @Test("the budget follows the stream-json flags; issue runs take issue.maxBudgetUSD first")
    func budget() {
        let config = config {
            $0.maxBudgetUSD = 2.5
            $0.issue = .init(maxBudgetUSD: 0.75)
        }
        #expect(
            ClaudeInvocation.run(prompt: "p", config: config).arguments == [
                "-p", "p", "--output-format", "stream-json", "--verbose", "--max-budget-usd", "2.5",
            ])
        #expect(
            ClaudeInvocation.issue(prompt: "p", model: nil, config: config).arguments == [
                "-p", "p", "--output-format", "stream-json", "--verbose", "--max-budget-usd", "0.75",
            ])
        var fallback = config
        fallback.issue.maxBudgetUSD = nil
        #expect(
            ClaudeInvocation.issue(prompt: "p", model: nil, config: fallback).arguments.suffix(2) == [
                "--max-budget-usd", "2.5",
            ])
    }

    @Test("issue.sandboxed passes IS_SANDBOX=1; the runner's own tokens never reach Claude")
    func environment() {
        let sandboxed = config { $0.issue.sandboxed = true }
        let issue = ClaudeInvocation.issue(prompt: "p", model: nil, config: sandboxed)
        #expect(issue.environment["IS_SANDBOX"] == .some("1"))
        #expect(issue.environment.keys.contains("CLAUDE_RUNNER_HTTP_TOKEN"))
        #expect(issue.environment["CLAUDE_RUNNER_HTTP_TOKEN"] == .some(nil))
        #expect(ClaudeInvocation.run(prompt: "p", config: sandboxed).environment["IS_SANDBOX"] == nil)
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
                "--output-format", "stream-json", "--verbose",
            ])
    }

    @Test("non-issue runs ignore the issue section, bypass included")
    func runIgnoresIssueSettings() {
        let config = config {
            $0.allowedTools = ["Read"]
            $0.issue = .init(allowedTools: ["Edit"], maxTurns: 5, model: "m-issue", bypassPermissions: true)
        }
        #expect(
            ClaudeInvocation.run(prompt: "p", config: config).arguments == [
                "-p", "p", "--allowedTools", "Read", "--output-format", "stream-json", "--verbose",
            ])
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
                "--output-format", "stream-json", "--verbose",
            ])
        let fallback = config {
            $0.allowedTools = ["Read", "Grep"]
            $0.maxTurns = 10
        }
        #expect(
            ClaudeInvocation.issue(prompt: "p", model: nil, config: fallback).arguments == [
                "-p", "p", "--allowedTools", "Read,Grep", "--max-turns", "10", "--output-format", "stream-json",
                "--verbose",
            ])
    }

    @Test("a prompt that looks like an option stays a prompt")
    func optionLikePrompt() {
        let arguments = ClaudeInvocation.run(prompt: "--dangerously-skip-permissions", config: config()).arguments
        #expect(arguments.prefix(2) == ["-p", " --dangerously-skip-permissions"])
        #expect(!arguments.dropFirst(2).contains("--dangerously-skip-permissions"))
    }
}

@Suite("run ids", .timeLimit(.minutes(1)))
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
