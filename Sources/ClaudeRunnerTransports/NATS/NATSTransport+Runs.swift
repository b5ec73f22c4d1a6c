import ClaudeRunner
import Foundation
import Logging
import NATS
import NIOCore
import NIOFoundationCompat
import Synchronization

/// Run control over NATS (spec section 11): `runs.list`, `runs.get`, `runs.cancel`, `runs.usage` and
/// `runs.events` under the edge's group.
///
/// Several runners may share an edge id and each keeps its own ledger, so these endpoints are in no queue
/// group: every runner of the edge receives every request. For `get`, `cancel` and `events` only the runner
/// that has the run answers and the others stay silent (a malformed request is a 400 from all of them, which
/// is harmless: the caller takes the first answer). `list` and `usage` are scatter-gather: each runner
/// answers for its own ledger and names itself in `runner`.
///
/// Errors carry `Nats-Service-Error` and `Nats-Service-Error-Code`, with the HTTP API's codes: 400 for a bad
/// body or parameter, 404 when the ledger is off, 409 for cancelling a run that has ended.
extension NATSTransport {
    static func runControlEndpoints(
        group: String, client: NATSClient, runner: RunnerService, callers: ProgressCallers,
        maxPayload: @escaping @Sendable () -> Int
    ) -> [NATSServiceEndpoint] {
        [
            controlEndpoint("runs-list", "\(group).runs.list") { message in
                let query = try RunQuery(json: Data(buffer: message.payload))
                let records = try await runner.listRuns(query)
                var body = ByteBuffer(string: #"{"runner":"#)
                body.writeJSONString(runner.runnerName, escapeHTML: true)
                body.writeString(#","runs":["#)
                for (index, record) in records.enumerated() {
                    var record = record
                    record.runner = record.runner ?? runner.runnerName
                    if index > 0 { body.writeString(",") }
                    body.writeBytes(try record.encodeJSON())
                }
                body.writeString("]}")
                return .success(body)
            },
            controlEndpoint("runs-get", "\(group).runs.get") { message in
                let target = try RunTarget.decode(message)
                let id = try target.requiredID()
                guard try await answersFor(id, runner: runner, needsLedger: true) else { return .none }
                return .success(try await recordJSON(id, runner: runner))
            },
            controlEndpoint("runs-cancel", "\(group).runs.cancel") { message in
                let target = try RunTarget.decode(message)
                let id: String
                if target.id == nil, let subject = target.progress {
                    // A caller that has not seen its run's id yet names the run by its progress subject.
                    guard let known = callers[subject] else { return .none }
                    id = known
                } else {
                    id = try target.requiredID()
                }
                guard try await answersFor(id, runner: runner, needsLedger: false) else { return .none }
                try await runner.cancelRun(id)
                var object = JSONObjectWriter()
                object.string("id", id)
                object.string("status", "cancelling")
                object.string("runner", runner.runnerName)
                return .success(object.finish())
            },
            controlEndpoint("runs-usage", "\(group).runs.usage") { message in
                let report = try await runner.usage(try UsageQuery(json: Data(buffer: message.payload)))
                // The report's fields, with this runner's name first.
                let json = try report.encodeJSON()
                var body = ByteBuffer(string: #"{"runner":"#)
                body.writeJSONString(runner.runnerName, escapeHTML: true)
                body.writeString(",")
                body.writeBytes(json.dropFirst())
                return .success(body)
            },
            controlEndpoint("runs-events", "\(group).runs.events") { message in
                let target = try RunTarget.decode(message)
                let id = try target.requiredID()
                guard let subject = message.headers?[progressHeader] else {
                    throw BadRequest(
                        description:
                            "the \(progressHeader) header is required: the _INBOX. subject to publish the events to")
                }
                guard isInboxSubject(subject) else {
                    throw BadRequest(
                        description:
                            "invalid \(progressHeader) header: the subject must start with _INBOX. and be one literal subject"
                    )
                }
                guard try await answersFor(id, runner: runner, needsLedger: true) else { return .none }
                let follow = target.follow ?? true
                switch try await runner.runEvents(id, follow: follow) {
                case .live(let events):
                    for await event in events {
                        publish(event, to: subject, client: client, maxPayload: maxPayload)
                    }
                    if follow {
                        // The last event goes out just before the record is final: give the run a moment to
                        // leave the active runs, so that the reply carries its final record.
                        let deadline = ContinuousClock.now + .seconds(5)
                        while runner.activeRuns[id] != nil, ContinuousClock.now < deadline {
                            try await Task.sleep(for: .milliseconds(20))
                        }
                    }
                case .recorded(let lines):
                    for try await line in lines {
                        publish(line: line, to: subject, client: client, maxPayload: maxPayload)
                    }
                }
                return .success(try await recordJSON(id, runner: runner))
            },
        ]
    }

    /// An endpoint every runner of the edge receives (no queue group); errors answer with the HTTP API's codes.
    static func controlEndpoint(
        _ name: String, _ subject: String,
        _ handle: @escaping @Sendable (NATSMessage) async throws -> NATSServiceEndpoint.Reply
    ) -> NATSServiceEndpoint {
        NATSServiceEndpoint(name: name, subject: subject, queueGroup: nil) { message in
            do {
                return try await handle(message)
            } catch let error as BadRequest {
                return .error(code: 400, description: error.description)
            } catch let error as WireJSON.DecodingFailure {
                return .error(code: 400, description: error.description)
            } catch let error as RunnerError {
                return .error(code: controlCode(for: error.kind), description: error.message)
            } catch {
                return .error(code: 500, description: "\(error)")
            }
        }
    }

    /// The code of a run-control error: the HTTP API's status (400 for a bad parameter, 500 when the ledger
    /// cannot be read); the others as for runs.
    static func controlCode(for kind: RunnerError.Kind) -> Int {
        switch kind {
        case .invalidRequest: 400
        case .failed: 500
        default: natsCode(for: kind)
        }
    }

    /// Whether this runner answers a request about run `id`: when it has (or had) the run. A runner without
    /// a ledger cannot know past runs: for the endpoints that need one it answers 404 saying so.
    static func answersFor(_ id: String, runner: RunnerService, needsLedger: Bool) async throws -> Bool {
        if await runner.hasRun(id) { return true }
        if needsLedger, runner.ledger == nil {
            // Throws the ledger's 404.
            _ = try await runner.listRuns(try RunQuery())
        }
        return false
    }

    /// The run's record as JSON, naming this runner when the record does not.
    static func recordJSON(_ id: String, runner: RunnerService) async throws -> ByteBuffer {
        var record = try await runner.runRecord(id)
        record.runner = record.runner ?? runner.runnerName
        return ByteBuffer(data: try record.encodeJSON())
    }

    /// Publishes one event; a `result` event is cut to fit the server's max_payload as the reply would be.
    static func publish(
        _ event: RunEvent, to subject: String, client: NATSClient, maxPayload: @Sendable () -> Int
    ) {
        var event = event
        if case .result(let result) = event.payload {
            event.payload = .result(fitted(result, maxBytes: max(maxPayload() - 512, 1024)))
        }
        try? client.publish(event.jsonBuffer(), to: subject)
    }

    /// Publishes one transcript line (an event's JSON) as it was recorded, or cut to fit when it is too large.
    static func publish(
        line: String, to subject: String, client: NATSClient, maxPayload: @Sendable () -> Int
    ) {
        if line.utf8.count > maxPayload() - 512, let event = RunEvent.decode(Data(line.utf8)) {
            publish(event, to: subject, client: client, maxPayload: maxPayload)
            return
        }
        try? client.publish(ByteBuffer(string: line), to: subject)
    }

    /// The body of `get`, `cancel` and `events`: `{"id": "..."}`; `cancel` also takes `{"progress": subject}`
    /// (the progress subject of a run this runner was asked for), `events` `{"follow": false}` for the events
    /// so far only.
    struct RunTarget: Decodable {
        var id: String?
        var progress: String?
        var follow: Bool?

        static func decode(_ message: NATSMessage) throws -> RunTarget {
            try WireJSON.decode(RunTarget.self, from: Data(buffer: message.payload))
        }

        func requiredID() throws -> String {
            guard let id else { throw BadRequest(description: "field \"id\" is required") }
            try RunnerService.checkRunID(id)
            return id
        }
    }
}

/// The runs this runner is doing for NATS callers, by the progress subject each caller gave: a caller that
/// is interrupted before its run's first event can still cancel it.
final class ProgressCallers: Sendable {
    private let runs = Mutex<[String: String]>([:])

    subscript(subject: String) -> String? { runs.withLock { $0[subject] } }

    /// Runs `body` with `subject` naming run `id` (when there is a subject).
    func whileRunning<T: Sendable>(
        _ id: String, subject: String?, _ body: () async throws -> T
    ) async rethrows -> T {
        guard let subject else { return try await body() }
        runs.withLock { $0[subject] = id }
        defer { _ = runs.withLock { $0.removeValue(forKey: subject) } }
        return try await body()
    }
}
