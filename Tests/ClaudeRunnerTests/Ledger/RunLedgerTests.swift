import ClaudeRunner
import ClaudeRunnerTesting
import Foundation
import GRDB
import Testing

@Suite("run ledger", .timeLimit(.minutes(3)))
struct RunLedgerTests {
    typealias Fixture = LedgerFixture

    @Test("a run's life: inserted queued, updated running, saved with its result; every field comes back")
    func runLife() async throws {
        try await Fixture.withLedger { ledger, _ in
            let created = Fixture.time("2026-05-01T10:00:00.123Z")
            var record = RunRecord(
                id: ULID(milliseconds: UInt64(created.timeIntervalSince1970 * 1000)).description, kind: .review,
                transport: .nats, createdAt: created, repo: "acme/widgets", ref: "feature/x", baseRef: "main",
                event: "pull_request", prNumber: 12, model: "claude-sonnet-4-6", runner: "host-1")
            try await ledger.insert(record)
            #expect(try await ledger.get(record.id) == record)

            let started = Fixture.time("2026-05-01T10:00:01.5Z")
            let running = try await ledger.update(record.id) { run in
                run.status = .running
                run.startedAt = started
            }
            #expect(running?.status == .running)
            #expect(try await ledger.get(record.id)?.startedAt == started)

            record.status = .maxTurns
            record.startedAt = started
            record.endedAt = Fixture.time("2026-05-01T10:02:03.456Z")
            record.durationMs = 121_956
            record.exitCode = 1
            record.error = "max turns reached (10)"
            record.sessionId = "0f6e1c7a-5b1d-4c4e-9d1e-2f0a9b8c7d6e"
            record.costUSD = 0.4321
            record.numTurns = 10
            record.usage = .init(
                inputTokens: 12_000, outputTokens: 3_400, cacheReadInputTokens: 50_000, cacheCreationInputTokens: 900)
            record.permissionDenials = 2
            record.pullRequest = "https://github.com/acme/widgets/pull/13"
            record.workspaceSource = .newMirror
            record.workspaceMs = 812
            record.deliveries = 2
            try await ledger.save(record)
            let stored = try #require(try await ledger.get(record.id))
            #expect(stored == record)
            #expect(stored.usage?.cacheCreationInputTokens == 900)

            // Times come back to the millisecond: a record compares equal to its normalized form.
            var precise = record
            precise.endedAt = Date(timeIntervalSince1970: 1_777_630_000.123_456_7)
            try await ledger.save(precise)
            #expect(try await ledger.get(record.id) == precise.normalized())
            #expect(precise.normalized().endedAt == Fixture.time("2026-05-01T10:06:40.123Z"))
        }
    }

    @Test("save adds a record that is not there yet; update of an unknown id changes nothing")
    func saveAndUpdateUnknown() async throws {
        try await Fixture.withLedger { ledger, _ in
            let record = Fixture.record(created: Date(), status: .failed)
            try await ledger.save(record)
            #expect(try await ledger.get(record.id) == record)
            let unknown = ULID().description
            #expect(try await ledger.update(unknown) { $0.status = .completed } == nil)
            #expect(try await ledger.get(unknown) == nil)
        }
    }

    @Test("insert refuses an id that is already recorded or is not a ULID")
    func insertRefuses() async throws {
        try await Fixture.withLedger { ledger, _ in
            let record = Fixture.record(created: Date())
            try await ledger.insert(record)
            let duplicate = await #expect(throws: LedgerError.self) { try await ledger.insert(record) }
            #expect(duplicate?.description == "run \(record.id) is already in the ledger")
            let odd = RunRecord(id: "../../etc/passwd", kind: .run, transport: .cli)
            let invalid = await #expect(throws: LedgerError.self) { try await ledger.insert(odd) }
            #expect(invalid?.description.contains("not a ULID") == true)
        }
    }

