import ClaudeRunner
import Foundation

/// The client's `--progress` output: one line per event on stderr, elapsed seconds first.
///
/// ```
///   0.4s  started  claude-sonnet-4-6
///   3.1s  Bash  npm test
///   4.0s  denied  Bash  git push
///  12.9s  done  2 turns  $0.0162
/// ```
public enum ProgressLine {
    public static func format(_ event: RunEvent) -> String {
        let elapsed = String(format: "%6.1fs", Double(event.elapsedMS) / 1000)
        let what: String
        switch event.payload {
        case .queued(let position):
            what = "queued  position \(position)"
        case .started(let sessionID, let model):
            what = (["started"] + [model, sessionID.map { "session \($0)" }].compactMap { $0 }).joined(separator: "  ")
        case .text(let text):
            what = "text  " + ToolSummary.oneLine(text, limit: 120)
        case .tool(let name, let input):
            what = input.isEmpty ? name : "\(name)  \(input)"
        case .denied(let tool, let input):
            what = input.isEmpty ? "denied  \(tool)" : "denied  \(tool)  \(input)"
        case .result(let result):
            what = summary(result)
        case .error(let message):
            what = "error  " + ToolSummary.oneLine(message, limit: 200)
        }
        return "\(elapsed)  \(what)"
    }

    /// `done  2 turns  $0.0162`, or the status instead of `done` when the run did not complete.
    static func summary(_ result: RunResult) -> String {
        var parts: [String] = []
        let status = result.status ?? (result.error == nil ? RunStatus.completed.rawValue : RunStatus.failed.rawValue)
        parts.append(status == RunStatus.completed.rawValue ? "done" : status)
        if let turns = result.numTurns { parts.append(turns == 1 ? "1 turn" : "\(turns) turns") }
        if let cost = result.costUSD { parts.append(Money.format(cost)) }
        if let denials = result.permissionDenials, !denials.isEmpty { parts.append("\(denials.count) denied") }
        return parts.joined(separator: "  ")
    }
}
