import ClaudeRunner
import Foundation
import Logging
import NATS
import NIOCore
import NIOFoundationCompat

/// Sends a ``ClientRequest`` to `edges.<edge-id>.claude-runner.<operation>` and decodes the Result.
public struct NATSRunnerClient: Sendable {
    public var url: String
    public var credentialsFile: String?
    public var edgeID: String
    public var timeout: Duration
    /// How long to try to connect before failing with the reason (auth, TLS, unreachable).
    public var connectTimeout: Duration

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
    }

    /// Sends `request` and returns its Result.
    /// - Parameter onEvent: When given, the request asks for its progress (`Claude-Runner-Progress` with a
    ///   fresh `_INBOX.` subject) and each event is passed here as it arrives.
    public func send(
        _ request: ClientRequest, logger: Logger = Logger(label: "claude-runner-client"),
        onEvent: (@Sendable (RunEvent) -> Void)? = nil
    ) async throws
        -> RunResult
    {
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
        let subject = "edges.\(edgeID).claude-runner.\(request.operation)"
        let payload = ByteBuffer(data: try request.jsonBody())
        return try await withThrowingTaskGroup(of: RunResult?.self) { group in
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
            var headers: NATSHeaders?
            var progress: NATSSubscription?
            if let onEvent, request.operation == "run" {
                let inbox = NATSClient.newInbox()
                let subscription = try client.subscribe(to: inbox)
                progress = subscription
                headers = ["Claude-Runner-Progress": inbox]
                group.addTask {
                    for await message in subscription {
                        if let event = RunEvent.decode(Data(buffer: message.payload)) { onEvent(event) }
                    }
                    return nil
                }
            }
            let reply: NATSMessage
            do {
                reply = try await client.request(payload, to: subject, headers: headers, timeout: timeout)
            } catch {
                await client.close()
                throw Failure(description: "request: \(error)")
            }
            if let progress {
                // The runner publishes a run's last event just before it replies: let it arrive.
                try? await client.flush(timeout: .seconds(2))
                progress.unsubscribe()
            }
            await client.close()
            if let message = reply.headers?["Nats-Service-Error"] {
                let code = reply.headers?["Nats-Service-Error-Code"] ?? "?"
                throw Failure(description: "service error \(code): \(message)")
            }
            do {
                return try JSONDecoder().decode(RunResult.self, from: Data(buffer: reply.payload))
            } catch {
                throw Failure(description: "unmarshal response: \(error)")
            }
        }
    }
}
