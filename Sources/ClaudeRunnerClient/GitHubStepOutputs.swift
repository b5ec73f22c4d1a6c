import ClaudeRunner
import Foundation

/// What the client leaves for a GitHub Actions step: the outputs `run-id`, `cost-usd` and `num-turns` in
/// `$GITHUB_OUTPUT`, and a summary (the output, then a table of the run's figures) in
/// `$GITHUB_STEP_SUMMARY`, each only when the variable is set.
public enum GitHubStepOutputs {
    public static func write(_ result: RunResult, environment: [String: String]) throws {
        if let path = environment["GITHUB_OUTPUT"], !path.isEmpty {
            var lines = "run-id=\(result.id)\n"
            if let cost = result.costUSD { lines += "cost-usd=\(WireJSON.number(cost))\n" }
            if let turns = result.numTurns { lines += "num-turns=\(turns)\n" }
            try append(lines, to: path)
        }
        if let path = environment["GITHUB_STEP_SUMMARY"], !path.isEmpty {
            try append(summary(result), to: path)
        }
    }

    /// The step summary in Markdown.
    public static func summary(_ result: RunResult) -> String {
        var text = "## claude-runner\n\n"
        let output = result.output.trimmingCharacters(in: .whitespacesAndNewlines)
        text += output.isEmpty ? "_(no output)_\n\n" : output + "\n\n"
        if let error = result.error, !error.isEmpty {
            text += "**Error:**\n\n```\n" + error.replacingOccurrences(of: "```", with: "'''") + "\n```\n\n"
        }
        let status = result.status ?? (result.error == nil ? RunStatus.completed.rawValue : RunStatus.failed.rawValue)
        text += "| status | turns | cost | duration | denials |\n|---|---|---|---|---|\n"
        let turns = result.numTurns.map(String.init) ?? "–"
        let cost = result.costUSD.map(Money.format) ?? "–"
        let duration = result.durationMS.map { String(format: "%.1fs", Double($0) / 1000) } ?? "–"
        let denials = result.permissionDenials.map { String($0.count) } ?? "–"
        text += "| \(status) | \(turns) | \(cost) | \(duration) | \(denials) |\n"
        if let list = result.permissionDenials, !list.isEmpty {
            text += "\nDenied tool calls:\n\n"
            for denial in list.prefix(20) {
                let input = denial.input.replacingOccurrences(of: "`", with: "'")
                text += "- `\(denial.tool)`" + (input.isEmpty ? "" : " `\(input)`") + "\n"
            }
        }
        return text + "\n"
    }

    private static func append(_ text: String, to path: String) throws {
        if !FileManager.default.fileExists(atPath: path) {
            FileManager.default.createFile(atPath: path, contents: nil)
        }
        guard let handle = FileHandle(forWritingAtPath: path) else {
            throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: path])
        }
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(text.utf8))
    }
}
