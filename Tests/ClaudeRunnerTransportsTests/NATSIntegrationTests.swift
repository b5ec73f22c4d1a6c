import ClaudeRunner
import ClaudeRunnerClient
import ClaudeRunnerTesting
import ClaudeRunnerTransports
import Foundation
import Logging
import NATS
import NIOCore
import NIOFoundationCompat
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The NATS client and the runner's NATS service against a real `nats-server`.
@Suite("NATS against nats-server", .timeLimit(.minutes(3)))
struct NATSIntegrationTests {
    static var logger: Logger { RunnerFixture.logger }

    /// Runs `body` with a connected client; the client closes afterwards.
    static func withClient<T: Sendable>(
        _ url: String, credentials: Credentials? = nil, nkey: NKey? = nil,
        _ body: @escaping @Sendable (NATSClient) async throws -> T
    ) async throws -> T {
        let client = NATSClient(
            options: NATSClientOptions(
                url: try NATSServerURL(url), name: "test", credentials: credentials, nkey: nkey,
                reconnectWait: .milliseconds(100), maxReconnectWait: .milliseconds(500)),
            logger: logger)
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                try await client.run()
                return nil
            }
            defer { group.cancelAll() }
            try await client.waitUntilConnected(timeout: .seconds(30))
            let result = try await body(client)
            await client.close()
            return result
        }
    }

    /// A runner serving NATS for `fixture` on `natsURL`, with edge id `edge`, while `body` runs.
    /// - Parameter ledgerRunnerName: Given, the runner opens its ledger (as `claude-runner` does) and goes by
    ///   this `nats.runnerName`.
    static func withRunner<T: Sendable>(
        _ fixture: RunnerFixture, natsURL: String, edge: String = "edge-1", ledgerRunnerName: String? = nil,
        _ body: @escaping @Sendable (RunnerService) async throws -> T
    ) async throws -> T {
        let background = BackgroundWork(shutdownGrace: .seconds(5), logger: logger)
        var config = fixture.config
        var ledger: (any RunLedger)?
        if let ledgerRunnerName {
            config.nats.runnerName = ledgerRunnerName
            ledger = await LedgerSetup.open(config: config, logger: logger)
        }
        let runner = RunnerService(config: config, scheduler: background, ledger: ledger, logger: logger)
        let client = NATSClient(
            options: NATSClientOptions(
                url: try NATSServerURL(natsURL), name: "Claude Runner - \(edge)", reconnectWait: .milliseconds(100),
                maxReconnectWait: .milliseconds(500)),
            logger: logger)
        let service = NATSTransport.service(client: client, runner: runner, edgeID: edge, logger: logger)
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                try await background.run()
                return nil
            }
            group.addTask {
                try await client.run()
                return nil
            }
            group.addTask {
                try await service.run()
                return nil
            }
            defer { group.cancelAll() }
            try await client.waitUntilConnected(timeout: .seconds(30))
            try await client.flush()
            let result = try await body(runner)
            return result
        }
    }

    static func runner(_ url: String, edge: String = "edge-1") -> NATSRunnerClient {
        NATSRunnerClient(
            url: url, credentialsFile: nil, edgeID: edge, timeout: .seconds(60), connectTimeout: .seconds(30))
    }

    @Test("publish, subscribe and request/reply")
    func requestReply() async throws {
        let server = try await NATSServerProcess.start()
        defer { Task { await server.shutdown() } }
        try await Self.withClient(server.url) { client in
            let echo = try client.subscribe(to: "echo.>", queueGroup: "q")
            let responder = Task {
                for await message in echo {
                    if let reply = message.replyTo {
                        try client.publish(ByteBuffer(string: "re: " + String(buffer: message.payload)), to: reply)
                    }
                }
            }
            defer { responder.cancel() }
            // Bounds for liveness, not speed: the whole suite starts at once on two cores.
            try await client.flush(timeout: .seconds(30))
            for index in 0..<20 {
                let reply = try await client.request(
                    ByteBuffer(string: "ping \(index)"), to: "echo.x", timeout: .seconds(30))
                #expect(String(buffer: reply.payload) == "re: ping \(index)")
            }
            await #expect(throws: NATSError.noResponders) {
                try await client.request(ByteBuffer(string: "x"), to: "nobody.home", timeout: .seconds(30))
            }
            echo.unsubscribe()
        }
        await server.shutdown()
    }

    @Test("the runner over NATS: Result, error headers, and service discovery")
    func runnerEndpoints() async throws {
        let server = try await NATSServerProcess.start()
        defer { Task { await server.shutdown() } }
        let fixture = try RunnerFixture(claudeBehaviour: ["OUTPUT": "over nats"])
        defer { fixture.directory.remove() }
        try await Self.withRunner(fixture, natsURL: server.url) { _ in
            let result = try await Self.runner(server.url).send(.run(RunRequest(prompt: "hello")))
            #expect(result.output == "over nats")
            #expect(ULID.isValid(result.id))
            #expect(fixture.claude.arguments == ["-p", "hello", "--output-format", "stream-json", "--verbose"])

            try await Self.withClient(server.url) { client in
                let subject = "edges.edge-1.claude-runner.run"
                let bad = try await client.request(ByteBuffer(string: "[1]"), to: subject, timeout: .seconds(30))
                #expect(bad.headers?["Nats-Service-Error-Code"] == "400")
                #expect(bad.headers?["Nats-Service-Error"] == "request body must be a JSON object")
                #expect(bad.payload.readableBytes == 0)

                let invalid = try await client.request(
                    ByteBuffer(string: #"{"prompt":""}"#), to: subject, timeout: .seconds(30))
                #expect(invalid.headers?["Nats-Service-Error-Code"] == "417")
                #expect(invalid.headers?["Nats-Service-Error"] == "invalid prompt")

                let ping = try await client.request(ByteBuffer(), to: "$SRV.PING.claude-runner", timeout: .seconds(30))
                let pingJSON = try #require(
                    try JSONSerialization.jsonObject(with: Data(buffer: ping.payload)) as? [String: Any])
                #expect(pingJSON["type"] as? String == "io.nats.micro.v1.ping_response")
                #expect(pingJSON["name"] as? String == "claude-runner")
                let id = try #require(pingJSON["id"] as? String)

                let info = try await client.request(
                    ByteBuffer(), to: "$SRV.INFO.claude-runner.\(id)", timeout: .seconds(30))
                let infoJSON = try #require(
                    try JSONSerialization.jsonObject(with: Data(buffer: info.payload)) as? [String: Any])
                #expect(infoJSON["type"] as? String == "io.nats.micro.v1.info_response")
                let endpoints = try #require(infoJSON["endpoints"] as? [[String: Any]])
                // The run endpoints share the work in queue group q (the run-control ones: NATSRunControlTests).
                let runEndpoints = endpoints.filter { ($0["subject"] as? String)?.contains(".runs.") == false }
                #expect(
                    Set(runEndpoints.compactMap { $0["subject"] as? String }) == [
                        "edges.edge-1.claude-runner.run", "edges.edge-1.claude-runner.run-issue",
                        "edges.edge-1.claude-runner.cleanup-issue",
                    ])
                #expect(runEndpoints.allSatisfy { $0["queue_group"] as? String == "q" })

                let stats = try await client.request(ByteBuffer(), to: "$SRV.STATS", timeout: .seconds(30))
                let statsJSON = try #require(
                    try JSONSerialization.jsonObject(with: Data(buffer: stats.payload)) as? [String: Any])
                #expect(statsJSON["type"] as? String == "io.nats.micro.v1.stats_response")
                let run = try #require(
                    (statsJSON["endpoints"] as? [[String: Any]])?.first { $0["name"] as? String == "run" })
                #expect(run["num_requests"] as? Int == 3)
                #expect(run["num_errors"] as? Int == 2)
            }
        }
        await server.shutdown()
    }

    @Test("a busy runner answers NATS error code 503 at once")
    func busy() async throws {
        let server = try await NATSServerProcess.start()
        defer { Task { await server.shutdown() } }
        // The first run's claude sleeps 60 s: a 503 while it still runs is "at once", however slow the machine.
        var fixture = try RunnerFixture(claudeBehaviour: ["OUTPUT": "slow", "DELAY": "60"])
        defer { fixture.directory.remove() }
        fixture.config.limits.maxConcurrentRuns = 1
        fixture.config.limits.maxQueuedRuns = 0
        try await Self.withRunner(fixture, natsURL: server.url) { [fixture] _ in
            let first = Task { try await Self.runner(server.url).send(.run(RunRequest(prompt: "1"))) }
            try await fixture.claude.waitUntilStarted()
            let firstClaude = try #require(fixture.claude.processID)
            try await Self.withClient(server.url) { client in
                let reply = try await client.request(
                    ByteBuffer(string: #"{"prompt":"2"}"#), to: "edges.edge-1.claude-runner.run",
                    timeout: .seconds(30))
                #expect(reply.headers?["Nats-Service-Error-Code"] == "503")
                #expect(
                    reply.headers?["Nats-Service-Error"]
                        == "runner is busy: 1 runs in progress and 0 waiting (limits.maxQueuedRuns); retry later")
                #expect(processIsAlive(firstClaude))
            }
            #expect(fixture.claude.callCount == 1)
            // The refused request left the run in progress alone: it ends as its claude does.
            kill(firstClaude, SIGTERM)
            #expect(try await first.value.error == "signal: terminated")
        }
        await server.shutdown()
    }

    @Test("two runners with the same edge id share the work through the queue group")
    func queueGroup() async throws {
        let server = try await NATSServerProcess.start()
        defer { Task { await server.shutdown() } }
        let first = try RunnerFixture(claudeBehaviour: ["OUTPUT": "first", "DELAY": "0.2"])
        let second = try RunnerFixture(claudeBehaviour: ["OUTPUT": "second", "DELAY": "0.2"])
        defer {
            first.directory.remove()
            second.directory.remove()
        }
        try await Self.withRunner(first, natsURL: server.url) { _ in
            try await Self.withRunner(second, natsURL: server.url) { _ in
                let outputs = try await withThrowingTaskGroup(of: String.self) { group in
                    for _ in 0..<12 {
                        group.addTask { try await Self.runner(server.url).send(.run(RunRequest(prompt: "p"))).output }
                    }
                    return try await group.reduce(into: [String]()) { $0.append($1) }
                }
                #expect(outputs.count == 12)
                #expect(outputs.contains("first"))
                #expect(outputs.contains("second"))
            }
        }
        await server.shutdown()
    }

    @Test("the server goes away and comes back: the runner reconnects and keeps serving")
    func reconnect() async throws {
        let directory = try TemporaryDirectory("nats-restart")
        let server = try await NATSServerProcess.start(in: directory)
        let fixture = try RunnerFixture(claudeBehaviour: ["OUTPUT": "still here"])
        defer { fixture.directory.remove() }
        try await Self.withRunner(fixture, natsURL: server.url) { _ in
            #expect(try await Self.runner(server.url).send(.run(RunRequest(prompt: "a"))).output == "still here")
            await server.stop()
            let restarted = try await NATSServerProcess.start(port: server.port, in: directory)
            defer { Task { await restarted.shutdown() } }
            try await eventually(timeout: .seconds(20), "runner serving again") {
                (try? await Self.runner(server.url).send(.run(RunRequest(prompt: "b"))).output) == "still here"
            }
            await restarted.shutdown()
        }
    }

    @Test("token in the URL; a wrong token fails fast with an authorization error")
    func tokenAuth() async throws {
        let server = try await NATSServerProcess.start(config: "authorization { token: \"s3cret-token\" }")
        defer { Task { await server.shutdown() } }
        let good = "nats://s3cret-token@127.0.0.1:\(server.port)"
        try await Self.withClient(good) { client in
            try await client.flush()
        }
        let started = ContinuousClock.now
        let error = try await #require(throws: NATSRunnerClient.Failure.self) {
            try await NATSRunnerClient(
                url: "nats://wrong-token@127.0.0.1:\(server.port)", credentialsFile: nil, edgeID: "e",
                connectTimeout: .seconds(10)
            ).send(.run(RunRequest(prompt: "p")))
        }
        // Fast: within about the 10 s connect timeout, not the 600 s request timeout.
        #expect(ContinuousClock.now - started < .seconds(60))
        #expect(error.description.contains("authorization"))
        #expect(!error.description.contains("wrong-token"))
        await server.shutdown()
    }

    @Test("user and password in the URL")
    func userPassword() async throws {
        let server = try await NATSServerProcess.start(config: "authorization { user: alice, password: \"pa55word\" }")
        defer { Task { await server.shutdown() } }
        try await Self.withClient("nats://alice:pa55word@127.0.0.1:\(server.port)") { client in
            try await client.flush()
        }
        let refused = NATSClient(
            options: NATSClientOptions(url: try NATSServerURL("nats://alice:wrong@127.0.0.1:\(server.port)")),
            logger: Self.logger)
        let error: NATSError? = await withTaskGroup(of: NATSError??.self) { group in
            group.addTask {
                try? await refused.run()
                return nil
            }
            defer { group.cancelAll() }
            do {
                try await refused.waitUntilConnected(timeout: .seconds(10))
                return nil
            } catch {
                await refused.close()
                return error as? NATSError
            }
        }
        #expect(error?.kind == .authorization)
        #expect(error?.description.contains("wrong") == false)
        await server.shutdown()
    }

    @Test("publishes made while disconnected are sent after the reconnect, up to the buffer limit")
    func reconnectBuffer() async throws {
        let directory = try TemporaryDirectory("nats-buffer")
        let server = try await NATSServerProcess.start(in: directory)
        let client = NATSClient(
            options: NATSClientOptions(
                url: try NATSServerURL(server.url), reconnectWait: .milliseconds(100),
                maxReconnectWait: .milliseconds(300), reconnectBufferBytes: 4096),
            logger: Self.logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await client.run() }
            defer { group.cancelAll() }
            try await client.waitUntilConnected(timeout: .seconds(30))
            let subscription = try client.subscribe(to: "buffered")
            try await client.flush()
            await server.stop()
            try await eventually("disconnected") { !client.isConnected }
            try client.publish(ByteBuffer(string: "kept"), to: "buffered")
            #expect(throws: NATSError.self) {
                try client.publish(ByteBuffer(repeating: 0, count: 8192), to: "buffered")
            }
            let restarted = try await NATSServerProcess.start(port: server.port, in: directory)
            defer { Task { await restarted.shutdown() } }
            let received: String? = try await within(.seconds(20), "the publish buffered while disconnected") {
                for await message in subscription { return String(buffer: message.payload) }
                return nil
            }
            #expect(received == "kept")
            await client.close()
            await restarted.shutdown()
        }
    }

    @Test("NKey authentication signs the server's nonce")
    func nkeyAuth() async throws {
        // Seed and public key from NKeyTests (made with the Python nkeys package).
        let seed = NKeyTestVector.userSeed
        let key = try NKey(seed: seed)
        let server = try await NATSServerProcess.start(
            config: "authorization { users = [ { nkey: \(key.publicKey) } ] }")
        defer { Task { await server.shutdown() } }
        try await Self.withClient(server.url, nkey: key) { client in
            try await client.flush()
        }
        await server.shutdown()
    }

    @Test("WebSocket: ws:// carries the same protocol")
    func websocket() async throws {
        let server = try await NATSServerProcess.start(websocket: true)
        defer { Task { await server.shutdown() } }
        let fixture = try RunnerFixture(claudeBehaviour: ["OUTPUT": "via websocket"])
        defer { fixture.directory.remove() }
        let wsURL = try #require(server.websocketURL)
        try await Self.withRunner(fixture, natsURL: wsURL) { _ in
            // Larger than a WebSocket frame of the default size and than a TCP packet.
            let big = String(repeating: "y", count: 100_000)
            let result = try await Self.runner(wsURL).send(.run(RunRequest(prompt: big)))
            #expect(result.output == "via websocket")
            #expect(fixture.claude.prompt?.count == big.count)
        }
        await server.shutdown()
    }
}

