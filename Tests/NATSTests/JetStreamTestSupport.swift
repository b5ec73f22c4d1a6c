import ClaudeRunnerTesting
import Logging
import NIOCore

@testable import NATS

/// A real `nats-server` (with JetStream unless asked otherwise) and a connected client for one test.
enum JetStreamTestSupport {
    static var logger: Logger { RunnerFixture.logger }

    /// Runs `body` with a fresh server; the server is stopped and its folder removed whatever happens.
    static func withServer<T: Sendable>(
        jetStream: Bool = true, _ body: (NATSServerProcess) async throws -> T
    ) async throws -> T {
        let server = try await NATSServerProcess.start(jetStream: jetStream)
        do {
            let result = try await body(server)
            await server.shutdown()
            return result
        } catch {
            await server.shutdown()
            throw error
        }
    }

    /// Runs `body` with a running client on `url` and JetStream over it; the client closes afterwards. The
    /// timeout is generous: these tests share a small, busy machine.
    static func withJetStream<T: Sendable>(
        _ url: String, timeout: Duration = .seconds(15), _ body: @escaping @Sendable (JetStream) async throws -> T
    ) async throws -> T {
        let client = NATSClient(
            options: NATSClientOptions(
                url: try NATSServerURL(url), name: "jetstream-test", reconnectWait: .milliseconds(100),
                maxReconnectWait: .milliseconds(500)),
            logger: logger)
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                try await client.run()
                return nil
            }
            defer { group.cancelAll() }
            try await client.waitUntilConnected(timeout: .seconds(30))
            let result = try await body(JetStream(client: client, timeout: timeout, logger: logger))
            await client.close()
            return result
        }
    }

    /// A server with JetStream, a client, and a work-queue stream `TASKS` on `tasks.>` with the pull consumer
    /// `worker` (explicit acks).
    static func withWorkQueue<T: Sendable>(
        ackWait: Duration = .seconds(30), maxDeliver: Int? = nil, storage: StreamConfig.Storage = .memory,
        _ body: @escaping @Sendable (JetStream) async throws -> T
    ) async throws -> T {
        try await withServer { server in
            try await withJetStream(server.url) { jetStream in
                try await jetStream.createStream(
                    StreamConfig(name: "TASKS", subjects: ["tasks.>"], retention: .workQueue, storage: storage))
                try await jetStream.createConsumer(
                    stream: "TASKS",
                    ConsumerConfig(
                        durableName: "worker", ackPolicy: .explicit, ackWait: ackWait, maxDeliver: maxDeliver))
                return try await body(jetStream)
            }
        }
    }
}

extension JetStream {
    /// Publishes a text payload.
    @discardableResult
    func publish(_ text: String, to subject: String, messageID: String? = nil) async throws -> PubAck {
        try await publish(ByteBuffer(string: text), to: subject, messageID: messageID)
    }

    /// Pulls from the test consumer `worker` on `TASKS`.
    func fetchTasks(
        batch: Int = 1, expires: Duration = .seconds(5), noWait: Bool = false
    ) async throws
        -> [JetStreamMessage]
    {
        try await fetch(stream: "TASKS", consumer: "worker", batch: batch, expires: expires, noWait: noWait)
    }

    /// Messages in `TASKS` now.
    func taskCount() async throws -> UInt64 {
        try await streamInfo("TASKS").state.messages
    }
}

extension JetStreamMessage {
    var text: String { String(buffer: payload) }
}
