import ClaudeRunner
import Foundation
import Logging

/// Fills a run ledger in a temporary directory with runs of a realistic mix and prints how long its queries
/// take: `swift run -c release ledger-bench [runs]` (default 100,000).
@main
struct LedgerBench {
    static let repos = (1...40).map { "acme/service-\($0)" }
    static let models = ["claude-sonnet-4-6", "claude-opus-4-7", "claude-haiku-4-5"]

    static func main() async throws {
        let count = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 100_000 : 100_000
        var logger = Logger(label: "ledger-bench")
        logger.logLevel = .error
        let directory = NSTemporaryDirectory() + "ledger-bench-\(ULID().description.lowercased())"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/runs.db"
        let ledger = try SQLiteRunLedger.open(path: path, logger: logger)

        // Runs spread over the last 30 days, oldest first, as a runner would have recorded them.
        let now = Date()
        let span: TimeInterval = 30 * 86_400
        var generator = SplitMix(seed: 42)
        var records: [RunRecord] = []
        records.reserveCapacity(count)
        for index in 0..<count {
            let created = now.addingTimeInterval(-span + span * Double(index) / Double(count))
            records.append(makeRecord(created: created, generator: &generator))
        }
        let middleID = records[count / 2].id
        let workers = 4
        let fillStart = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for share in records.chunked(into: workers) {
                group.addTask {
                    for record in share { try await ledger.save(record) }
                }
            }
            try await group.waitForAll()
        }
        let fill = ContinuousClock.now - fillStart
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        let walSize = (try? FileManager.default.attributesOfItem(atPath: path + "-wal")[.size] as? Int) ?? 0
        print("runs: \(count)  fill: \(format(fill)) (\(workers) writers, one transaction per run)")
        print("database: \((size + walSize) / 1_048_576) MiB (with WAL)")

        try await measure("list(limit: 50)", iterations: 300) {
            _ = try await ledger.list(try RunQuery())
        }
        try await measure("list(status: failed, limit: 50)", iterations: 300) {
            _ = try await ledger.list(try RunQuery(status: .failed))
        }
        try await measure("list(status: budget_exceeded, limit: 50)", iterations: 300) {
            _ = try await ledger.list(try RunQuery(status: .budgetExceeded))
        }
        try await measure("list(repo: acme/service-7, limit: 50)", iterations: 300) {
            _ = try await ledger.list(try RunQuery(repo: "acme/service-7"))
        }
        try await measure("list(kind: issue, status: completed, limit: 50)", iterations: 300) {
            _ = try await ledger.list(try RunQuery(status: .completed, kind: .issue))
        }
        try await measure("list(before: <middle>, limit: 50)", iterations: 300) {
            _ = try await ledger.list(try RunQuery(before: middleID))
        }
        try await measure("list(limit: 500)", iterations: 100) {
            _ = try await ledger.list(try RunQuery(limit: 500))
        }
        try await measure("get(id)", iterations: 300) {
            _ = try await ledger.get(middleID)
        }
        try await measure("usage(by: repo, since: 30d)", iterations: 20) {
            _ = try await ledger.usage(UsageQuery(since: now.addingTimeInterval(-span), by: .repo))
        }
        try await measure("usage(by: day, since: 30d)", iterations: 20) {
            _ = try await ledger.usage(UsageQuery(since: now.addingTimeInterval(-span), by: .day))
        }
        try await measure("usage(by: model, since: 7d)", iterations: 20) {
            _ = try await ledger.usage(UsageQuery(since: now.addingTimeInterval(-7 * 86_400), by: .model))
        }
        try await measure("costSince(00:00 UTC)", iterations: 300) {
            _ = try await ledger.costToday()
        }
        try await measure("a run's writes (insert + 2 updates)", iterations: 300) {
            var record = RunRecord(kind: .review, transport: .http, repo: "acme/service-1", model: models[0])
            try await ledger.insert(record)
            try await ledger.update(record.id) { run in
                run.status = .running
                run.startedAt = Date()
            }
            record.status = .completed
            record.endedAt = Date()
            record.costUSD = 0.12
            record.numTurns = 4
            record.usage = .init(inputTokens: 1200, outputTokens: 300)
            try await ledger.save(record)
        }
        await ledger.close()

