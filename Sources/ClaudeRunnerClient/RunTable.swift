import ClaudeRunner
import Foundation

/// What the run-control subcommands print: aligned tables for `runs` and `usage`, `field: value` lines for
/// `show`, and their `--json` forms.
///
/// ```
/// ID                          KIND   STATUS     REPO          STARTED (UTC)        DURATION  COST     RUNNER
/// 01JV3Q8X6M0S8Y4W6ZJ1T0N6QF  run    completed  acme/widgets  2026-05-01 10:00:03  12.9s     $0.0162  edge-a
/// ```
public enum RunTable {
    public static func runs(_ records: [RunRecord]) -> String {
        let header = ["ID", "KIND", "STATUS", "REPO", "STARTED (UTC)", "DURATION", "COST", "RUNNER"]
        let rows = records.map { record in
            [
                record.id, record.kind.rawValue, record.status.rawValue, record.repo ?? "–",
                time(record.startedAt ?? record.createdAt), record.durationMs.map(duration) ?? "–",
                record.costUSD.map(Money.format) ?? "–", record.runner ?? "–",
            ]
        }
        return table([header] + rows)
    }

    /// One record as `field: value` lines, the fields it has in the API's order.
    public static func show(_ record: RunRecord) -> String {
        var lines: [(String, String)] = [("id", record.id), ("kind", record.kind.rawValue)]
        func add(_ name: String, _ value: String?) {
            if let value, !value.isEmpty { lines.append((name, value)) }
        }
        add("status", record.status.rawValue)
        add("runner", record.runner)
        add("transport", record.transport.rawValue)
        add("repo", record.repo)
        add("ref", record.ref)
        add("base_ref", record.baseRef)
        add("event", record.event)
        add("pr_number", record.prNumber.map(String.init))
        add("issue_number", record.issueNumber.map(String.init))
        add("model", record.model)
        add("created_at", Timestamp.string(from: record.createdAt))
        add("started_at", record.startedAt.map(Timestamp.string(from:)))
        add("ended_at", record.endedAt.map(Timestamp.string(from:)))
        add("duration", record.durationMs.map(duration))
        add("exit_code", record.exitCode.map(String.init))
        add("session_id", record.sessionId)
        add("cost", record.costUSD.map(Money.format))
        add("num_turns", record.numTurns.map(String.init))
        if let usage = record.usage {
            let parts = [
                usage.inputTokens.map { "\($0) in" }, usage.outputTokens.map { "\($0) out" },
                usage.cacheReadInputTokens.map { "\($0) cache read" },
                usage.cacheCreationInputTokens.map { "\($0) cache creation" },
            ].compactMap { $0 }
            add("tokens", parts.joined(separator: ", "))
        }
        add("permission_denials", record.permissionDenials.map(String.init))
        add("pull_request", record.pullRequest)
        add("error", record.error.map { ToolSummary.oneLine($0, limit: 400) })
        let width = lines.map(\.0.count).max() ?? 0
        return lines.map { name, value in name + ":" + String(repeating: " ", count: width - name.count + 2) + value }
            .joined(separator: "\n") + "\n"
    }

    public static func usage(_ summary: UsageSummary) -> String {
        let report = summary.report
        var text = "since \(Timestamp.secondsString(from: report.since)), by \(report.by.rawValue)"
        if !summary.runners.isEmpty { text += ", runners: " + summary.runners.joined(separator: ", ") }
        text += "\n\n"
        let header = [report.by.rawValue.uppercased(), "RUNS", "COST", "INPUT TOKENS", "OUTPUT TOKENS", "TURNS"]
        func cells(_ row: UsageRow, key: String) -> [String] {
            [
                key, String(row.runs), Money.format(row.costUSD), String(row.inputTokens), String(row.outputTokens),
                String(row.numTurns),
            ]
        }
        let rows = report.rows.map { cells($0, key: $0.key ?? "–") } + [cells(report.total, key: "TOTAL")]
        return text + table([header] + rows)
    }

    /// `{"runs": [...]}`, each record in the API's JSON.
    public static func runsJSON(_ records: [RunRecord]) throws -> Data {
        var data = Data(#"{"runs":["#.utf8)
        for (index, record) in records.enumerated() {
            if index > 0 { data.append(UInt8(ascii: ",")) }
            data.append(try record.encodeJSON())
        }
        data.append(contentsOf: Array("]}\n".utf8))
        return data
    }

    /// `12.9s`, `4m05s`, `1h02m`.
    static func duration(_ milliseconds: Int) -> String {
        let seconds = milliseconds / 1000
        if seconds < 60 { return String(format: "%.1fs", Double(milliseconds) / 1000) }
        if seconds < 3600 { return String(format: "%dm%02ds", seconds / 60, seconds % 60) }
        return String(format: "%dh%02dm", seconds / 3600, seconds % 3600 / 60)
    }

    /// `2026-05-01 10:00:03`, UTC.
    static func time(_ date: Date) -> String {
        String(Timestamp.secondsString(from: date).replacingOccurrences(of: "T", with: " ").dropLast())
    }

    /// Columns padded to their widest cell, two spaces apart; the last column is not padded.
    static func table(_ rows: [[String]]) -> String {
        guard let columns = rows.first?.count else { return "" }
        var widths = Array(repeating: 0, count: columns)
        for row in rows {
            for (index, cell) in row.enumerated() { widths[index] = max(widths[index], cell.count) }
        }
        return rows.map { row in
            row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[index] - cell.count)
            }.joined(separator: "  ")
        }.joined(separator: "\n") + "\n"
    }
}
