import Foundation
import Logging
import Synchronization

/// The claim comment of an issue, edited in place while the attempt runs: the claim text first, then a
/// progress section built by the runner from the run's events (elapsed time, tool calls, the last ten of
/// them, denials) — never text Claude wrote.
///
/// Edits are at least `interval` apart, plus one final edit when the run ends; a failed edit is logged and
/// never fails the run.
struct IssueTrackingComment: Sendable {
    let github: GitHubClient
    let repo: String
    let commentID: Int
    let claimText: String
    let interval: Duration
    let redactor: Redactor
    let logger: Logger
    /// Asked before each edit of a durable task's comment: `false` when another runner has the task now
    /// (its moved note must stay), and this attempt stops editing.
    var stillOurs: (@Sendable () async -> Bool)? = nil

    /// Follows `events` to the run's end, editing the comment as it goes.
    func follow(_ events: AsyncStream<RunEvent>) async {
        let state = FollowState()
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await event in events {
                    state.section.withLock { $0.apply(event) }
                }
                state.done.withLock { $0 = true }
            }
            group.addTask {
                var shown = IssueProgressSection()
                var lastEdit = ContinuousClock.now
                while !state.done.withLock({ $0 }) {
                    // Short sleeps: a cancelled long sleep keeps its timer (and memory) until its deadline.
                    try? await Task.sleep(for: min(interval, .milliseconds(250)))
                    guard ContinuousClock.now - lastEdit >= interval else { continue }
                    let current = state.section.withLock { $0 }
                    guard current != shown, !state.done.withLock({ $0 }) else { continue }
                    if let stillOurs, await !stillOurs() {
                        state.abandoned.withLock { $0 = true }
                        return
                    }
                    await edit(current.render(claimText: claimText))
                    shown = current
                    lastEdit = .now
                }
            }
        }
        guard !state.abandoned.withLock({ $0 }) else { return }
        if let stillOurs, await !stillOurs() { return }
        await edit(state.section.withLock { $0 }.render(claimText: claimText))
    }

    /// What the two halves of ``follow(_:)`` share.
    private final class FollowState: Sendable {
        let section = Mutex(IssueProgressSection())
        let done = Mutex(false)
        let abandoned = Mutex(false)
    }

    private func edit(_ text: String) async {
        do {
            try await github.updateComment(commentID, text: redactor.redact(text), repo: repo, logger: logger)
        } catch {
            logger.warning("edit tracking comment", metadata: ["error": "\(redactor.redact("\(error)"))"])
        }
    }
}

/// The progress part of the tracking comment.
struct IssueProgressSection: Sendable, Equatable {
    static let shownToolCalls = 10
    static let shownDenials = 10

    var elapsedMS = 0
    var toolCalls = 0
    var lastTools: [String] = []
    var denials: [String] = []
    var deniedCount = 0
    var status: String?

    mutating func apply(_ event: RunEvent) {
        elapsedMS = max(elapsedMS, event.elapsedMS)
        switch event.payload {
        case .tool(let name, let input):
            toolCalls += 1
            lastTools.append(Self.line(name, input))
            if lastTools.count > Self.shownToolCalls { lastTools.removeFirst() }
        case .denied(let tool, let input):
            deniedCount += 1
            if denials.count < Self.shownDenials { denials.append(Self.line(tool, input)) }
        case .result(let result):
            status = result.status ?? (result.error == nil ? RunStatus.completed.rawValue : RunStatus.failed.rawValue)
        case .error:
            status = RunStatus.failed.rawValue
        default:
            break
        }
    }

    static func line(_ tool: String, _ input: String) -> String {
        "- `\(tool)`" + (input.isEmpty ? "" : " " + IssueText.codeSpan(input))
    }

    func render(claimText: String) -> String {
        var text = claimText + "\n\n---\n"
        text += status == nil ? "**Progress** (updated by claude-runner while it works)\n" : "**Progress**\n"
        if let status { text += "- Status: \(status)\n" }
        text += "- Elapsed: \(Self.duration(milliseconds: elapsedMS))\n"
        text += "- Tool calls: \(toolCalls)\n"
        if deniedCount > 0 { text += "- Permission denials: \(deniedCount)\n" }
        if !lastTools.isEmpty {
            text += "\nLast tool calls:\n" + lastTools.joined(separator: "\n") + "\n"
        }
        if !denials.isEmpty {
            text += "\nDenied:\n" + denials.joined(separator: "\n") + "\n"
            if deniedCount > denials.count { text += "- … and \(deniedCount - denials.count) more\n" }
        }
        return text
    }

    /// `45s`, `3m 05s`, `1h 02m`.
    static func duration(milliseconds: Int) -> String {
        let seconds = milliseconds / 1000
        if seconds < 60 { return "\(seconds)s" }
        if seconds < 3600 { return "\(seconds / 60)m \(String(format: "%02d", seconds % 60))s" }
        return "\(seconds / 3600)h \(String(format: "%02d", (seconds % 3600) / 60))m"
    }
}
