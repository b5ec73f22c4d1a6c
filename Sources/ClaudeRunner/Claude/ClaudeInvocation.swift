/// The arguments of one `claude` run, in the order the original runner passes them:
/// `-p <prompt>`, then `--dangerously-skip-permissions` or `--allowedTools A,B,C`, then `--max-turns N`,
/// then `--model M`.
public struct ClaudeInvocation: Sendable, Equatable {
    public var prompt: String
    public var bypassPermissions: Bool
    public var allowedTools: [String]
    public var maxTurns: Int
    public var model: String?

    public init(
        prompt: String, bypassPermissions: Bool = false, allowedTools: [String] = [], maxTurns: Int = 0,
        model: String? = nil
    ) {
        self.prompt = prompt
        self.bypassPermissions = bypassPermissions
        self.allowedTools = allowedTools
        self.maxTurns = maxTurns
        self.model = model
    }

    /// A plain or review run: top-level config values only.
    public static func run(prompt: String, config: RunnerConfig) -> ClaudeInvocation {
        ClaudeInvocation(
            prompt: prompt, allowedTools: config.allowedTools, maxTurns: config.maxTurns, model: config.model)
    }

    /// An issue run: `issue.*` values, falling back to the top level; `model` is already resolved
    /// (label → `issue.model` → `model`).
    public static func issue(prompt: String, model: String?, config: RunnerConfig) -> ClaudeInvocation {
        ClaudeInvocation(
            prompt: prompt,
            bypassPermissions: config.issue.bypassPermissions,
            allowedTools: config.issue.allowedTools ?? config.allowedTools,
            maxTurns: config.issue.maxTurns ?? config.maxTurns,
            model: model
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
        return arguments
    }
}