        let openStart = ContinuousClock.now
        let reopened = try SQLiteRunLedger.open(path: path, logger: logger)
        print("open (quick_check + migrations) of the filled database: \(format(ContinuousClock.now - openStart))")
        let sweepStart = ContinuousClock.now
        let swept = try await reopened.sweep(olderThan: now.addingTimeInterval(-span / 2))
        print("sweep of \(swept) runs older than 15 days: \(format(ContinuousClock.now - sweepStart))")
        let idleStart = ContinuousClock.now
        _ = try await reopened.sweep(olderThan: now.addingTimeInterval(-span / 2))
        print("sweep with nothing to delete: \(format(ContinuousClock.now - idleStart))")
        await reopened.close()
    }

    static func makeRecord(created: Date, generator: inout SplitMix) -> RunRecord {
        let roll = generator.unit()
        let kind: RunRecord.Kind = roll < 0.5 ? .run : roll < 0.85 ? .review : .issue
        let statusRoll = generator.unit()
        let status: RunRecord.Status =
            switch statusRoll {
            case ..<0.75: .completed
            case ..<0.85: .failed
            case ..<0.89: .maxTurns
            case ..<0.90: .budgetExceeded
            case ..<0.92: .timeout
            case ..<0.93: .idle
            case ..<0.96: .cancelled
            default: .interrupted
            }
        // A few repos get most of the runs.
        let repoIndex = min(repos.count - 1, Int(pow(generator.unit(), 2.5) * Double(repos.count)))
        let repo = kind == .run && generator.unit() < 0.3 ? nil : repos[repoIndex]
        let duration = Int(5_000 + generator.unit() * 600_000)
        let turns = 1 + Int(generator.unit() * 30)
        let input = 2_000 + Int(generator.unit() * 200_000)
        let output = 200 + Int(generator.unit() * 20_000)
        let started = created.addingTimeInterval(generator.unit() * 5)
        return RunRecord(
            id: ULID(milliseconds: UInt64(created.timeIntervalSince1970 * 1000)).description, kind: kind,
            transport: generator.unit() < 0.6 ? .http : .nats, status: status, createdAt: created, repo: repo,
            ref: repo == nil ? nil : "main", baseRef: kind == .review ? "main" : nil,
            prNumber: kind == .review ? Int(generator.unit() * 5_000) : nil,
            issueNumber: kind == .issue ? Int(generator.unit() * 5_000) : nil,
            model: models[Int(generator.unit() * Double(models.count)) % models.count],
            error: status == .completed ? nil : "claude exited with status 1: something went wrong",
            startedAt: started, endedAt: started.addingTimeInterval(Double(duration) / 1000), durationMs: duration,
            exitCode: status == .completed ? 0 : 1, sessionId: UUID().uuidString.lowercased(),
            costUSD: (generator.unit() * 2).rounded(toPlaces: 4), numTurns: turns,
            usage: .init(
                inputTokens: input, outputTokens: output, cacheReadInputTokens: input / 2,
                cacheCreationInputTokens: input / 10),
            permissionDenials: generator.unit() < 0.1 ? 1 : 0,
            pullRequest: kind == .issue && status == .completed ? "https://github.com/\(repos[repoIndex])/pull/1" : nil,
            runner: "bench-host-1", workspaceSource: repo == nil ? nil : .mirror, workspaceMs: repo == nil ? nil : 350)
    }

    static func measure(_ name: String, iterations: Int, _ body: @Sendable () async throws -> Void) async throws {
        try await body()  // warm the caches
        var samples: [Duration] = []
        samples.reserveCapacity(iterations)
        for _ in 0..<iterations {
            let start = ContinuousClock.now
            try await body()
            samples.append(ContinuousClock.now - start)
        }
        samples.sort()
        let median = samples[samples.count / 2]
        let p99 = samples[min(samples.count - 1, Int(Double(samples.count) * 0.99))]
        print(
            name.padding(toLength: 48, withPad: " ", startingAt: 0)
                + "median \(format(median))  p99 \(format(p99))  (\(iterations) runs)")
    }

    static func format(_ duration: Duration) -> String {
        let milliseconds = Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
        if milliseconds >= 1000 { return String(format: "%.2f s", milliseconds / 1000) }
        return String(format: "%.3f ms", milliseconds)
    }
}

/// A small seeded generator, so that every run of the benchmark fills the same ledger.
struct SplitMix {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A number in [0, 1).
    mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }
}

extension Double {
    func rounded(toPlaces places: Int) -> Double {
        let scale = Foundation.pow(10, Double(places))
        return (self * scale).rounded() / scale
    }
}

extension Array {
    func chunked(into parts: Int) -> [[Element]] {
        let size = (count + parts - 1) / parts
        return stride(from: 0, to: count, by: size).map { Array(self[$0..<Swift.min($0 + size, count)]) }
    }
}
