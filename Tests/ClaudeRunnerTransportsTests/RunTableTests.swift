import ClaudeRunner
import ClaudeRunnerClient
import Foundation
import Testing

/// What `runs`, `show` and `usage` print, for records whose every field is known.
@Suite("run-control output", .timeLimit(.minutes(1)))
struct RunTableTests {
    static let created = Date(timeIntervalSince1970: 1_777_629_600)  // 2026-05-01T10:00:00Z

    static func record(_ id: String, status: RunStatus, duration: Int?, cost: Double?, repo: String?) -> RunRecord {
        RunRecord(
            id: id, kind: .run, transport: .nats, status: status, createdAt: created, repo: repo,
            startedAt: created.addingTimeInterval(3), durationMs: duration, costUSD: cost, runner: "edge-a")
    }

    @Test("runs: aligned columns, dashes for what is unknown, durations in s, m and h")
    func runsTable() {
        let table = RunTable.runs([
            Self.record(
                "01KQHE6Y40AAAAAAAAAAAAAAAA", status: .completed, duration: 12_900, cost: 0.0162, repo: "acme/w"),
            Self.record("01KQHE6Y40BBBBBBBBBBBBBBBB", status: .running, duration: nil, cost: nil, repo: nil),
            Self.record("01KQHE6Y40CCCCCCCCCCCCCCCC", status: .failed, duration: 245_000, cost: 1.5, repo: "acme/w"),
            Self.record("01KQHE6Y40DDDDDDDDDDDDDDDD", status: .timeout, duration: 3_720_000, cost: 0, repo: "a/b"),
        ])
        #expect(
            table == """
                ID                          KIND  STATUS     REPO    STARTED (UTC)        DURATION  COST     RUNNER
                01KQHE6Y40AAAAAAAAAAAAAAAA  run   completed  acme/w  2026-05-01 10:00:03  12.9s     $0.0162  edge-a
                01KQHE6Y40BBBBBBBBBBBBBBBB  run   running    –       2026-05-01 10:00:03  –         –        edge-a
                01KQHE6Y40CCCCCCCCCCCCCCCC  run   failed     acme/w  2026-05-01 10:00:03  4m05s     $1.5000  edge-a
                01KQHE6Y40DDDDDDDDDDDDDDDD  run   timeout    a/b     2026-05-01 10:00:03  1h02m     $0.0000  edge-a

                """)
    }

    @Test("show: field: value lines in the API's order; usage: rows, then the total")
    func showAndUsage() throws {
        let shown = RunTable.show(
            Self.record(
                "01KQHE6Y40AAAAAAAAAAAAAAAA", status: .completed, duration: 12_900, cost: 0.0162, repo: "acme/w"))
        #expect(
            shown == """
                id:          01KQHE6Y40AAAAAAAAAAAAAAAA
                kind:        run
                status:      completed
                runner:      edge-a
                transport:   nats
                repo:        acme/w
                created_at:  2026-05-01T10:00:00.000Z
                started_at:  2026-05-01T10:00:03.000Z
                duration:    12.9s
                cost:        $0.0162

                """)
        let report = UsageReport(
            since: Self.created, by: .repo,
            rows: [
                UsageRow(key: "acme/w", runs: 2, costUSD: 0.5, inputTokens: 100, outputTokens: 20, numTurns: 3),
                UsageRow(key: nil, runs: 1, costUSD: 0.25, inputTokens: 7, outputTokens: 1, numTurns: 1),
            ])
        #expect(
            RunTable.usage(UsageSummary(report: report, runners: ["a", "b"])) == """
                since 2026-05-01T10:00:00Z, by repo, runners: a, b

                REPO    RUNS  COST     INPUT TOKENS  OUTPUT TOKENS  TURNS
                acme/w  2     $0.5000  100           20             3
                –       1     $0.2500  7             1              1
                TOTAL   3     $0.7500  107           21             4

                """)
    }
}