    @Test("error is cut to 4000 characters when written")
    func errorCut() async throws {
        try await Fixture.withLedger { ledger, _ in
            var record = Fixture.record(created: Date(), status: .failed)
            record.error = String(repeating: "é", count: 4_500)
            try await ledger.insert(record)
            #expect(try await ledger.get(record.id)?.error == String(repeating: "é", count: 4_000))
            let updated = try await ledger.update(record.id) { $0.error = String(repeating: "x", count: 9_000) }
            #expect(updated?.error?.count == 4_000)
            #expect(try await ledger.get(record.id)?.error?.count == 4_000)
        }
    }

    @Test("list is newest first and filters by status, kind and repo, alone and together")
    func listFilters() async throws {
        try await Fixture.withLedger { ledger, _ in
            let kinds: [RunRecord.Kind] = [.run, .review, .issue]
            let statuses: [RunRecord.Status] = [.completed, .failed, .running, .cancelled]
            let repos = ["acme/a", "acme/b", nil]
            let records = Fixture.records(60, from: Fixture.time("2026-05-01T00:00:00Z")) { index, record in
                record.kind = kinds[index % 3]
                record.status = statuses[index % 4]
                record.repo = repos[index % 5 % 3]
            }
            for record in records { try await ledger.insert(record) }
            let newestFirst = Array(records.reversed())

            func expectList(_ query: RunQuery, _ matching: (RunRecord) -> Bool) async throws {
                let listed = try await ledger.list(query)
                let expected = Array(newestFirst.filter(matching).prefix(query.limit))
                #expect(!expected.isEmpty)
                #expect(listed.map(\.id) == expected.map(\.id), "\(query)")
            }
            try await expectList(try RunQuery()) { _ in true }
            try await expectList(try RunQuery(limit: 7)) { _ in true }
            try await expectList(try RunQuery(status: .failed)) { $0.status == .failed }
            try await expectList(try RunQuery(kind: .issue)) { $0.kind == .issue }
            try await expectList(try RunQuery(repo: "acme/b")) { $0.repo == "acme/b" }
            try await expectList(try RunQuery(status: .completed, kind: .run)) {
                $0.status == .completed && $0.kind == .run
            }
            try await expectList(try RunQuery(status: .running, kind: .review, repo: "acme/a", limit: 2)) {
                $0.status == .running && $0.kind == .review && $0.repo == "acme/a"
            }
            #expect(try await ledger.list(try RunQuery(repo: "acme/none")).isEmpty)
        }
    }

    @Test("before pages through every run exactly once, also under a filter")
    func beforePaging() async throws {
        try await Fixture.withLedger { ledger, _ in
            let records = Fixture.records(123, from: Fixture.time("2026-05-01T00:00:00Z")) { index, record in
                record.status = index % 2 == 0 ? .completed : .failed
            }
            for record in records { try await ledger.insert(record) }

            func pages(_ status: RunRecord.Status?) async throws -> [[String]] {
                var pages: [[String]] = []
                var before: String?
                while pages.count < 10 {
                    let page = try await ledger.list(try RunQuery(status: status, limit: 50, before: before))
                    if page.isEmpty { break }
                    pages.append(page.map(\.id))
                    before = page.last?.id
                }
                return pages
            }
            let all = try await pages(nil)
            #expect(all.map(\.count) == [50, 50, 23])
            #expect(all.flatMap { $0 } == records.reversed().map(\.id))
            let failed = try await pages(.failed)
            #expect(failed.map(\.count) == [50, 11])
            #expect(failed.flatMap { $0 } == records.reversed().filter { $0.status == .failed }.map(\.id))
            // A run id that is not recorded works as a position too.
            let middle = ULID(milliseconds: UInt64(records[60].createdAt.timeIntervalSince1970 * 1000) + 1)
            let older = try await ledger.list(try RunQuery(limit: 500, before: middle.description))
            #expect(older.map(\.id) == records.prefix(61).reversed().map(\.id))
        }
    }

