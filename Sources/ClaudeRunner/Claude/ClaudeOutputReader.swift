import Foundation
import Synchronization

/// Reads what one `claude` run prints, as it arrives: stdout line by line into ``ClaudeEvent``s (and plain
/// output for lines that are not events), stderr into a capped buffer; keeps what the Result needs and
/// sends the run's progress events.
///
/// Memory is bounded whatever Claude prints: a line is kept only up to the output cap (a longer one is
/// skipped and counted), plain output up to the cap, stderr up to its own cap, and of the events only
/// their summaries. The `result` event is taken from the stream as it goes by, so however long the
/// session, it is never lost to a cap.
final class ClaudeOutputReader: Sendable {
    struct Settings: Sendable {
        var outputLimit: Int
        var errorLimit: Int
        var redactor: Redactor
        var paths: HostPaths
    }

    private let settings: Settings
    private let progress: RunProgress
    private let state: Mutex<State>
    /// What the run's watchdog reads, under a lock of its own: the process monitor asks it while a long line
    /// may be being parsed under ``state``, and must never wait for that.
    private let timing = Mutex(Timing())

    struct Timing {
        var lastActivity = ContinuousClock.now
        /// When Claude started, until `started` has gone out (then `nil`: nothing more is due).
        var startedDueFrom: ContinuousClock.Instant?
        var resultAt: ContinuousClock.Instant?
    }

    struct State {
        // The stdout line being read.
        var line = Data()
        var lineMode = LineMode.start
        var lineBytes = 0
        var plain: PlainText
        var stderr: OutputBuffer
        var skippedLines = 0
        // What the events said.
        var eventCount = 0
        var startedSent = false
        var sessionID: String?
        var model: String?
        var lastText: String?
        var result: ClaudeResultEvent?
        var denials: [RunResult.PermissionDenial] = []
        var toolInputs: [String: String] = [:]
        var toolOrder: [String] = []
        var toolCount = 0
    }

    enum LineMode {
        /// Nothing of the line read yet.
        case start
        /// Starts with `{`: kept until the newline, then parsed.
        case candidate
        /// Too long to keep: skipped to the newline.
        case oversized
        /// Plain output, streamed into the plain text as it comes.
        case plain
    }

    /// Tool inputs remembered to describe a later denial of the same call.
    static let rememberedToolCalls = 256
    /// Denials listed in a Result.
    static let maxDenials = 100

    init(settings: Settings, progress: RunProgress) {
        self.settings = settings
        self.progress = progress
        self.state = Mutex(
            State(plain: PlainText(limit: settings.outputLimit), stderr: OutputBuffer(limit: settings.errorLimit)))
    }

    var lastActivity: ContinuousClock.Instant { timing.withLock { $0.lastActivity } }
    var resultArrivedAt: ContinuousClock.Instant? { timing.withLock { $0.resultAt } }

    func spawned() {
        timing.withLock { $0.startedDueFrom = .now }
    }

    /// How long `started` waits for Claude's `system`/`init` event (which carries the session and model;
    /// the real CLI sends it within a few seconds, more on a loaded machine) before it goes out without
    /// them. Any other line of Claude's, or its end, sends it at once.
    static let startedWait: Duration = .seconds(30)

    /// Sends `started` without session details when Claude has said nothing for a while (a `claude` that
    /// prints plain text, or a slow start), so a watcher learns soon that the run began.
    /// - Returns: When to call this again, or `nil` once `started` has gone out.
    func startedDue(now: ContinuousClock.Instant = .now) -> ContinuousClock.Instant? {
        guard let spawnedAt = timing.withLock({ $0.startedDueFrom }) else { return nil }
        guard now - spawnedAt >= Self.startedWait else { return spawnedAt + Self.startedWait }
        // A line being parsed holds the state: it sends `started` itself when it ends, else ask again soon.
        let sent = state.withLockIfAvailable { state in sendStarted(&state) }
        return sent == nil ? now + .seconds(1) : nil
    }

    func consume(_ event: ProcessOutputEvent) {
        switch event {
        case .standardOutput(let chunk): consumeStandardOutput(chunk)
        case .standardError(let chunk):
            timing.withLock { $0.lastActivity = .now }
            state.withLock { state in state.stderr.append(chunk) }
        }
    }

    private func consumeStandardOutput(_ chunk: [UInt8]) {
        timing.withLock { $0.lastActivity = .now }
        state.withLock { state in
            chunk.withUnsafeBytes { bytes in
                var start = 0
                while start < bytes.count {
                    let rest = UnsafeRawBufferPointer(rebasing: bytes[start...])
                    if let newline = rest.firstIndex(of: 0x0A) {
                        let lineEnd = start + (newline - rest.startIndex)
                        feed(&state, UnsafeRawBufferPointer(rebasing: bytes[start..<lineEnd]))
                        endLine(&state, newline: true)
                        start = lineEnd + 1
                    } else {
                        feed(&state, rest)
                        start = bytes.count
                    }
                }
            }
        }
    }

