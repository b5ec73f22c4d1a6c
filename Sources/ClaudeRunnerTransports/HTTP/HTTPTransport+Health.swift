import ClaudeRunner
import Foundation
import Hummingbird
import NIOCore

/// What the health and metrics routes read, given by the executable: it owns the NATS connection and the
/// metrics backend.
public struct Observability: Sendable {
    /// Whether NATS is connected; `nil` when NATS is not enabled.
    public var natsConnected: (@Sendable () -> Bool)?
    /// The metrics in Prometheus text format; `nil` serves no metrics.
    public var metrics: (@Sendable () -> ByteBuffer)?

    public init(natsConnected: (@Sendable () -> Bool)? = nil, metrics: (@Sendable () -> ByteBuffer)? = nil) {
        self.natsConnected = natsConnected
        self.metrics = metrics
    }
}

extension HTTPTransport {
    /// `GET /healthz` (200 while the process serves) and `GET /readyz` (200 ready, or 503 with the failing
    /// checks), both without authentication and without host details.
    static func addHealthRoutes(
        to router: Router<RunnerRequestContext>, service: RunnerService, observability: Observability
    ) {
        router.get("healthz") { _, _ in
            jsonResponse(.ok, Data(#"{"status":"ok"}"#.utf8))
        }
        router.get("readyz") { _, context in
            let readiness = await service.readiness(
                natsConnected: observability.natsConnected?(), logger: context.logger)
            return Response(
                status: readiness.isReady ? .ok : .serviceUnavailable,
                headers: [.contentType: "application/json; charset=utf-8"],
                body: .init(byteBuffer: readiness.jsonBuffer()))
        }
    }
}