/// A user NKey made with the Python `nkeys` package (see NKeyTests).
enum NKeyTestVector {
    static let userSeed = "SUAAAAICAMCAKBQHBAEQUCYMBUHA6EARCIJRIFIWC4MBSGQ3DQOR4H776Y"
}

@Suite("NATS over TLS", .timeLimit(.minutes(3)))
struct NATSTLSTests {
    static func client(_ url: String, trusting caFile: String?) throws -> NATSClient {
        var tls = NATSTLS.clientConfiguration(environment: caFile.map { ["SSL_CERT_FILE": $0] } ?? [:])
        tls.minimumTLSVersion = .tlsv12
        return NATSClient(
            options: NATSClientOptions(
                url: try NATSServerURL(url), name: "tls-test", reconnectWait: .milliseconds(100),
                maxReconnectWait: .milliseconds(300), tlsConfiguration: tls),
            logger: RunnerFixture.logger)
    }

    /// Connects and reports what happened within a few seconds.
    static func connect(_ client: NATSClient) async -> Result<Void, NATSError> {
        await withTaskGroup(of: Result<Void, NATSError>?.self) { group in
            group.addTask {
                try? await client.run()
                return nil
            }
            defer { group.cancelAll() }
            do {
                try await client.waitUntilConnected(timeout: .seconds(30))
                try await client.flush()
                await client.close()
                return .success(())
            } catch let error as NATSError {
                await client.close()
                return .failure(error)
            } catch {
                await client.close()
                return .failure(NATSError(.connectionFailed, "\(error)"))
            }
        }
    }

