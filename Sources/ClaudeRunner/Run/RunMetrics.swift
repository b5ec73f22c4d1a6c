import Metrics
import Synchronization

/// The runner's metrics, through the swift-metrics API only (the executable chooses the backend:
/// Prometheus). Names and labels are the contract of spec section 11.
public enum RunMetrics {
    /// A run ended: counted by kind and status, its duration, cost and tokens added up by kind.
    static func runFinished(kind: RunKind, status: RunStatus, duration: Duration, costUSD: Double?, usage: TokenUsage?)
    {
        let (runs, durations) = runSeries(kind: kind, status: status)
        runs.increment()
        durations.recordNanoseconds(
            duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000)
        if let costUSD, costUSD > 0 {
            FloatingPointCounter(label: "claude_runner_cost_usd_total", dimensions: [("kind", kind.rawValue)])
                .increment(by: costUSD)
        }
        if let usage {
            for (type, count) in [
                ("input", usage.inputTokens), ("output", usage.outputTokens),
                ("cache_read", usage.cacheReadInputTokens),
                ("cache_creation", usage.cacheCreationInputTokens),
            ] where count > 0 {
                Counter(label: "claude_runner_tokens_total", dimensions: [("kind", kind.rawValue), ("type", type)])
                    .increment(by: count)
            }
        }
    }

    /// The two series every run ends in, made once per kind and status: a metric made anew looks its labels up
    /// in the backend's registry under its lock each time.
    private static let seriesCache = Mutex<[String: (Counter, Timer)]>([:])

    private static func runSeries(kind: RunKind, status: RunStatus) -> (Counter, Timer) {
        let key = kind.rawValue + "/" + status.rawValue
        if let series = seriesCache.withLock({ $0[key] }) { return series }
        let series = (
            Counter(
                label: "claude_runner_runs_total", dimensions: [("kind", kind.rawValue), ("status", status.rawValue)]),
            Timer(label: "claude_runner_run_duration_seconds", dimensions: [("kind", kind.rawValue)])
        )
        seriesCache.withLock { $0[key] = series }
        return series
    }

    /// Creates every series whose labels are known in advance at zero, so that a scrape sees the whole
    /// contract from the start (and rates work from the first run).
    public static func registerSeries() {
        for kind in RunKind.allCases {
            for status in RunStatus.allCases where status.isFinal {
                _ = Counter(
                    label: "claude_runner_runs_total",
                    dimensions: [("kind", kind.rawValue), ("status", status.rawValue)])
            }
            FloatingPointCounter(label: "claude_runner_cost_usd_total", dimensions: [("kind", kind.rawValue)])
                .increment(by: 0)
            for type in ["input", "output", "cache_read", "cache_creation"] {
                _ = Counter(label: "claude_runner_tokens_total", dimensions: [("kind", kind.rawValue), ("type", type)])
            }
        }
        sample(runsInFlight: 0, runsQueued: 0)
        Gauge(label: "claude_runner_nats_connected").record(0)
        for source in WorkspaceSource.allCases {
            _ = Timer(label: "claude_runner_workspace_seconds", dimensions: [("source", source.rawValue)])
        }
        _ = Counter(label: "claude_runner_nats_reconnects_total")
    }

    /// A durable task came back for another delivery (its runner died or stopped).
    static func taskRedelivered() {
        Counter(label: "claude_runner_tasks_redelivered_total").increment()
    }

    /// Tasks waiting in the durable queue (from the consumer's info).
    public static func tasksPending(_ count: Int) {
        Gauge(label: "claude_runner_tasks_pending").record(count)
    }

    /// A run's workspace is ready (spec section 13): how long it took, by where it came from.
    static func workspacePrepared(source: WorkspaceSource, duration: Duration) {
        Timer(label: "claude_runner_workspace_seconds", dimensions: [("source", source.rawValue)]).recordNanoseconds(
            duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000)
    }

    /// The bytes the repository mirrors take on disk now.
    static func mirrorBytes(_ bytes: Int) {
        Gauge(label: "claude_runner_mirror_bytes").record(bytes)
    }

    /// One answer from GitHub's REST API (`status` 0: no answer, the call failed on the way).
    static func githubRequest(method: String, status: Int) {
        Counter(
            label: "claude_runner_github_requests_total", dimensions: [("method", method), ("status", String(status))]
        ).increment()
    }

    /// Sets the gauges of what the runner is doing now (sampled when metrics are read).
    public static func sample(runsInFlight: Int, runsQueued: Int) {
        Gauge(label: "claude_runner_runs_in_flight").record(runsInFlight)
        Gauge(label: "claude_runner_runs_queued").record(runsQueued)
    }

    /// Sets the NATS gauges; `reconnects` is the total so far (the counter is moved up to it).
    public static func sampleNATS(connected: Bool, reconnects: Int, counted: inout Int) {
        Gauge(label: "claude_runner_nats_connected").record(connected ? 1 : 0)
        if reconnects > counted {
            Counter(label: "claude_runner_nats_reconnects_total").increment(by: reconnects - counted)
            counted = reconnects
        }
    }
}