    @Test("usage groups by repo, day, model and kind, with a total, from since on")
    func usageGrouping() async throws {
        try await Fixture.withLedger { ledger, _ in
            func run(
                _ created: String, _ kind: RunRecord.Kind, _ repo: String?, _ model: String?, cost: Double,
                input: Int, output: Int, turns: Int
            ) -> RunRecord {
                var record = Fixture.record(
                    created: Fixture.time(created), kind: kind, status: .completed, repo: repo, model: model)
                record.costUSD = cost
                record.usage = .init(inputTokens: input, outputTokens: output, cacheReadInputTokens: 7)
                record.numTurns = turns
                return record
            }
            let runs = [
                // Before `since`: never counted.
                run("2026-04-30T23:59:59Z", .run, "acme/a", "sonnet", cost: 100, input: 100, output: 100, turns: 100),
                run("2026-05-01T00:00:00Z", .run, "acme/a", "sonnet", cost: 0.5, input: 1000, output: 100, turns: 2),
                run("2026-05-01T13:00:00Z", .review, "acme/b", "opus", cost: 2.0, input: 5000, output: 700, turns: 6),
                run("2026-05-02T08:00:00Z", .issue, "acme/a", "opus", cost: 1.25, input: 3000, output: 300, turns: 9),
                run("2026-05-02T23:59:59.999Z", .run, nil, nil, cost: 0.25, input: 10, output: 5, turns: 1),
            ]
            for record in runs { try await ledger.insert(record) }
            // A queued run has no cost yet but counts as a run.
            try await ledger.insert(Fixture.record(created: Fixture.time("2026-05-03T01:00:00Z"), repo: "acme/b"))
            let since = Fixture.time("2026-05-01T00:00:00Z")

            let byRepo = try await ledger.usage(UsageQuery(since: since, by: .repo))
            #expect(byRepo.since == since)
            #expect(byRepo.by == .repo)
            #expect(
                byRepo.rows == [
                    UsageRow(key: "acme/b", runs: 2, costUSD: 2.0, inputTokens: 5000, outputTokens: 700, numTurns: 6),
                    UsageRow(key: "acme/a", runs: 2, costUSD: 1.75, inputTokens: 4000, outputTokens: 400, numTurns: 11),
                    UsageRow(key: nil, runs: 1, costUSD: 0.25, inputTokens: 10, outputTokens: 5, numTurns: 1),
                ])
            #expect(
                byRepo.total == UsageRow(runs: 5, costUSD: 4.0, inputTokens: 9010, outputTokens: 1105, numTurns: 18))

            let byDay = try await ledger.usage(UsageQuery(since: since, by: .day))
            #expect(byDay.rows.map(\.key) == ["2026-05-01", "2026-05-02", "2026-05-03"])
            #expect(byDay.rows.map(\.costUSD) == [2.5, 1.5, 0])
            #expect(byDay.rows.map(\.runs) == [2, 2, 1])
            #expect(byDay.total == byRepo.total)

            let byModel = try await ledger.usage(UsageQuery(since: since, by: .model))
            #expect(byModel.rows.map(\.key) == ["opus", "sonnet", nil])
            #expect(byModel.rows.map(\.runs) == [2, 1, 2])
            #expect(byModel.rows.map(\.outputTokens) == [1000, 100, 5])

            let byKind = try await ledger.usage(UsageQuery(since: since, by: .kind))
            #expect(byKind.rows.map(\.key) == ["review", "issue", "run"])
            #expect(byKind.rows.map(\.runs) == [1, 1, 3])
            #expect(byKind.rows.map(\.numTurns) == [6, 9, 3])

