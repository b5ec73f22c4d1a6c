import ClaudeRunner
import ClaudeRunnerTesting
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The binaries over NATS, as an operator and a GitHub Action use them.
@Suite("claude-runner over NATS (binaries)", .timeLimit(.minutes(3)))
struct NATSBinaryTests {
    /// A config directory whose `id` file enables NATS for `edge`.
    func configDirectory(_ fixture: RunnerFixture, edge: String) throws -> String {
        let path = try fixture.writeConfigFile("workDir: \(fixture.directory.appending("work"))\n")
        try "\(edge)\n".write(toFile: path + "/id", atomically: true, encoding: .utf8)
        return path
    }

    @Test("the id file enables NATS; the client reaches the runner by edge id; SIGTERM exits 0")
    func endToEnd() async throws {
        let nats = try await NATSServerProcess.start()
        defer { Task { await nats.shutdown() } }
        let fixture = try RunnerFixture(claudeBehaviour: ["OUTPUT": "answer over nats"])
        defer { fixture.directory.remove() }
        let path = try configDirectory(fixture, edge: "edge-42")
        let server = RunningProcess(
            Binaries.server, ["--path", path], environment: ["PATH": fixture.pathWithFakeClaude, "NATS_URL": nats.url])
        defer { Task { await server.stop() } }
        try await server.waitFor("NATS service registered")

        let output = try await Command.output(
            Binaries.client, ["--edge-id", "edge-42", "--nats-url", nats.url, "--prompt", "hello"])
        #expect(output.exit == .exited(0), "\(output.standardError)")
        #expect(output.standardOutput == "answer over nats")

        let failing = try await Command.output(
            Binaries.client, ["--edge-id", "edge-42", "--nats-url", nats.url, "--prompt", ""],
            environment: ["PROMPT": nil])
        #expect(failing.exit == .exited(1))
        #expect(failing.standardError.contains("--prompt is required unless --event=issue or issue-closed"))

        let invalid = try await Command.output(
            Binaries.client, ["--edge-id", "edge-42", "--nats-url", nats.url, "--prompt", "p", "--repo=-x"])
        #expect(invalid.exit == .exited(1))
        #expect(invalid.standardError.contains("service error 417: invalid repo"))

        let nobody = try await Command.output(
            Binaries.client, ["--edge-id", "no-such-edge", "--nats-url", nats.url, "--prompt", "p"])
        #expect(nobody.exit == .exited(1))
        #expect(nobody.standardError.contains("no responders"))

        await server.signal(SIGTERM)
        #expect(try await server.exit == .exited(0))
        let log = await server.standardError
        #expect(log.contains("edge_id=edge-42"))
        await nats.shutdown()
    }

    @Test("a NATS server that is down at start-up is retried, not fatal")
    func serverDownAtStartup() async throws {
        let directory = try TemporaryDirectory("nats-late")
        let port = try freeLoopbackPort()
        let fixture = try RunnerFixture(claudeBehaviour: ["OUTPUT": "late but fine"])
        defer { fixture.directory.remove() }
        let path = try configDirectory(fixture, edge: "edge-late")
        let url = "nats://127.0.0.1:\(port)"
        let server = RunningProcess(
            Binaries.server, ["--path", path, "--nats", url], environment: ["PATH": fixture.pathWithFakeClaude])
        defer { Task { await server.stop() } }
        try await server.waitFor("NATS connection failed; retrying")
        #expect(!server.hasExited)
        let nats = try await NATSServerProcess.start(port: port, in: directory)
        defer { Task { await nats.shutdown() } }
        try await server.waitFor("NATS service registered")
        try await server.waitFor("NATS connected")
        let output = try await Command.output(
            Binaries.client, ["--edge-id", "edge-late", "--nats-url", url, "--prompt", "p"])
        #expect(output.standardOutput == "late but fine", "\(output.standardError)")
        await server.stop()
        await nats.shutdown()
    }

    @Test("SIGTERM drains: a request in flight is still answered, then the runner exits 0")
    func drainOnShutdown() async throws {
        let nats = try await NATSServerProcess.start()
        defer { Task { await nats.shutdown() } }
        let fixture = try RunnerFixture(claudeBehaviour: ["OUTPUT": "finished in time", "DELAY": "2"])
        defer { fixture.directory.remove() }
        let path = try configDirectory(fixture, edge: "edge-7")
        let server = RunningProcess(
            Binaries.server, ["--path", path, "--nats", nats.url], environment: ["PATH": fixture.pathWithFakeClaude])
        defer { Task { await server.stop() } }
        try await server.waitFor("NATS service registered")
        let request = Task {
            try await Command.output(
                Binaries.client, ["--edge-id", "edge-7", "--nats-url", nats.url, "--prompt", "slow"])
        }
        try await fixture.claude.waitUntilStarted()
        await server.signal(SIGTERM)
        let output = try await request.value
        #expect(output.exit == .exited(0), "\(output.standardError)")
        #expect(output.standardOutput == "finished in time")
        #expect(try await server.exit == .exited(0))
        await nats.shutdown()
    }

    @Test("a refused login is logged with the word authorization, retried, and never exits 0")
    func refusedLogin() async throws {
        let nats = try await NATSServerProcess.start(config: "authorization { token: \"right-token\" }")
        defer { Task { await nats.shutdown() } }
        let fixture = try RunnerFixture()
        defer { fixture.directory.remove() }
        let path = try configDirectory(fixture, edge: "edge-1")
        let server = RunningProcess(
            Binaries.server, ["--path", path, "--nats", "nats://wrong-token@127.0.0.1:\(nats.port)"],
            environment: ["PATH": fixture.pathWithFakeClaude])
        defer { Task { await server.stop() } }
        try await server.waitFor("authorization violation")
        #expect(!server.hasExited)
        let log = await server.standardError
        #expect(!log.contains("wrong-token"))
        await server.stop()

        let client = try await Command.output(
            Binaries.client,
            ["--edge-id", "edge-1", "--nats-url", "nats://wrong-token@127.0.0.1:\(nats.port)", "--prompt", "p"])
        #expect(client.exit == .exited(1))
        #expect(client.standardError.contains("authorization"))
        #expect(!client.standardError.contains("wrong-token"))
        await nats.shutdown()
    }

    @Test("a malformed creds file stops start-up naming the file, never printing the seed")
    func badCreds() async throws {
        let fixture = try RunnerFixture()
        defer { fixture.directory.remove() }
        let path = try configDirectory(fixture, edge: "edge-1")
        let seed = "SUAAAAICAMCAKBQHBAEQUCYMBUHA6EARCIJRIFIWC4MBSGQ3DQOR4H776Z"
        try "-----BEGIN USER NKEY SEED-----\n\(seed)\n------END USER NKEY SEED------\n".write(
            toFile: path + "/user.creds", atomically: true, encoding: .utf8)
        let output = try await Command.output(Binaries.server, ["--path", path])
        #expect(output.exit == .exited(1))
        #expect(output.standardError.contains(path + "/user.creds"))
        #expect(!output.standardError.contains(seed))
    }
}