    /// stdout ended: the last line (without a newline) is complete.
    func finishStandardOutput() {
        state.withLock { state in
            if state.lineMode != .start { endLine(&state, newline: false) }
        }
    }

    private func feed(_ state: inout State, _ bytes: UnsafeRawBufferPointer) {
        guard !bytes.isEmpty else { return }
        if state.lineMode == .start {
            state.lineMode = bytes[bytes.startIndex] == UInt8(ascii: "{") ? .candidate : .plain
        }
        state.lineBytes += bytes.count
        switch state.lineMode {
        case .plain:
            state.plain.append(bytes)
        case .candidate:
            if state.lineBytes > settings.outputLimit {
                state.lineMode = .oversized
                state.line = Data()
            } else {
                state.line.append(contentsOf: bytes)
            }
        case .oversized, .start:
            break
        }
    }

    private func endLine(_ state: inout State, newline: Bool) {
        defer {
            state.line = Data()
            state.lineMode = .start
            state.lineBytes = 0
        }
        switch state.lineMode {
        case .start:
            if newline { state.plain.append([0x0A]) }
        case .plain:
            if newline { state.plain.append([0x0A]) }
            if !state.startedSent, state.eventCount == 0 { sendStarted(&state) }
        case .oversized:
            state.skippedLines += 1
        case .candidate:
            if let event = ClaudeEvent.parse(state.line) {
                handle(event, &state)
            } else {
                let line = state.line
                line.withUnsafeBytes { state.plain.append($0) }
                if newline { state.plain.append([0x0A]) }
            }
        }
    }

    private func handle(_ event: ClaudeEvent, _ state: inout State) {
        state.eventCount += 1
        switch event {
        case .initialized(let sessionID, let model):
            state.sessionID = state.sessionID ?? sessionID
            state.model = state.model ?? model
            sendStarted(&state)
        case .assistant(let model, let blocks):
            if !state.startedSent { sendStarted(&state) }
            state.model = state.model ?? model
            for block in blocks {
                switch block {
                case .text(let text):
                    state.lastText = text
                    let shown = ToolSummary.clip(scrub(text), limit: RunEvent.maxTextCharacters)
                    if !shown.isEmpty { progress.emit(.text(shown)) }
                case .toolUse(let id, let name, let input):
                    state.toolCount += 1
                    let summary = ToolSummary.summarize(tool: name, input: input, scrub: scrub)
                    if let id {
                        state.toolInputs[id] = summary
                        state.toolOrder.append(id)
                        if state.toolOrder.count > Self.rememberedToolCalls {
                            state.toolInputs.removeValue(forKey: state.toolOrder.removeFirst())
                        }
                    }
                    progress.emit(.tool(name: name, input: summary))
                }
            }
        case .permissionDenied(let tool, let toolUseID):
            if !state.startedSent { sendStarted(&state) }
            let input = toolUseID.flatMap { state.toolInputs[$0] } ?? ""
            if state.denials.count < Self.maxDenials { state.denials.append(.init(tool: tool, input: input)) }
            progress.emit(.denied(tool: tool, input: input))
        case .result(let result):
            if !state.startedSent { sendStarted(&state) }
            state.result = result
            timing.withLock { $0.resultAt = .now }
            state.sessionID = state.sessionID ?? result.sessionID
        case .other:
            // Other system events (hooks, status) can come before `init`: wait for it.
            break
        }
    }

    private func sendStarted(_ state: inout State) {
        guard !state.startedSent else { return }
        state.startedSent = true
        timing.withLock { $0.startedDueFrom = nil }
        progress.emit(.started(sessionID: state.sessionID, model: state.model))
    }

    /// Secrets out, host paths out.
    func scrub(_ text: String) -> String {
        settings.paths.scrub(settings.redactor.redact(text))
    }

    /// Everything read, once the process has ended.
    func finish() -> Transcript {
        state.withLock { state in
            // Started and `started` not sent yet: it goes out now, without session details.
            if !state.startedSent, timing.withLock({ $0.startedDueFrom != nil }) { sendStarted(&state) }
            let plain = state.plain.finish(truncationNote: ClaudeOutcome.truncationNote)
            return Transcript(
                plainOutput: plain, stderr: state.stderr.text,
                stderrTruncated: state.stderr.isTruncated,
                skippedLines: state.skippedLines, eventCount: state.eventCount, sessionID: state.sessionID,
                model: state.model, lastText: state.lastText, result: state.result, denials: state.denials,
                toolCount: state.toolCount)
        }
    }

    /// What a run printed, reduced.
    struct Transcript: Sendable {
        /// Plain output, with the truncation note at its end when it was cut.
        var plainOutput: String
        var stderr: String
        var stderrTruncated: Bool
        var skippedLines: Int
        var eventCount: Int
        var sessionID: String?
        var model: String?
        var lastText: String?
        var result: ClaudeResultEvent?
        var denials: [RunResult.PermissionDenial]
        var toolCount: Int
    }
}