            let nothing = try await ledger.usage(UsageQuery(since: Fixture.time("2027-01-01T00:00:00Z")))
            #expect(nothing.rows.isEmpty)
            #expect(nothing.total == UsageRow())
        }
    }

    @Test("usage from the daily sums agrees with the runs themselves, after updates, saves and a sweep")
    func usageMatchesRuns() async throws {
        try await Fixture.withLedger { ledger, _ in
            var random = SeededRandom(seed: 7)
            let start = Fixture.time("2026-05-01T00:00:00Z")
            let repos: [String?] = ["acme/a", "acme/b", "acme/c", nil, ""]
            let models: [String?] = ["opus", "sonnet", nil]
            var ids: [String] = []
            for _ in 0..<400 {
                var record = Fixture.record(
                    created: start.addingTimeInterval(Double(random.next(below: 5 * 86_400_000)) / 1000),
                    kind: RunRecord.Kind.allCases[random.next(below: 3)], repo: repos[random.next(below: 5)],
                    model: models[random.next(below: 3)])
                if random.next(below: 2) == 0 { record.costUSD = Double(random.next(below: 3_000_000)) / 1_234_567 }
                try await ledger.insert(record)
                ids.append(record.id)
            }
            for (index, id) in ids.enumerated() {
                let cost = Double(random.next(below: 5_000_000)) / 3_333_333
                let tokens = random.next(below: 100_000)
                let repo = repos[random.next(below: 5)]
                switch index % 4 {
                case 0:
                    try await ledger.update(id) { run in
                        run.status = .completed
                        run.costUSD = cost
                        run.usage = .init(inputTokens: tokens, outputTokens: tokens / 7)
                        run.numTurns = tokens % 40
                    }
                case 1:
                    try await ledger.update(id) { run in
                        run.repo = repo
                        run.costUSD = nil
                    }
                case 2:
                    var record = try #require(try await ledger.get(id))
                    record.model = "haiku"
                    record.costUSD = cost
                    record.usage = .init(outputTokens: tokens)
                    try await ledger.save(record)
                default: break
                }
            }
            try await ledger.save(Fixture.record(created: start.addingTimeInterval(4 * 86_400), repo: "acme/new"))
            // In the middle of a day, so that some of its sums lose runs and keep others.
            #expect(try await ledger.sweep(olderThan: start.addingTimeInterval(1.5 * 86_400)) > 0)

            var runs: [RunRecord] = []
            var before: String?
            while true {
                let page = try await ledger.list(try RunQuery(limit: 500, before: before))
                runs += page
                guard let last = page.last else { break }
                before = last.id
            }
            #expect(runs.count > 250)

            func key(_ run: RunRecord, _ by: UsageQuery.Grouping) -> String? {
                switch by {
                case .repo: run.repo.flatMap { $0.isEmpty ? nil : $0 }
                case .model: run.model
                case .kind: run.kind.rawValue
                case .day: String(Timestamp.string(from: UTCDay.start(of: run.createdAt)).prefix(10))
                }
            }
            let sinces = [
                start, start.addingTimeInterval(86_400), start.addingTimeInterval(86_400 + 7 * 3600 + 13 * 60 + 0.5),
                start.addingTimeInterval(3.5 * 86_400), start.addingTimeInterval(10 * 86_400), .distantPast,
            ]
            for since in sinces {
                for by in UsageQuery.Grouping.allCases {
                    var expected: [String?: UsageRow] = [:]
                    for run in runs where run.createdAt >= Fixture.milliseconds(since) {
                        let micro = ((run.costUSD ?? 0) * 1_000_000).rounded()
                        expected[key(run, by), default: UsageRow(key: key(run, by))].add(
                            UsageRow(
                                runs: 1, costUSD: micro, inputTokens: run.usage?.inputTokens ?? 0,
                                outputTokens: run.usage?.outputTokens ?? 0, numTurns: run.numTurns ?? 0))
                    }
                    let report = try await ledger.usage(UsageQuery(since: since, by: by))
                    let reported = Dictionary(uniqueKeysWithValues: report.rows.map { ($0.key, $0) })
                    #expect(Set(reported.keys) == Set(expected.keys), "since \(since) by \(by)")
                    for (group, row) in expected {
                        var row = row
                        row.costUSD /= 1_000_000
                        let actual = reported[group]
                        #expect(actual?.runs == row.runs, "since \(since) by \(by) key \(group ?? "-")")
                        #expect(abs((actual?.costUSD ?? -1) - row.costUSD) < 1e-9, "\(since) \(by) \(group ?? "-")")
                        #expect(actual?.inputTokens == row.inputTokens && actual?.outputTokens == row.outputTokens)
                        #expect(actual?.numTurns == row.numTurns)
                    }
                }
            }
        }
    }

    @Test("costSince counts the runs that ended since the given time, across midnight UTC")
    func costAcrossMidnight() async throws {
        try await Fixture.withLedger { ledger, _ in
            func ended(_ created: String, _ ended: String?, cost: Double?) -> RunRecord {
                var record = Fixture.record(
                    created: Fixture.time(created), status: ended == nil ? .running : .completed)
                record.endedAt = ended.map(Fixture.time)
                record.costUSD = cost
                return record
            }
            let runs = [
                ended("2026-05-01T22:00:00Z", "2026-05-01T23:59:59.999Z", cost: 1.0),  // yesterday
                ended("2026-05-01T23:50:00Z", "2026-05-02T00:10:00Z", cost: 0.75),  // began yesterday, ended today
                ended("2026-05-02T00:00:00Z", "2026-05-02T00:00:00Z", cost: 0.5),  // exactly at midnight
                ended("2026-05-02T09:00:00Z", "2026-05-02T09:30:00Z", cost: 0.25),
                ended("2026-05-02T10:00:00Z", "2026-05-02T10:01:00Z", cost: nil),  // no cost reported
                ended("2026-05-02T11:00:00Z", nil, cost: nil),  // still running
            ]
            for record in runs { try await ledger.insert(record) }
            let now = Fixture.time("2026-05-02T12:34:56Z")
            #expect(UTCDay.start(of: now) == Fixture.time("2026-05-02T00:00:00Z"))
            #expect(UTCDay.nextStart(after: now) == Fixture.time("2026-05-03T00:00:00Z"))
            #expect(try await ledger.costSince(UTCDay.start(of: now)) == 1.5)
            #expect(try await ledger.costToday(now: now) == 1.5)
            #expect(try await ledger.costSince(Fixture.time("2026-05-01T00:00:00Z")) == 2.5)
            #expect(try await ledger.costSince(Fixture.time("2026-05-03T00:00:00Z")) == 0)
        }
    }

    @Test("records survive closing and reopening the database")
    func reopen() async throws {
        try await TemporaryDirectory.with("ledger-reopen") { directory in
            let path = directory.appending("runs.db")
            let first = try SQLiteRunLedger.open(path: path, logger: Fixture.logger)
            let records = Fixture.records(25, from: Fixture.time("2026-05-01T00:00:00Z")) { index, record in
                record.status = .completed
                record.costUSD = Double(index)
            }
            for record in records { try await first.insert(record) }
            await first.close()

            let log = CapturedLog()
            let second = try SQLiteRunLedger.open(path: path, logger: log.logger)
            #expect(try await second.list(try RunQuery(limit: 500)) == records.reversed())
            #expect(log.warnings.isEmpty)
            #expect(
                try FileManager.default.contentsOfDirectory(atPath: directory.path).allSatisfy {
                    !$0.contains("corrupt")
                })
            await second.close()
        }
    }

    @Test("saveLater: every read and write after it sees the newest save, many runs at once; close writes the rest")
    func saveLater() async throws {
        try await TemporaryDirectory.with("ledger-save-later") { directory in
            let path = directory.appending("runs.db")
            let ledger = try SQLiteRunLedger.open(path: path, logger: Fixture.logger)
            var record = RunRecord(kind: .run, transport: .http, repo: "acme/widgets")
            ledger.saveLater(record)
            #expect(try await ledger.get(record.id)?.status == .queued)
            record.status = .running
            record.startedAt = Fixture.time("2026-05-01T10:00:00Z")
            ledger.saveLater(record)
            // A write sees it too: the update starts from the running record.
            let updated = try await ledger.update(record.id) { $0.numTurns = 3 }
            #expect(updated?.status == .running)
            #expect(updated?.startedAt == record.startedAt)

            // Many runs, each saved three times from its own task: only the newest save of each stays.
            let count = 200
            await withTaskGroup(of: Void.self) { group in
                for index in 0..<count {
                    group.addTask {
                        var run = RunRecord(kind: .review, transport: .nats, repo: "acme/\(index % 5)")
                        ledger.saveLater(run)
                        run.status = .running
                        ledger.saveLater(run)
                        run.status = .completed
                        run.costUSD = 0.5
                        run.numTurns = index
                        ledger.saveLater(run)
                    }
                }
            }
            let reviews = try await ledger.list(try RunQuery(kind: .review, limit: 500))
            #expect(reviews.count == count)
            #expect(reviews.allSatisfy { $0.status == .completed && $0.costUSD == 0.5 })
            #expect(Set(reviews.compactMap(\.numTurns)) == Set(0..<count))
            #expect(try await ledger.usage(UsageQuery(since: .distantPast, by: .kind)).total.runs == count + 1)

            // A save right before close is on disk after it, and a bad id is logged, not written.
            record.status = .completed
            ledger.saveLater(record)
            ledger.saveLater(RunRecord(id: "not-a-ulid", kind: .run, transport: .http))
            await ledger.close()
            let reopened = try SQLiteRunLedger.open(path: path, logger: Fixture.logger)
            #expect(try await reopened.get(record.id)?.status == .completed)
            #expect(try await reopened.list(try RunQuery(limit: 500)).count == count + 1)
            await reopened.close()
        }
    }

    @Test("saveLater with no read after it: saves that keep coming while the writer commits reach the file too")
    func saveLaterReachesTheFile() async throws {
        try await TemporaryDirectory.with("ledger-save-later-file") { directory in
            let path = directory.appending("runs.db")
            let ledger = try SQLiteRunLedger.open(path: path, logger: Fixture.logger)
            // A steady stream of saves for longer than several write delays: the first batch is committed while
            // later saves arrive, and those must be written by a later batch, not wait for a read.
            var ids: [String] = []
            for index in 0..<150 {
                var run = RunRecord(kind: .run, transport: .http, repo: "acme/\(index % 3)")
                ledger.saveLater(run)
                run.status = .completed
                run.costUSD = 0.25
                ledger.saveLater(run)
                ids.append(run.id)
                try await Task.sleep(for: .milliseconds(2))
            }
            // Another connection reads the file; the ledger itself is never asked, so it never settles on a read.
            var configuration = Configuration()
            configuration.readonly = true
            let reader = try DatabaseQueue(path: path, configuration: configuration)
            let deadline = ContinuousClock.now + .seconds(30)
            var written: [String: String] = [:]
            while ContinuousClock.now < deadline {
                written = try await reader.read { db in
                    Dictionary(
                        uniqueKeysWithValues: try Row.fetchAll(db, sql: "SELECT id, status FROM runs").map {
                            ($0["id"] as String, $0["status"] as String)
                        })
                }
                if written.count == ids.count, written.values.allSatisfy({ $0 == "completed" }) { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(Set(written.keys) == Set(ids))
            let unfinished = written.values.filter { $0 != "completed" }
            #expect(unfinished.isEmpty, "\(unfinished)")
            try reader.close()
            await ledger.close()
        }
    }

    @Test("markInterrupted ends the runs left queued or running, only the named runner's when given")
    func markInterrupted() async throws {
        try await Fixture.withLedger { ledger, _ in
            let start = Fixture.time("2026-05-01T00:00:00Z")
            var running = Fixture.record(created: start, status: .running, runner: "host-1")
            running.startedAt = start.addingTimeInterval(2)
            let queued = Fixture.record(created: start.addingTimeInterval(1), status: .queued, runner: "host-1")
            let done = Fixture.record(created: start.addingTimeInterval(3), status: .completed, runner: "host-1")
            let other = Fixture.record(created: start.addingTimeInterval(4), status: .running, runner: "host-2")
            for record in [running, queued, done, other] { try await ledger.insert(record) }

            let before = Date()
            let ids = try await ledger.markInterrupted(runner: "host-1")
            #expect(ids == [running.id, queued.id])
            let interrupted = try #require(try await ledger.get(running.id))
            #expect(interrupted.status == .interrupted)
            #expect(try #require(interrupted.endedAt) >= Fixture.milliseconds(before))
            #expect(interrupted.durationMs.map { $0 > 0 } == true)
            #expect(interrupted.error?.contains("interrupted") == true)
            #expect(try await ledger.get(queued.id)?.status == .interrupted)
            #expect(try await ledger.get(queued.id)?.durationMs == nil)
            #expect(try await ledger.get(done.id) == done)
            #expect(try await ledger.get(other.id)?.status == .running)

            #expect(try await ledger.markInterrupted(runner: "host-1").isEmpty)
            #expect(try await ledger.markInterrupted(runner: nil) == [other.id])
            #expect(try await ledger.list(try RunQuery(status: .running)).isEmpty)
        }
    }

    @Test("sweep deletes old runs and their transcripts, keeps new ones, and finds nothing the second time")
    func sweep() async throws {
        try await Fixture.withLedger { ledger, _ in
            let now = Date()
            let old = Fixture.records(1_200, from: now.addingTimeInterval(-40 * 86_400))
            let recent = Fixture.records(30, from: now.addingTimeInterval(-86_400))
            for record in old + recent { try await ledger.insert(record) }
            for record in [old[0], old[1_199], recent[0]] {
                await ledger.withTranscript(for: record.id) { writer in writer.append(#"{"type":"text"}"#) }
                #expect(ledger.transcript(record.id) != nil)
            }
            // A transcript whose run is gone (the database was replaced) goes once it is as old as the cutoff.
            let orphan = ledger.transcriptDirectory + "/\(ULID().description).ndjson"
            try Data("{}\n".utf8).write(to: URL(fileURLWithPath: orphan))
            try FileManager.default.setAttributes(
                [.modificationDate: now.addingTimeInterval(-31 * 86_400)], ofItemAtPath: orphan)

            let deleted = try await ledger.sweep(olderThan: now.addingTimeInterval(-30 * 86_400))
            #expect(deleted == 1_200)
            #expect(try await ledger.get(old[0].id) == nil)
            #expect(try await ledger.list(try RunQuery(limit: 500)).map(\.id) == recent.reversed().map(\.id))
            #expect(ledger.transcript(old[0].id) == nil)
            #expect(ledger.transcript(old[1_199].id) == nil)
            #expect(ledger.transcript(recent[0].id) != nil)
            #expect(!FileManager.default.fileExists(atPath: orphan))

            #expect(try await ledger.sweep(olderThan: now.addingTimeInterval(-30 * 86_400)) == 0)
            #expect(try await ledger.list(try RunQuery(limit: 500)).count == 30)
        }
    }

    @Test("many runs writing at once lose nothing")
    func concurrentWriters() async throws {
        try await Fixture.withLedger { ledger, _ in
            let count = 64
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<count {
                    group.addTask {
                        var record = RunRecord(kind: .issue, transport: .nats, repo: "acme/\(index % 4)")
                        try await ledger.insert(record)
                        try await ledger.withTranscript(for: record.id) { writer in
                            try await ledger.update(record.id) { run in
                                run.status = .running
                                run.startedAt = Date()
                            }
                            for line in 0..<200 { writer.append(#"{"type":"text","n":\#(line)}"#) }
                            _ = try await ledger.list(try RunQuery(repo: record.repo))
                        }
                        record.status = .completed
                        record.endedAt = Date()
                        record.costUSD = 0.01
                        record.numTurns = index
                        try await ledger.save(record)
                    }
                }
                try await group.waitForAll()
            }
            let runs = try await ledger.list(try RunQuery(limit: 500))
            #expect(runs.count == count)
            #expect(runs.allSatisfy { $0.status == .completed && $0.costUSD == 0.01 })
            #expect(Set(runs.compactMap(\.numTurns)) == Set(0..<count))
            for run in runs {
                let lines = try await #require(ledger.transcript(run.id)).collect()
                #expect(lines.count == 200)
                #expect(lines.last == #"{"type":"text","n":199}"#)
            }
            #expect(abs(try await ledger.costSince(.distantPast) - 0.01 * Double(count)) < 1e-9)
            let usage = try await ledger.usage(UsageQuery(since: .distantPast, by: .repo))
            #expect(usage.total.runs == count)
            #expect(usage.rows.count == 4)
        }
    }

    @Test("a run whose task is cancelled still records how it ended")
    func cancelledTaskStillWrites() async throws {
        try await Fixture.withLedger { ledger, _ in
            let record = Fixture.record(created: Date())
            try await ledger.insert(record)
            let task = Task {
                // Wait for the cancellation, as a run does when its client goes away.
                while !Task.isCancelled { await Task.yield() }
                try await ledger.update(record.id) { $0.status = .cancelled }
                var final = record
                final.status = .cancelled
                final.endedAt = Fixture.milliseconds(Date())
                try await ledger.save(final)
            }
            task.cancel()
            try await task.value
            let stored = try #require(try await ledger.get(record.id))
            #expect(stored.status == .cancelled)
            #expect(stored.endedAt != nil)
        }
    }

    @Test("list, usage and the budget sum use indexes, not a scan of every run")
    func queryPlans() async throws {
        try await TemporaryDirectory.with("ledger-plans") { directory in
            let path = directory.appending("runs.db")
            let ledger = try SQLiteRunLedger.open(path: path, logger: Fixture.logger)
            await ledger.close()
            let database = try DatabaseQueue(path: path)
            func plan(_ sql: String, _ arguments: StatementArguments = []) throws -> String {
                try database.read { db in
                    try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + sql, arguments: arguments)
                        .map { $0["detail"] as String }.joined(separator: " | ")
                }
            }
            let lists = [
                "SELECT * FROM runs ORDER BY id DESC LIMIT 50",
                "SELECT * FROM runs WHERE id < 'X' ORDER BY id DESC LIMIT 50",
                "SELECT * FROM runs WHERE status = 'failed' ORDER BY id DESC LIMIT 50",
                "SELECT * FROM runs WHERE status = 'failed' AND id < 'X' ORDER BY id DESC LIMIT 50",
                "SELECT * FROM runs WHERE kind = 'issue' ORDER BY id DESC LIMIT 50",
                "SELECT * FROM runs WHERE repo = 'a/b' ORDER BY id DESC LIMIT 50",
            ]
            for sql in lists {
                let detail = try plan(sql)
                #expect(detail.contains("USING INDEX") || detail.contains("USING PRIMARY KEY"), "\(sql): \(detail)")
                #expect(!detail.contains("TEMP B-TREE"), "\(sql) sorts: \(detail)")
            }
            #expect(try plan("SELECT TOTAL(cost_usd) FROM runs WHERE ended_at >= 0").contains("COVERING INDEX"))
            #expect(try plan("DELETE FROM runs WHERE created_at < 0").contains("runs_created_at"))
            try database.close()
        }
    }
}

/// A small seeded generator, so that a failing case can be run again.
struct SeededRandom {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next(below bound: Int) -> Int {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return Int((z ^ (z >> 31)) % UInt64(bound))
    }
}
