import ClaudeRunner
import Foundation
import Logging
import NATS
import NIOCore
import NIOFoundationCompat
import Synchronization

/// Sends a ``ClientRequest`` to `edges.<edge-id>.claude-runner.<operation>` and decodes the Result; the
/// run-control calls are in `NATSRunnerClient+Runs.swift`.
///
/// A run never outlives a caller that has gone: a `run` request always asks for its progress on a private
/// `_INBOX.` subject (to learn the run id from the first event), and when the request times out or the caller
/// interrupts it, the client sends `runs.cancel` for the run before it gives up.
public struct NATSRunnerClient: Sendable {
    public var url: String
    public var credentialsFile: String?
    public var edgeID: String
    /// How long a request waits for its reply; a run still going then is cancelled.
    public var timeout: Duration
    /// How long to try to connect before failing with the reason (auth, TLS, unreachable).
    public var connectTimeout: Duration
    /// How long `runs.list` and `runs.usage` gather the replies of the edge's runners.
    public var gatherWindow: Duration = .seconds(1)
    /// How long `runs.get`, `runs.cancel` and `runs.events` wait for the runner that has the run.
    public var findTimeout: Duration = .seconds(2)

    public init(
        url: String, credentialsFile: String?, edgeID: String, timeout: Duration = .seconds(600),
        connectTimeout: Duration = .seconds(8)
    ) {
        self.url = url
        self.credentialsFile = credentialsFile
        self.edgeID = edgeID
        self.timeout = timeout
        self.connectTimeout = connectTimeout
    }

    public struct Failure: Error, Sendable, CustomStringConvertible {
        public let description: String

        public init(description: String) {
            self.description = description
        }
    }

    /// The header naming the subject a run's progress events are published to.
    static let progressHeader = "Claude-Runner-Progress"

    /// `edges.<edge-id>.claude-runner.<name>`.
    func subject(_ name: String) -> String { "edges.\(edgeID).claude-runner.\(name)" }

    /// Sends `request` and returns its Result.
    /// - Parameters:
    ///   - onEvent: Called with each progress event as it arrives. A `run` asks for its progress whether or
    ///     not this is given (the client needs the run id to cancel it).
    ///   - interruption: Returns when the caller wants to give up (a signal arrived), with the reason; the
    ///     run is then cancelled and the call fails saying so. Returning `nil` means no interruption.
    public func send(
        _ request: ClientRequest, logger: Logger = Logger(label: "claude-runner-client"),
        onEvent: (@Sendable (RunEvent) -> Void)? = nil,
        interruption: (@Sendable () async -> String?)? = nil
    ) async throws -> RunResult {
        let payload = ByteBuffer(data: try request.jsonBody())
        let inbox = request.operation == "run" ? NATSClient.newInbox() : nil
        return try await withConnection(logger: logger) { client in
            try await withThrowingTaskGroup(of: Void.self) { group in
                let runID = RunIDSeen()
                var headers: NATSHeaders?
                var progress: NATSSubscription?
                if let inbox {
                    let subscription = try client.subscribe(to: inbox)
                    progress = subscription
                    headers = [Self.progressHeader: inbox]
                    group.addTask {
                        for await message in subscription {
                            guard let event = RunEvent.decode(Data(buffer: message.payload)) else { continue }
                            runID.note(event.runID)
                            onEvent?(event)
                        }
                    }
                }
                let outcome = await Self.race(interruption) { [headers] in
                    try await client.request(
                        payload, to: subject(request.operation), headers: headers, timeout: timeout)
                }
                switch outcome {
                case .reply(let reply):
                    if let progress {
                        // The runner publishes a run's last event just before it replies: let it arrive.
                        try? await client.flush(timeout: .seconds(2))
                        progress.unsubscribe()
                        try await group.waitForAll()
                    }
                    if let message = reply.headers?["Nats-Service-Error"] {
                        let code = reply.headers?["Nats-Service-Error-Code"] ?? "?"
                        throw Failure(description: "service error \(code): \(message)")
                    }
                    do {
                        return try JSONDecoder().decode(RunResult.self, from: Data(buffer: reply.payload))
                    } catch {
                        throw Failure(description: "unmarshal response: \(error)")
                    }
                case .failed(let error):
                    progress?.unsubscribe()
                    guard let inbox, (error as? NATSError)?.kind == .timeout else {
                        throw Failure(description: "request: \(error)")
                    }
                    let cancelled = await cancelAbandonedRun(client, id: runID.value, progress: inbox)
                    throw Failure(description: "request: no reply within \(Self.describe(timeout)); \(cancelled)")
                case .interrupted(let reason):
                    progress?.unsubscribe()
                    guard let inbox else { throw Failure(description: "interrupted by \(reason)") }
                    let cancelled = await cancelAbandonedRun(client, id: runID.value, progress: inbox)
                    throw Failure(description: "interrupted by \(reason); \(cancelled)")
                }
            }
        }
    }

