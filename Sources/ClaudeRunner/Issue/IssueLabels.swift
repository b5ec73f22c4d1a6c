/// The exact strings of the GitHub issue agent-task protocol; users' repositories already use them.
public enum IssueLabels {
    public static let marker = "<!-- agent-task:v1 -->"
    public static let required = ["type:agent-task", "agent:claude-code", "agent-ready", "agent-approved"]
    public static let excluded = ["claimed-by-claude", "agent-blocked", "security-sensitive"]
    public static let ready = "agent-ready"
    public static let claimed = "claimed-by-claude"
    public static let failed = "agent-failed"
    public static let models = ["model:fast", "model:balanced", "model:strong"]
}

/// An issue checked against the protocol's rules, in the original's order, each failure a distinct error
/// naming the offending label.
public struct IssueValidation: Sendable {
    /// The `model:*` label on the issue, in its canonical spelling, if any.
    public let modelLabel: String?

    public init(_ issue: GitHubIssue) throws(RunnerError) {
        let labels = Set(issue.labelNames.map { $0.lowercased() })
        guard issue.state.lowercased() == "open" else {
            throw .rejected("issue is not open")
        }
        guard (issue.body ?? "").contains(IssueLabels.marker) else {
            throw .rejected("issue body missing agent task marker")
        }
        for label in IssueLabels.required where !labels.contains(label) {
            throw .rejected("issue missing required label: \(label)")
        }
        for label in IssueLabels.excluded where labels.contains(label) {
            throw .rejected("issue has excluded label: \(label)")
        }
        let modelLabels = IssueLabels.models.filter { labels.contains($0) }
        guard modelLabels.count <= 1 else {
            throw .rejected("issue has multiple model recommendation labels: \(modelLabels.joined(separator: ", "))")
        }
        self.modelLabel = modelLabels.first
    }

    /// The model for the run: the label's mapped model, else `issue.model`, else the top-level `model`.
    public func model(config: RunnerConfig) -> String? {
        if let modelLabel, let mapped = config.issue.modelLabels[modelLabel], !mapped.isEmpty { return mapped }
        return config.issue.model ?? config.model
    }
}
