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
            endpoint("run", group, RunRequest.self, logger, maxPayload) { body, message, logger in
                let sink = try progressSink(message, client: client, maxPayload: maxPayload)
                let prepared = try runner.prepareRun(body, transport: .nats)
                if let sink { prepared.progress.addSink(replay: true, sink) }
                return try await runner.execute(prepared, logger: logger)
            },
            endpoint("run-issue", group, RunIssueRequest.self, logger, maxPayload) { body, message, logger in
                let sink = try progressSink(message, client: client, maxPayload: maxPayload)
                return try await runner.runIssue(body, transport: .nats, logger: logger, sink: sink)
            },
            endpoint("cleanup-issue", group, CleanupIssueRequest.self, logger, maxPayload) { body, _, logger in
                try await runner.cleanupIssue(body, logger: logger)
            },
        ]
        return NATSService(
            client: client, name: serviceName, version: serviceVersion,
            description: "Runs the Claude Code CLI on request", endpoints: endpoints, logger: logger)
    }

    static func endpoint<Body: Decodable & Sendable>(
        _ name: String, _ group: String, _ type: Body.Type, _ logger: Logger,
        _ maxPayload: @escaping @Sendable () -> Int,
        _ call: @escaping @Sendable (Body, NATSMessage, Logger) async throws -> RunResult
    ) -> NATSServiceEndpoint {
        NATSServiceEndpoint(name: name, subject: "\(group).\(name)") { message in
            let body: Body
            do {
                body = try WireJSON.decode(type, from: Data(buffer: message.payload))
            } catch {
                return .error(code: 400, description: "\(error)")
            }
            do {
                let result = try await call(body, message, logger)
                return .success(WireJSON.buffer(fitted(result, maxBytes: maxPayload())))
            } catch let error as BadRequest {
                return .error(code: 400, description: error.description)
            } catch let error as RunnerError {
                return .error(code: natsCode(for: error.kind), description: error.message)
            } catch {
                return .error(code: 417, description: "\(error)")
            }
        }
    }

    /// The NATS service error code of a service error: 417 as the original, except a busy runner (503) and
    /// a spent daily budget (429); the run-control errors keep their HTTP meaning.
    static func natsCode(for kind: RunnerError.Kind) -> Int {
        switch kind {
        case .unavailable: 503
        case .overBudget: 429
        case .notFound: 404
        case .conflict: 409
        default: 417
        }
    }

    /// A request the endpoint cannot take as it is (error 400).
    struct BadRequest: Error, CustomStringConvertible {
        let description: String
    }

    /// The header naming the subject a caller wants progress events published to.
    public static let progressHeader = "Claude-Runner-Progress"

    /// The sink that publishes a run's progress to the subject in the request's
    /// `Claude-Runner-Progress` header, or `nil` without the header.
    /// - Throws: ``BadRequest`` (error 400, nothing runs) for a subject outside `_INBOX.`: a caller can
    ///   never make the runner publish anywhere else.
    static func progressSink(
        _ message: NATSMessage, client: NATSClient, maxPayload: @escaping @Sendable () -> Int
    ) throws(BadRequest) -> (@Sendable (RunEvent) -> Void)? {
        guard let subject = message.headers?[progressHeader] else { return nil }
        guard isInboxSubject(subject) else {
            throw BadRequest(
                description:
                    "invalid \(progressHeader) header: the subject must start with _INBOX. and be one literal subject")
        }
        return { event in
            var event = event
            if case .result(let result) = event.payload {
                // The last event carries the whole Result: make it fit as the reply does.
                event.payload = .result(fitted(result, maxBytes: max(maxPayload() - 512, 1024)))
            }
            try? client.publish(event.jsonBuffer(), to: subject)
        }
    }

    /// `_INBOX.` followed by tokens of visible characters, no wildcards.
    static func isInboxSubject(_ subject: String) -> Bool {
        guard subject.hasPrefix("_INBOX."), subject.utf8.count <= 256 else { return false }
        let tokens = subject.split(separator: ".", omittingEmptySubsequences: false)
        return tokens.count >= 2
            && tokens.allSatisfy { token in
                !token.isEmpty && token != "*" && token != ">"
                    && token.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F }
            }
    }

    /// The Result cut (and marked) so that its JSON fits the server's max_payload: a reply the server
    /// refuses would leave the caller waiting for nothing. `output` and `error` share what room there is
    /// (the shorter keeps all it needs), then the list of denials is shortened if that is not enough.
    static func fitted(_ result: RunResult, maxBytes: Int) -> RunResult {
        var size = WireJSON.buffer(result).readableBytes
        guard size > maxBytes else { return result }
        let outputNote = "\n\n[claude-runner: output truncated to fit the NATS max_payload of \(maxBytes) bytes]"
        let errorNote = "\n\n[claude-runner: error truncated to fit the NATS max_payload of \(maxBytes) bytes]"
        let output = result.output
        let error = result.error ?? ""
        var keepOutput = output.utf8.count
        var keepError = error.utf8.count
        var trimmed = result
        for _ in 0..<10 where size > maxBytes {
            // What the text may take: what it takes now minus the excess, less room for the notes and escapes.
            let room = max(0, keepOutput + keepError - (size - maxBytes) - 2 * outputNote.utf8.count - 64)
            if room == 0, keepOutput + keepError == 0 {
                // The text is gone and it still does not fit: shorten the list of denials.
                guard let denials = trimmed.permissionDenials, !denials.isEmpty else { break }
                trimmed.permissionDenials = Array(denials.prefix(denials.count / 2))
            } else {
                let half = room / 2
                if keepOutput <= half {
                    keepError = min(keepError, room - keepOutput)
                } else if keepError <= half {
                    keepOutput = min(keepOutput, room - keepError)
                } else {
                    keepOutput = half
                    keepError = room - half
                }
                trimmed.output = cut(output, keeping: keepOutput, note: outputNote)
                trimmed.error = result.error.map { _ in cut(error, keeping: keepError, note: errorNote) }
            }
            size = WireJSON.buffer(trimmed).readableBytes
        }
        return trimmed
    }

    /// The first `keeping` bytes of `text` (whole characters only) plus `note`, or `text` when it fits.
    private static func cut(_ text: String, keeping: Int, note: String) -> String {
        guard text.utf8.count > keeping else { return text }
        var kept = String(decoding: text.utf8.prefix(keeping), as: UTF8.self)
        if kept.last == "\u{FFFD}" { kept.removeLast() }
        return kept + note
    }
}
