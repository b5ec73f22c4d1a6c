import Foundation

/// The arguments of one `claude` run, in the order the original runner passes them:
/// `-p <prompt>`, then `--dangerously-skip-permissions` or `--allowedTools A,B,C`, then `--max-turns N`,
/// then `--model M`; then what the runner adds (spec section 10): `--output-format stream-json --verbose`,
/// `--max-budget-usd X` when a budget is configured, and `--resume <session>` when resuming.
public struct ClaudeInvocation: Sendable, Equatable {
    public var prompt: String
    public var bypassPermissions: Bool
    public var allowedTools: [String]
    public var maxTurns: Int
    public var model: String?
    public var maxBudgetUSD: Double?
    /// A session to continue (`--resume`).
    public var resumeSessionID: String?
    /// Declares the host a disposable sandbox (`IS_SANDBOX=1`), which lets the CLI skip permissions as root.
    public var sandboxed: Bool
    /// Variables removed from Claude's environment on top of the runner's own secrets.
    public var withheldEnvironment: [String]
    /// A git config file to use instead of the user's global one (no credential helpers, no stored
    /// credentials); set when the GitHub token is withheld from Claude.
    public var isolatedGitConfig: String?

    public init(
        prompt: String, bypassPermissions: Bool = false, allowedTools: [String] = [], maxTurns: Int = 0,
        model: String? = nil, maxBudgetUSD: Double? = nil, resumeSessionID: String? = nil, sandboxed: Bool = false,
        withheldEnvironment: [String] = []
    ) {
        self.prompt = prompt
        self.bypassPermissions = bypassPermissions
        self.allowedTools = allowedTools
        self.maxTurns = maxTurns
        self.model = model
        self.maxBudgetUSD = maxBudgetUSD
        self.resumeSessionID = resumeSessionID
        self.sandboxed = sandboxed
        self.withheldEnvironment = withheldEnvironment
    }

    /// A plain or review run: top-level config values only.
    public static func run(prompt: String, config: RunnerConfig) -> ClaudeInvocation {
        ClaudeInvocation(
            prompt: prompt, allowedTools: config.allowedTools, maxTurns: config.maxTurns, model: config.model,
            maxBudgetUSD: config.maxBudgetUSD)
    }

    /// An issue run: `issue.*` values, falling back to the top level; `model` is already resolved
    /// (label → `issue.model` → `model`).
    public static func issue(prompt: String, model: String?, config: RunnerConfig) -> ClaudeInvocation {
        ClaudeInvocation(
            prompt: prompt,
            bypassPermissions: config.issue.bypassPermissions,
            allowedTools: config.issue.allowedTools ?? config.allowedTools,
            maxTurns: config.issue.maxTurns ?? config.maxTurns,
            model: model,
            maxBudgetUSD: config.issue.maxBudgetUSD ?? config.maxBudgetUSD,
            sandboxed: config.issue.sandboxed
        )
    }

    public var arguments: [String] {
        // A prompt that starts with '-' would be read by the CLI as an option (`--dangerously-skip-permissions`
        // in a prompt must never become a flag); a leading space keeps it a positional argument.
        var arguments = ["-p", prompt.hasPrefix("-") ? " " + prompt : prompt]
        if bypassPermissions {
            arguments.append("--dangerously-skip-permissions")
        } else if !allowedTools.isEmpty {
            arguments += ["--allowedTools", allowedTools.joined(separator: ",")]
        }
        if maxTurns > 0 { arguments += ["--max-turns", String(maxTurns)] }
        if let model, !model.isEmpty { arguments += ["--model", model] }
        arguments += ["--output-format", "stream-json", "--verbose"]
        if let maxBudgetUSD { arguments += ["--max-budget-usd", WireJSON.number(maxBudgetUSD)] }
        if let resumeSessionID { arguments += ["--resume", resumeSessionID] }
        return arguments
    }

    /// Variables the runner's own secrets live in, never passed to Claude.
    public static let runnerSecretVariables = ["CLAUDE_RUNNER_HTTP_TOKEN", "CLAUDE_RUNNER_TOKEN"]

    /// Variables a GitHub token lives in, for git, `gh` and the API (withheld with `issue.withholdGitHubToken`).
    public static let gitHubTokenVariables = [
        "GITHUB_TOKEN", "GH_TOKEN", "GITHUB_PAT", "GH_ENTERPRISE_TOKEN", "GITHUB_ENTERPRISE_TOKEN",
    ]

    /// Claude's environment on top of the runner's: the runner's own tokens removed, `IS_SANDBOX=1` when
    /// the host is declared a sandbox.
    public var environment: [String: String?] {
        var environment: [String: String?] = [:]
        for name in Self.runnerSecretVariables + withheldEnvironment { environment[name] = .some(nil) }
        if sandboxed { environment["IS_SANDBOX"] = "1" }
        if let isolatedGitConfig {
            // No credentials Claude could push with: no global or system git config (helpers, stored
            // credentials), no gh login, no ssh agent, no prompts.
            environment["GIT_CONFIG_GLOBAL"] = isolatedGitConfig
            environment["GIT_CONFIG_NOSYSTEM"] = "1"
            environment["GH_CONFIG_DIR"] = (isolatedGitConfig as NSString).deletingLastPathComponent + "/gh-empty"
            environment["GIT_TERMINAL_PROMPT"] = "0"
            for name in ["SSH_AUTH_SOCK", "GIT_ASKPASS", "SSH_ASKPASS", "GIT_CONFIG_COUNT"] {
                environment[name] = .some(nil)
            }
        }
        return environment
    }
}
