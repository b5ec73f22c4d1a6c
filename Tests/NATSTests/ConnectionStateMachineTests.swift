import Testing

@testable import NATS

@Suite("connection state machine", .timeLimit(.minutes(1)))
struct ConnectionStateMachineTests {
    func machine() -> NATSConnectionStateMachine {
        NATSConnectionStateMachine(reconnectWait: .milliseconds(100), maxReconnectWait: .seconds(2))
    }

    @Test("connect, lose the connection, reconnect with backoff, close")
    func lifecycle() {
        var machine = machine()
        #expect(machine.start() == .connect)
        #expect(machine.connected() == .resubscribeAndFlush)
        #expect(machine.state == .connected)
        guard case .reconnect(let first, let log) = machine.disconnected(failure: nil) else {
            Issue.record("expected a reconnect")
            return
        }
        #expect(log)
        #expect(first >= .milliseconds(75) && first <= .milliseconds(125))
        #expect(machine.start() == .connect)
        #expect(machine.close() == .stop)
        #expect(machine.isClosing)
        #expect(machine.disconnected(failure: "x") == .stop)
        #expect(machine.start() == .stop)
    }

    @Test("failed attempts back off exponentially up to the cap, with jitter")
    func backoff() {
        var machine = machine()
        var delays: [Duration] = []
        _ = machine.start()
        for _ in 0..<10 {
            if case .reconnect(let delay, _) = machine.disconnected(failure: "connection refused") {
                delays.append(delay)
            }
            _ = machine.start()
        }
        #expect(delays.count == 10)
        #expect(delays[1] >= .milliseconds(150) && delays[1] <= .milliseconds(250))
        #expect(delays[2] >= .milliseconds(300) && delays[2] <= .milliseconds(500))
        #expect(delays.allSatisfy { $0 <= .milliseconds(2500) })
        #expect(delays.last! >= .milliseconds(1500))
    }

    @Test("the same failure over and over is logged only now and then")
    func logThrottling() {
        var machine = machine()
        _ = machine.start()
        var logged = 0
        for _ in 0..<30 {
            if case .reconnect(_, true) = machine.disconnected(failure: "authorization violation") { logged += 1 }
            _ = machine.start()
        }
        #expect(logged == 3)
        let next = machine.disconnected(failure: "a new reason")
        guard case .reconnect(_, let log) = next else {
            Issue.record("expected a reconnect, got \(next)")
            return
        }
        #expect(log)
    }

    @Test("a success resets the backoff")
    func resetAfterSuccess() {
        var machine = machine()
        _ = machine.start()
        for _ in 0..<5 {
            _ = machine.disconnected(failure: "refused")
            _ = machine.start()
        }
        _ = machine.connected()
        let next = machine.disconnected(failure: "refused")
        guard case .reconnect(let delay, let log) = next else {
            Issue.record("expected a reconnect, got \(next)")
            return
        }
        #expect(delay <= .milliseconds(125))
        #expect(log)
    }
}

@Suite("server URLs", .timeLimit(.minutes(1)))
struct NATSServerURLTests {
    @Test("schemes, default ports, credentials")
    func parsing() throws {
        let plain = try NATSServerURL("nats://127.0.0.1")
        #expect(plain.scheme == .nats)
        #expect(plain.port == 4222)
        let wss = try NATSServerURL("wss://nats.flarex.io")
        #expect(wss.port == 443)
        #expect(wss.path == "/")
        let ws = try NATSServerURL("ws://host:8080/nats")
        #expect(ws.path == "/nats")
        let userPassword = try NATSServerURL("nats://alice:s3cret@host:4223")
        #expect(userPassword.user == "alice")
        #expect(userPassword.password == "s3cret")
        #expect(!userPassword.description.contains("s3cret"))
        let token = try NATSServerURL("tls://tok3n@host")
        #expect(token.token == "tok3n")
        #expect(token.user == nil)
    }

    @Test("bad URLs say why", arguments: ["http://host", "nats://", "host:4222", "nats://host:99999"])
    func rejected(text: String) {
        #expect(throws: NATSError.self) { try NATSServerURL(text) }
    }
}