    /// What became of a request: its reply, its failure, or the caller's interruption.
    enum Outcome: Sendable {
        case reply(NATSMessage)
        case failed(any Error)
        case interrupted(String)
    }

    /// Runs `request` until it ends or `interruption` returns a reason, whichever comes first.
    static func race(
        _ interruption: (@Sendable () async -> String?)?,
        _ request: @escaping @Sendable () async throws -> NATSMessage
    ) async -> Outcome {
        await withTaskGroup(of: Outcome?.self) { group in
            group.addTask {
                do {
                    return .reply(try await request())
                } catch {
                    return .failed(error)
                }
            }
            if let interruption {
                group.addTask { await interruption().map(Outcome.interrupted) }
            }
            defer { group.cancelAll() }
            while let next = await group.next() {
                if let next { return next }
            }
            return .failed(NATSError.timeout)
        }
    }

    /// Cancels the run this client asked for and no longer waits for: by id when an event named it, else by
    /// the progress subject the runner knows it by. Returns what happened, for the caller's message.
    func cancelAbandonedRun(_ client: NATSClient, id: String?, progress: String) async -> String {
        var body = JSONObjectWriter()
        if let id { body.string("id", id) } else { body.string("progress", progress) }
        let name = id.map { "run \($0)" } ?? "the run"
        do {
            let reply = try await client.request(
                body.finish(), to: subject("runs.cancel"), timeout: findTimeout + .seconds(1))
            if let message = reply.headers?["Nats-Service-Error"] {
                return "could not cancel \(name): \(message)"
            }
            struct Cancelling: Decodable { var id: String }
            let cancelled = (try? JSONDecoder().decode(Cancelling.self, from: Data(buffer: reply.payload)))?.id
            return "run \(cancelled ?? id ?? "?") cancelled"
        } catch let error as NATSError where error.kind == .timeout {
            // No runner has it: it had not started, or it has ended.
            return "no runner had \(name) to cancel"
        } catch {
            return "could not cancel \(name): \(error)"
        }
    }

    /// Connects, runs `body` with the connection, and closes it (also when `body` throws).
    func withConnection<T: Sendable>(
        logger: Logger = Logger(label: "claude-runner-client"),
        _ body: @escaping @Sendable (NATSClient) async throws -> T
    ) async throws -> T {
        let serverURL: NATSServerURL
        do {
            serverURL = try NATSServerURL(url)
        } catch {
            throw Failure(description: error.description)
        }
        var credentials: Credentials?
        if let credentialsFile, !credentialsFile.isEmpty {
            do {
                credentials = try Credentials(contentsOfFile: credentialsFile)
            } catch {
                throw Failure(description: "\(error)")
            }
        }
        var silent = logger
        silent.logLevel = .critical
        let client = NATSClient(
            options: NATSClientOptions(
                url: serverURL, name: "Claude Runner Client", credentials: credentials,
                reconnectWait: .milliseconds(250),
                maxReconnectWait: .seconds(2)),
            logger: silent)
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                try await client.run()
                return nil
            }
            defer { group.cancelAll() }
            do {
                try await client.waitUntilConnected(timeout: connectTimeout)
            } catch {
                await client.close()
                throw Failure(description: "nats connect: \(error)")
            }
            do {
                let result = try await body(client)
                await client.close()
                return result
            } catch {
                await client.close()
                throw error
            }
        }
    }

    /// `600s`, `90s`, `1.5s`.
    static func describe(_ duration: Duration) -> String {
        let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        return seconds == seconds.rounded() ? "\(Int(seconds))s" : String(format: "%.1fs", seconds)
    }
}

/// The run id, once a progress event has named it.
final class RunIDSeen: Sendable {
    private let id = Mutex<String?>(nil)

    func note(_ runID: String) {
        guard !runID.isEmpty else { return }
        id.withLock { if $0 == nil { $0 = runID } }
    }

    var value: String? { id.withLock { $0 } }
}