    @Test("tls:// and nats:// to a TLS server verify the certificate against SSL_CERT_FILE; an untrusted one fails")
    func tls() async throws {
        let directory = try TemporaryDirectory("nats-tls")
        defer { directory.remove() }
        let certificates = try await TestCertificates.make(in: directory)
        let server = try await NATSServerProcess.start(
            config:
                "tls {\n  cert_file: \"\(certificates.certificateFile)\"\n  key_file: \"\(certificates.keyFile)\"\n}")
        defer { Task { await server.shutdown() } }

        let viaTLS = await Self.connect(
            try Self.client("tls://127.0.0.1:\(server.port)", trusting: certificates.caFile))
        #expect(throws: Never.self) { try viaTLS.get() }
        let upgraded = await Self.connect(
            try Self.client("nats://127.0.0.1:\(server.port)", trusting: certificates.caFile))
        #expect(throws: Never.self) { try upgraded.get() }
        let byName = await Self.connect(
            try Self.client("tls://localhost:\(server.port)", trusting: certificates.caFile))
        #expect(throws: Never.self) { try byName.get() }

        let secureWebSocketPort = try freeLoopbackPort()
        let websocketServer = try await NATSServerProcess.start(
            config: """
                websocket {
                  listen: "127.0.0.1:\(secureWebSocketPort)"
                  tls { cert_file: "\(certificates.certificateFile)", key_file: "\(certificates.keyFile)" }
                }
                """)
        defer { Task { await websocketServer.shutdown() } }
        let viaWSS = await Self.connect(
            try Self.client("wss://127.0.0.1:\(secureWebSocketPort)", trusting: certificates.caFile))
        #expect(throws: Never.self) { try viaWSS.get() }
        await websocketServer.shutdown()

        let untrusted = await Self.connect(try Self.client("tls://127.0.0.1:\(server.port)", trusting: nil))
        guard case .failure(let error) = untrusted else {
            Issue.record("an untrusted certificate was accepted")
            return
        }
        #expect(error.kind == .tls, "\(error)")
        #expect(error.description.contains("CERTIFICATE_VERIFY_FAILED"), "\(error)")
        await server.shutdown()
    }
}

