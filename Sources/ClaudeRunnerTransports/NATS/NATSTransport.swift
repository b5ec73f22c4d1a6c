import ClaudeRunner
import Foundation
import Logging
import NATS
import NIOCore
import NIOFoundationCompat

/// The runner on NATS: the `claude-runner` service with the endpoints `run`, `run-issue` and
/// `cleanup-issue` under `edges.<edge-id>.claude-runner`, in queue group `q`, so several runners with the
/// same edge id share the load.
///
/// Replies are the Result JSON; an undecodable body is error 400, a failure of the service 417 (as the
/// original), and a runner that cannot take the work now 503; errors carry `Nats-Service-Error` and
/// `Nats-Service-Error-Code` headers.
public enum NATSTransport {
    public static let serviceName = "claude-runner"
    public static let serviceVersion = "1.0.0"

    /// The subject prefix for an edge id.
    public static func group(edgeID: String) -> String { "edges.\(edgeID).claude-runner" }

    public static func service(client: NATSClient, runner: RunnerService, edgeID: String, logger: Logger) -> NATSService
    {
        var logger = logger
        logger[metadataKey: "transport"] = "nats"
        let group = group(edgeID: edgeID)
        let maxPayload: @Sendable () -> Int = { client.serverInfo?.maxPayload ?? ServerInfo.defaultMaxPayload }
        let endpoints = [
            endpoint("run", group, RunRequest.self, logger, maxPayload) { try await runner.run($0, logger: $1) },
            endpoint("run-issue", group, RunIssueRequest.self, logger, maxPayload) {
                try await runner.runIssue($0, logger: $1)
            },
            endpoint("cleanup-issue", group, CleanupIssueRequest.self, logger, maxPayload) {
                try await runner.cleanupIssue($0, logger: $1)
            },
        ]
        return NATSService(
            client: client, name: serviceName, version: serviceVersion,
            description: "Runs the Claude Code CLI on request", endpoints: endpoints, logger: logger)
    }

    static func endpoint<Body: Decodable & Sendable>(
        _ name: String, _ group: String, _ type: Body.Type, _ logger: Logger,
        _ maxPayload: @escaping @Sendable () -> Int,
        _ call: @escaping @Sendable (Body, Logger) async throws -> RunResult
    ) -> NATSServiceEndpoint {
        NATSServiceEndpoint(name: name, subject: "\(group).\(name)") { message in
            let body: Body
            do {
                body = try WireJSON.decode(type, from: Data(buffer: message.payload))
            } catch {
                return .error(code: 400, description: "\(error)")
            }
            do {
                let result = try await call(body, logger)
                return .success(ByteBuffer(data: fitted(result, maxBytes: maxPayload())))
            } catch let error as RunnerError {
                return .error(code: error.kind == .unavailable ? 503 : 417, description: error.message)
            } catch {
                return .error(code: 417, description: "\(error)")
            }
        }
    }

    /// The Result's JSON, with `output` cut (and marked) when the whole would not fit the server's
    /// max_payload: a reply the server refuses would leave the caller waiting for nothing.
    static func fitted(_ result: RunResult, maxBytes: Int) -> Data {
        var data = WireJSON.encode(result)
        var trimmed = result
        let note = "\n\n[claude-runner: output truncated to fit the NATS max_payload of \(maxBytes) bytes]"
        while data.count > maxBytes, !trimmed.output.isEmpty {
            let excess = data.count - maxBytes + note.utf8.count + 64
            let keep = max(0, trimmed.output.utf8.count - excess)
            trimmed.output = String(decoding: trimmed.output.utf8.prefix(keep), as: UTF8.self)
            data = WireJSON.encode(RunResult(id: trimmed.id, output: trimmed.output + note, error: trimmed.error))
        }
        return data
    }
}
