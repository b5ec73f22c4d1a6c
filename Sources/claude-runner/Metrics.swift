import ClaudeRunner
import ClaudeRunnerTransports
import Metrics
import NATS
import NIOCore
import Prometheus
import Synchronization

/// The Prometheus backend of the runner's metrics: bootstrapped once, read by `GET /metrics`.
enum RunnerMetrics {
    /// Run durations span seconds to an hour: buckets to match.
    static let runDurationBuckets: [Duration] = [
        .seconds(1), .seconds(5), .seconds(15), .seconds(30), .seconds(60), .seconds(120), .seconds(300),
        .seconds(600), .seconds(1200), .seconds(1800), .seconds(3600),
    ]

    /// Bootstraps swift-metrics with Prometheus; returns what `/metrics` serves.
    static func bootstrap(service: RunnerService, nats: NATSClient?) -> @Sendable () -> ByteBuffer {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.durationHistogramBuckets["claude_runner_run_duration_seconds"] = runDurationBuckets
        factory.durationHistogramBuckets["claude_runner_workspace_seconds"] = [
            .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2), .seconds(5),
            .seconds(10), .seconds(30), .seconds(60), .seconds(120), .seconds(300),
        ]
        MetricsSystem.bootstrap(factory)
        let counted = Mutex(0)
        RunMetrics.registerSeries()
        return {
            let (running, waiting) = service.slots.counts
            RunMetrics.sample(runsInFlight: running, runsQueued: waiting)
            if let nats {
                counted.withLock { counted in
                    RunMetrics.sampleNATS(
                        connected: nats.isConnected, reconnects: nats.reconnectCount, counted: &counted)
                }
            }
            return ByteBuffer(bytes: registry.emitToBuffer())
        }
    }
}