@Suite("NATS creds (JWT + NKey) against an operator-mode server", .timeLimit(.minutes(3)))
struct NATSCredsTests {
    static var fixtures: String { (#filePath as NSString).deletingLastPathComponent + "/Fixtures" }

    @Test("a .creds file logs in by signing the nonce; a user of an unknown account is refused as authorization")
    func creds() async throws {
        let operatorConfig = try String(contentsOfFile: Self.fixtures + "/operator.conf", encoding: .utf8)
        let server = try await NATSServerProcess.start(config: operatorConfig)
        defer { Task { await server.shutdown() } }

        let good = try Credentials(contentsOfFile: Self.fixtures + "/user.creds")
        try await NATSIntegrationTests.withClient(server.url, credentials: good) { client in
            let subscription = try client.subscribe(to: "creds.check")
            try await client.flush()
            try client.publish(ByteBuffer(string: "ok"), to: "creds.check")
            let received: String? = try await within(.seconds(20), "the message published with creds") {
                for await message in subscription { return String(buffer: message.payload) }
                return nil
            }
            #expect(received == "ok")
        }

        let refused = try await #require(throws: NATSRunnerClient.Failure.self) {
            try await NATSRunnerClient(
                url: server.url, credentialsFile: Self.fixtures + "/stranger.creds", edgeID: "e",
                connectTimeout: .seconds(10)
            ).send(.run(RunRequest(prompt: "p")))
        }
        #expect(refused.description.contains("authorization"))
        await server.shutdown()
    }
}
