import Foundation
import Synchronization

/// `limits.dailyBudgetUSD`: the cost recorded since 00:00 UTC, and whether new runs may start.
public final class DailyBudget: Sendable {
    public let limit: Double?
    private let spent = Mutex<(day: Date, cost: Double)>((UTCDay.start(of: Date()), 0))

    public init(limit: Double?) {
        self.limit = limit
    }

    /// Sets today's cost as recorded (at start-up, from the ledger).
    public func load(cost: Double, now: Date = Date()) {
        spent.withLock { $0 = (UTCDay.start(of: now), cost) }
    }

    /// Adds a run's cost, at the time it ended.
    func add(_ cost: Double, now: Date = Date()) {
        guard cost > 0, cost.isFinite else { return }
        spent.withLock { spent in
            let day = UTCDay.start(of: now)
            if spent.day != day { spent = (day, 0) }
            spent.cost += cost
        }
    }

    /// What was spent today (UTC).
    public func spentToday(now: Date = Date()) -> Double {
        spent.withLock { $0.day == UTCDay.start(of: now) ? $0.cost : 0 }
    }

    /// Refuses a new run once today's cost has reached the limit: 429 until midnight UTC.
    func check(now: Date = Date()) throws(RunnerError) {
        guard let limit else { return }
        let cost = spentToday(now: now)
        guard cost >= limit else { return }
        let midnight = UTCDay.nextStart(after: now)
        var error = RunnerError(
            .overBudget,
            "the daily budget of \(Money.format(limit)) is spent (\(Money.format(cost)) since 00:00 UTC); "
                + "new runs are refused until midnight UTC (limits.dailyBudgetUSD)")
        error.retryAfter = max(1, Int(midnight.timeIntervalSince(now).rounded(.up)))
        throw error
    }
}
