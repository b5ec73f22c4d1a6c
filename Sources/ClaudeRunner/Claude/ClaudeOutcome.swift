import Foundation

/// How one Claude run ended, with everything the Result, the ledger and the issue comments need.
///
/// The rules (spec section 10): `output` is the `result` event's text, else the last assistant text, else
/// (no events at all) stdout; an error result (`is_error`, whatever its subtype), a stream that ends
/// without a `result` event, a non-zero exit or a limit make `error` say what happened, plus stderr.
public struct ClaudeOutcome: Sendable {
    public var output: String
    /// Set when the run did not complete: the reason, then stderr.
    public var error: String?
    public var status: RunStatus
    public var exit: ProcessExit?
    public var processID: Int32?
    /// Whether Claude printed stream-json events; only then does the Result carry the fields below.
    public var sawEvents: Bool
    public var sessionID: String?
    public var costUSD: Double?
    public var numTurns: Int?
    public var durationMS: Int?
    public var model: String?
    public var usage: TokenUsage?
    public var permissionDenials: [RunResult.PermissionDenial]
    /// Tool calls Claude made.
    public var toolCount: Int

    public var succeeded: Bool { status == .completed }

    /// The exit status, when Claude exited by itself.
    public var exitCode: Int32? {
        if case .exited(let code) = exit { return code }
        return nil
    }

    /// The Result for run `id`.
    public func result(id: String) -> RunResult {
        guard sawEvents else { return RunResult(id: id, output: output, error: error) }
        return RunResult(
            id: id, output: output, error: error, status: status.rawValue, sessionID: sessionID, costUSD: costUSD,
            numTurns: numTurns, durationMS: durationMS, model: model, usage: usage,
            permissionDenials: permissionDenials)
    }

    /// The note after plain output that was cut at the output limit.
    static func truncationNote(kept: Int, total: Int) -> String {
        "\n\n[claude-runner: output truncated: kept the first \(kept) of \(total) bytes]"
    }

    /// The phrase the CLI prints when it refuses `--dangerously-skip-permissions` as root.
    static let rootRefusal = "cannot be used with root/sudo privileges"

    init(
        transcript: ClaudeOutputReader.Transcript, ending: ClaudeProcess.Ending, invocation: ClaudeInvocation,
        processID: Int32?, elapsed: Duration, scrub: (String) -> String, redactor: Redactor
    ) {
        let stderr = redactor.redact(transcript.stderr)
        let stderrTrimmed = stderr.trimmingCharacters(in: .whitespacesAndNewlines)
        let result = transcript.result
        sawEvents = transcript.eventCount > 0
        self.processID = processID
        toolCount = transcript.toolCount

        if sawEvents {
            output = scrub(result?.result ?? transcript.lastText ?? "")
        } else {
            // The truncation note is already at its end (see `truncationNote`).
            output = redactor.redact(transcript.plainOutput)
        }

        var reason: String?
        switch ending {
        case .cancelled:
            status = .cancelled
            reason = "cancelled: the run was stopped before Claude finished"
            exit = nil
        case .limit(let limit, let after):
            status = limit
            reason =
                limit == .timeout
                ? "timeout: claude ran longer than the run timeout of \(ClaudeProcess.format(after)) and was stopped"
                : "idle: claude printed nothing for \(ClaudeProcess.format(after)) and was stopped"
            exit = nil
        case .afterResult, .exited:
            var processExit: ProcessExit?
            if case .exited(let value) = ending { processExit = value }
            exit = processExit
            if let result {
                switch result.subtype {
                case "error_max_turns":
                    status = .maxTurns
                    let turns = invocation.maxTurns > 0 ? invocation.maxTurns : (result.numTurns ?? 0)
                    reason = "max turns reached (\(turns))"
                case "error_max_budget_usd":
                    status = .budgetExceeded
                    let budget = invocation.maxBudgetUSD ?? result.totalCostUSD ?? 0
                    reason = "budget reached (\(Money.format(budget)))"
                default:
                    if result.isError {
                        status = .failed
                        let errors = result.errors.map(scrub).joined(separator: "; ")
                        reason =
                            errors.isEmpty
                            ? (result.result.map(scrub).flatMap { $0.isEmpty ? nil : $0 }
                                ?? "claude reported an error (\(result.subtype ?? "no subtype"))") : errors
                    } else if let processExit, !processExit.isSuccess {
                        status = .failed
                    } else {
                        status = .completed
                    }
                }
            } else if sawEvents {
                status = .failed
                var text = "claude exited without a result event"
                if let processExit { text += " (\(processExit))" }
                if transcript.skippedLines > 0 {
                    text +=
                        "; \(transcript.skippedLines) stdout line(s) longer than limits.maxOutputBytes were skipped"
                }
                reason = text
            } else {
                status = processExit?.isSuccess == false ? .failed : .completed
            }
        }

        if invocation.bypassPermissions, stderr.contains(Self.rootRefusal) {
            reason =
                "claude refused --dangerously-skip-permissions because the runner runs as root "
                + "(issue.bypassPermissions is true): run claude-runner as a non-root user, or set "
                + "issue.sandboxed: true if this host is a disposable sandbox"
        }

        if status == .completed {
            error = nil
        } else if let reason {
            error = stderrTrimmed.isEmpty ? reason : "\(reason)\n\(stderrTrimmed)"
        } else {
            // As the original runner: stderr as Claude wrote it, or the exit reason.
            error = stderrTrimmed.isEmpty ? (exit?.description ?? "claude failed") : stderr
        }

        if sawEvents {
            sessionID = transcript.sessionID ?? result?.sessionID
            costUSD = result?.totalCostUSD
            numTurns = result?.numTurns
            let elapsedMS = Int(
                elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)
            durationMS = result?.durationMS ?? elapsedMS
            model = transcript.model
            usage = result?.usage
            if let denials = result?.permissionDenials, !denials.isEmpty {
                permissionDenials = denials.prefix(ClaudeOutputReader.maxDenials).map { denial in
                    .init(
                        tool: denial.tool,
                        input: ToolSummary.summarize(tool: denial.tool, input: denial.input, scrub: scrub))
                }
            } else {
                permissionDenials = transcript.denials
            }
        } else {
            permissionDenials = []
        }
    }
}

/// Dollar amounts as the runner shows them: `$0.0162`.
public enum Money {
    public static func format(_ value: Double) -> String {
        "$" + String(format: "%.4f", value)
    }
}
