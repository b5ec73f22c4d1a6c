import Foundation
import Logging
import NIOCore
import NIOFoundationCompat
import ServiceLifecycle
import Synchronization

/// A service on the NATS service API ("micro" protocol): its endpoints (in queue groups, or received by
/// every instance when an endpoint has none), and discovery on
/// `$SRV.PING`, `$SRV.INFO`, `$SRV.STATS` (and their `.<name>` and `.<name>.<id>` forms), so the standard
/// NATS tooling can find and inspect every instance.
///
/// A `Service`: ``run()`` subscribes and answers until graceful shutdown, then unsubscribes (no new
/// requests reach this instance), waits for the handlers in flight to reply, and returns.
public final class NATSService: Service, Sendable {
    public let name: String
    public let version: String
    public let description: String
    public let id: String
    public let endpoints: [NATSServiceEndpoint]
    let client: NATSClient
    let logger: Logger
    private let started = Date()
    private let stats: Mutex<[String: EndpointStats]>
    private let endpointSubscriptions = Mutex<[NATSSubscription]>([])

    struct EndpointStats {
        var requests = 0
        var errors = 0
        var lastError = ""
        var processingNanoseconds: Int64 = 0
    }

    public init(
        client: NATSClient, name: String, version: String, description: String = "",
        endpoints: [NATSServiceEndpoint], logger: Logger
    ) {
        self.client = client
        self.name = name
        self.version = version
        self.description = description
        self.id = NUID.next()
        self.endpoints = endpoints
        self.logger = logger
        self.stats = Mutex(Dictionary(uniqueKeysWithValues: endpoints.map { ($0.name, EndpointStats()) }))
    }

    public func run() async throws {
        var subscriptions: [(NATSSubscription, @Sendable (NATSMessage) async -> Void)] = []
        for endpoint in endpoints {
            let subscription = try client.subscribe(to: endpoint.subject, queueGroup: endpoint.queueGroup)
            endpointSubscriptions.withLock { $0.append(subscription) }
            subscriptions.append((subscription, { [self] message in await self.handle(message, endpoint: endpoint) }))
        }
        for verb in ["PING", "INFO", "STATS"] {
            for subject in ["$SRV.\(verb)", "$SRV.\(verb).\(name)", "$SRV.\(verb).\(name).\(id)"] {
                let subscription = try client.subscribe(to: subject)
                subscriptions.append((subscription, { [self] message in self.discovery(verb, message) }))
            }
        }
        logger.info(
            "NATS service registered",
            metadata: ["service": "\(name)", "service.id": "\(id)", "endpoints": "\(endpoints.map(\.subject))"])

        let all = subscriptions
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                for (subscription, handler) in all {
                    group.addTask {
                        // Each message gets its own task, so a long run never blocks the next request.
                        await withDiscardingTaskGroup { handlers in
                            for await message in subscription {
                                handlers.addTask { await handler(message) }
                            }
                        }
                    }
                }
            }
        } onGracefulShutdown: {
            // No new requests; the handlers in flight finish and reply before run() returns.
            for (subscription, _) in all { subscription.unsubscribe() }
        }
        logger.info("NATS service stopped", metadata: ["service": "\(name)"])
    }

    /// Unsubscribes the endpoints: no new request reaches this instance (the queue group sends them to
    /// the others); handlers in flight still reply. Discovery keeps answering until ``run()`` ends.
    public func stopAccepting() {
        let subscriptions = endpointSubscriptions.withLock { $0 }
        for subscription in subscriptions { subscription.unsubscribe() }
    }

    private func handle(_ message: NATSMessage, endpoint: NATSServiceEndpoint) async {
        let started = ContinuousClock.now
        let reply = await endpoint.handler(message)
        let elapsed = ContinuousClock.now - started
        let nanoseconds = elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000
        stats.withLock { stats in
            stats[endpoint.name, default: EndpointStats()].requests += 1
            stats[endpoint.name, default: EndpointStats()].processingNanoseconds += nanoseconds
            if case .error(let code, let description) = reply {
                stats[endpoint.name, default: EndpointStats()].errors += 1
                stats[endpoint.name, default: EndpointStats()].lastError = "\(code):\(description)"
            }
        }
        guard let replyTo = message.replyTo else { return }
        do {
            switch reply {
            case .none:
                break
            case .success(let payload):
                do {
                    try client.publish(payload, to: replyTo)
                } catch let error as NATSError where error.kind == .protocolError {
                    // Too large for the server: say so instead of leaving the caller to time out.
                    var headers = NATSHeaders()
                    headers.add(name: "Nats-Service-Error", value: Self.headerValue("reply too large: \(error)"))
                    headers.add(name: "Nats-Service-Error-Code", value: "500")
                    try client.publish(ByteBuffer(), to: replyTo, headers: headers)
                }
            case .error(let code, let description):
                var headers = NATSHeaders()
                headers.add(name: "Nats-Service-Error", value: Self.headerValue(description))
                headers.add(name: "Nats-Service-Error-Code", value: String(code))
                try client.publish(ByteBuffer(), to: replyTo, headers: headers)
            }
        } catch {
            logger.error("NATS reply failed", metadata: ["subject": "\(message.subject)", "error": "\(error)"])
        }
    }

    /// Header values are one line, and short enough never to break the server's payload limit.
    static func headerValue(_ text: String) -> String {
        let oneLine = text.split(whereSeparator: \.isNewline).joined(separator: " ")
        guard !oneLine.isEmpty else { return "error" }
        return oneLine.count > 1024 ? String(oneLine.prefix(1024)) + "…" : oneLine
    }

    private func discovery(_ verb: String, _ message: NATSMessage) {
        guard let replyTo = message.replyTo else { return }
        let body: [String: Any]
        var base: [String: Any] = ["name": name, "id": id, "version": version, "metadata": [String: String]()]
        switch verb {
        case "PING":
            base["type"] = "io.nats.micro.v1.ping_response"
            body = base
        case "INFO":
            base["type"] = "io.nats.micro.v1.info_response"
            base["description"] = description
            base["endpoints"] = endpoints.map { endpoint -> [String: Any] in
                // An endpoint without a queue group has no `queue_group` key, as the micro libraries write it.
                var info: [String: Any] = ["name": endpoint.name, "subject": endpoint.subject, "metadata": NSNull()]
                if let queueGroup = endpoint.queueGroup { info["queue_group"] = queueGroup }
                return info
            }
            body = base
        default:
            base["type"] = "io.nats.micro.v1.stats_response"
            base["started"] = Date.ISO8601FormatStyle(includingFractionalSeconds: true).format(started)
            let snapshot = stats.withLock { $0 }
            base["endpoints"] = endpoints.map { endpoint -> [String: Any] in
                let stats = snapshot[endpoint.name] ?? EndpointStats()
                var entry: [String: Any] = [
                    "name": endpoint.name, "subject": endpoint.subject,
                    "num_requests": stats.requests, "num_errors": stats.errors, "last_error": stats.lastError,
                    "processing_time": stats.processingNanoseconds,
                    "average_processing_time": stats.requests > 0
                        ? stats.processingNanoseconds / Int64(stats.requests) : 0,
                ]
                if let queueGroup = endpoint.queueGroup { entry["queue_group"] = queueGroup }
                return entry
            }
            body = base
        }
        guard let data = try? JSONSerialization.data(withJSONObject: body, options: [.sortedKeys]) else { return }
        try? client.publish(ByteBuffer(data: data), to: replyTo)
    }
}
