import ClaudeRunner
import Foundation
import Testing

/// Query validation shared by HTTP and NATS, and the JSON the API returns.
@Suite("run ledger: queries and JSON", .timeLimit(.minutes(3)))
struct LedgerQueryTests {
    typealias Fixture = LedgerFixture

    func message(_ body: () throws(RunnerError) -> Void) -> String? {
        do {
            try body()
            return nil
        } catch {
            #expect(error.kind == .invalidRequest)
            return error.message
        }
    }

    @Test(
        "a bad list parameter is an error naming it, the same from query parameters and from JSON",
        arguments: [
            ("limit", "0", #"{"limit": 0}"#, #"invalid limit "0": must be between 1 and 500"#),
            ("limit", "100000", #"{"limit": 100000}"#, #"invalid limit "100000": must be between 1 and 500"#),
            ("limit", "ten", #"{"limit": "ten"}"#, #"invalid limit "ten": must be a whole number between 1 and 500"#),
            ("limit", "2.5", #"{"limit": 2.5}"#, #"invalid limit "2.5": must be a whole number between 1 and 500"#),
            ("before", "garbage", #"{"before": "garbage"}"#, #"invalid before "garbage": not a run id"#),
            (
                "status", "nothing", #"{"status": "nothing"}"#,
                #"invalid status "nothing": must be one of queued, running, completed, failed, max_turns, budget_exceeded, timeout, idle, cancelled, interrupted"#
            ),
            ("kind", "job", #"{"kind": "job"}"#, #"invalid kind "job": must be one of run, review, issue"#),
        ])
    func listValidation(name: String, value: String, json: String, expected: String) {
        #expect(message { () throws(RunnerError) in _ = try RunQuery(parameters: [name: value]) } == expected)
        #expect(message { () throws(RunnerError) in _ = try RunQuery(json: Data(json.utf8)) } == expected)
    }

    @Test("list parameters: defaults, good values, numbers as strings, lower-case ids, empty values ignored")
    func listParameters() throws {
        #expect(try RunQuery(parameters: [:]) == RunQuery())
        #expect(try RunQuery().limit == 50)
        #expect(try RunQuery(json: Data()) == RunQuery())
        #expect(try RunQuery(json: Data("  {}\n".utf8)) == RunQuery())
        let id = ULID().description
        let query = try RunQuery(parameters: [
            "status": "max_turns", "kind": "issue", "repo": "acme/widgets", "limit": "500", "before": id.lowercased(),
            "unrelated": "x",
        ])
        #expect(query == (try RunQuery(status: .maxTurns, kind: .issue, repo: "acme/widgets", limit: 500, before: id)))
        #expect(
            try RunQuery(json: Data(#"{"status":"failed","limit":10}"#.utf8)) == RunQuery(status: .failed, limit: 10))
        #expect(try RunQuery(json: Data(#"{"limit":"1","repo":null}"#.utf8)) == RunQuery(limit: 1))
        #expect(try RunQuery(parameters: ["status": "", "limit": ""]) == RunQuery())
        #expect(message { () throws(RunnerError) in _ = try RunQuery(limit: 501) } != nil)
        #expect(
            message { () throws(RunnerError) in _ = try RunQuery(json: Data("[1]".utf8)) }
                == "request body must be a JSON object")
        #expect(
            message { () throws(RunnerError) in _ = try RunQuery(json: Data("{".utf8)) }
                == "request body is not valid JSON")
        #expect(
            message { () throws(RunnerError) in _ = try RunQuery(json: Data(#"{"limit":[1]}"#.utf8)) }
                == "invalid limit: expected a string or a number")
    }

    @Test("usage parameters: since as RFC 3339, a date or a duration back from now; by each key")
    func usageParameters() throws {
        let now = Fixture.time("2026-05-10T12:00:00Z")
        #expect(try UsageQuery(parameters: [:], now: now) == UsageQuery(since: Fixture.time("2026-05-03T12:00:00Z")))
        let cases: [(String, String)] = [
            ("7d", "2026-05-03T12:00:00Z"), ("24h", "2026-05-09T12:00:00Z"), ("30m", "2026-05-10T11:30:00Z"),
            ("1d12h", "2026-05-09T00:00:00Z"), ("2026-05-01T08:00:00Z", "2026-05-01T08:00:00Z"),
            ("2026-05-01T10:00:00+02:00", "2026-05-01T08:00:00Z"), ("2026-05-01", "2026-05-01T00:00:00Z"),
        ]
        for (since, expected) in cases {
            #expect(try UsageQuery(parameters: ["since": since], now: now).since == Fixture.time(expected), "\(since)")
        }
        for grouping in UsageQuery.Grouping.allCases {
            #expect(try UsageQuery(parameters: ["by": grouping.rawValue], now: now).by == grouping)
        }
        #expect(
            try UsageQuery(json: Data(#"{"since":"24h","by":"model"}"#.utf8), now: now)
                == UsageQuery(since: Fixture.time("2026-05-09T12:00:00Z"), by: .model))
    }

    @Test(
        "a bad usage parameter is an error naming it",
        arguments: [
            (
                ["since": "yesterday"],
                #"invalid since "yesterday": expected an RFC 3339 time such as 2026-05-01T00:00:00Z or a duration back from now such as 7d, 24h or 30m"#
            ),
            (
                ["since": "2026-02-30"],
                #"invalid since "2026-02-30": expected an RFC 3339 time such as 2026-05-01T00:00:00Z or a duration back from now such as 7d, 24h or 30m"#
            ),
            (["by": "nothing"], #"invalid by "nothing": must be one of repo, day, model, kind"#),
        ])
    func usageValidation(parameters: [String: String], expected: String) throws {
        #expect(message { () throws(RunnerError) in _ = try UsageQuery(parameters: parameters) } == expected)
        let json = try JSONEncoder().encode(parameters)
        #expect(message { () throws(RunnerError) in _ = try UsageQuery(json: json) } == expected)
    }

    @Test("a record's JSON: snake_case keys, RFC 3339 UTC times, usage nested, absent fields left out")
    func recordJSON() throws {
        let record = RunRecord(
            id: "01JTB6X0Z8M8Q4R5S6T7V8W9XY", kind: .issue, transport: .nats, status: .completed,
            createdAt: Fixture.time("2026-05-01T10:00:00.123Z"), repo: "acme/widgets", issueNumber: 7,
            model: "claude-opus-4-7", startedAt: Fixture.time("2026-05-01T10:00:01Z"),
            endedAt: Fixture.time("2026-05-01T10:05:00.5Z"), durationMs: 299_500, exitCode: 0, costUSD: 1.25,
            numTurns: 9, usage: .init(inputTokens: 100, outputTokens: 20), permissionDenials: 0,
            pullRequest: "https://github.com/acme/widgets/pull/8", runner: "host-1", workspaceSource: .newMirror)
        let json = String(decoding: try record.encodeJSON(), as: UTF8.self)
        let expected =
            #"{"cost_usd":1.25,"created_at":"2026-05-01T10:00:00.123Z","duration_ms":299500,"#
            + #""ended_at":"2026-05-01T10:05:00.500Z","exit_code":0,"id":"01JTB6X0Z8M8Q4R5S6T7V8W9XY","#
            + #""issue_number":7,"kind":"issue","model":"claude-opus-4-7","num_turns":9,"permission_denials":0,"#
            + #""pull_request":"https://github.com/acme/widgets/pull/8","repo":"acme/widgets","runner":"host-1","#
            + #""started_at":"2026-05-01T10:00:01.000Z","status":"completed","transport":"nats","#
            + #""usage":{"input_tokens":100,"output_tokens":20},"workspace_source":"new_mirror"}"#
        #expect(json == expected)
        let decoded = try JSONDecoder().decode(RunRecord.self, from: Data(json.utf8))
        #expect(decoded == record)
        // A plain encoder (a record inside a larger body) writes the same fields.
        let plain = try JSONEncoder().encode(["runs": [record]])
        #expect(try JSONDecoder().decode([String: [RunRecord]].self, from: plain) == ["runs": [record]])

        let minimal = RunRecord(
            id: "01JTB6X0Z8M8Q4R5S6T7V8W9XY", kind: .run, transport: .cli,
            createdAt: Fixture.time("2026-05-01T10:00:00Z"), costUSD: .nan, usage: .init())
        let minimalJSON = String(decoding: try minimal.encodeJSON(), as: UTF8.self)
        #expect(
            minimalJSON
                == #"{"created_at":"2026-05-01T10:00:00.000Z","id":"01JTB6X0Z8M8Q4R5S6T7V8W9XY","kind":"run","#
                + #""status":"queued","transport":"cli"}"#)
    }

    @Test("times keep their milliseconds in JSON for any millisecond")
    func millisecondsInJSON() throws {
        let base = Fixture.time("2026-05-01T10:00:00Z").timeIntervalSince1970
        for millisecond in 0..<1000 {
            let date = Date(timeIntervalSince1970: (base * 1000 + Double(millisecond)) / 1000)
            let record = RunRecord(id: ULID().description, kind: .run, transport: .http, createdAt: date)
            let text = String(decoding: try record.encodeJSON(), as: UTF8.self)
            #expect(text.contains(String(format: #""created_at":"2026-05-01T10:00:00.%03dZ""#, millisecond)), "\(text)")
        }
    }

    @Test("a usage report's JSON: since, by, rows and total")
    func usageJSON() throws {
        let report = UsageReport(
            since: Fixture.time("2026-05-01T00:00:00Z"), by: .repo,
            rows: [
                UsageRow(key: "acme/a", runs: 2, costUSD: 0.5, inputTokens: 10, outputTokens: 5, numTurns: 3),
                UsageRow(key: nil, runs: 1, costUSD: 0.25, inputTokens: 1, outputTokens: 1, numTurns: 1),
            ])
        let json = String(decoding: try report.encodeJSON(), as: UTF8.self)
        #expect(
            json
                == #"{"by":"repo","rows":["#
                + #"{"cost_usd":0.5,"input_tokens":10,"key":"acme/a","num_turns":3,"output_tokens":5,"runs":2},"#
                + #"{"cost_usd":0.25,"input_tokens":1,"num_turns":1,"output_tokens":1,"runs":1}],"#
                + #""since":"2026-05-01T00:00:00.000Z","#
                + #""total":{"cost_usd":0.75,"input_tokens":11,"num_turns":4,"output_tokens":6,"runs":3}}"#)
        #expect(try JSONDecoder().decode(UsageReport.self, from: try report.encodeJSON()) == report)
    }

    @Test("reports from several runners merge by key")
    func mergeReports() throws {
        let since = Fixture.time("2026-05-01T00:00:00Z")
        let one = UsageReport(
            since: since, by: .model, rows: [UsageRow(key: "opus", runs: 1, costUSD: 1), UsageRow(key: nil, runs: 1)])
        let two = UsageReport(
            since: since, by: .model,
            rows: [UsageRow(key: "opus", runs: 2, costUSD: 0.5), UsageRow(key: "haiku", runs: 1, costUSD: 2)])
        let merged = try #require(UsageReport.merging([one, two]))
        #expect(
            merged.rows == [
                UsageRow(key: "haiku", runs: 1, costUSD: 2), UsageRow(key: "opus", runs: 3, costUSD: 1.5),
                UsageRow(key: nil, runs: 1),
            ])
        #expect(merged.total == UsageRow(runs: 5, costUSD: 3.5))
        #expect(UsageReport.merging([]) == nil)
    }

    @Test("a run with a base ref or a pull request number is a review")
    func kindOfRequest() {
        #expect(RunRecord.Kind.of(baseRef: nil, prNumber: nil) == .run)
        #expect(RunRecord.Kind.of(baseRef: "", prNumber: nil) == .run)
        #expect(RunRecord.Kind.of(baseRef: "main", prNumber: nil) == .review)
        #expect(RunRecord.Kind.of(baseRef: nil, prNumber: 3) == .review)
        #expect(RunRecord.Status.allCases.filter { !$0.isFinal } == [.queued, .running])
    }
}
