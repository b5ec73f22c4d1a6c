import Foundation

extension RunnerFixture {
    /// The `claude-runner` binary serving HTTP for this fixture, as an operator starts it.
    public struct ServerUnderTest: Sendable {
        public let process: RunningProcess
        public let port: Int
        /// The config directory given as `--path`.
        public let path: String
        /// `http://127.0.0.1:<port>` (what a client on this machine uses, whatever the listen host).
        public var endpoint: String { "http://127.0.0.1:\(port)" }
    }

    /// Writes `yaml` as `config.yaml`, starts `claude-runner --http` on `host` (a free port unless `port` is
    /// given) with the fake `claude` first on `PATH`, and waits until it listens.
    public func startServer(
        yaml: String = "", host: String = "127.0.0.1", port: Int? = nil, arguments: [String] = [],
        environment: [String: String?] = [:]
    ) async throws -> ServerUnderTest {
        let path = try writeConfigFile(yaml)
        var environment = environment
        if environment["PATH"] == nil { environment["PATH"] = pathWithFakeClaude }
        // A free port can be taken by another test's process before this one binds it: then another.
        var attempt = 0
        while true {
            attempt += 1
            let chosen = try port ?? freeLoopbackPort()
            let process = RunningProcess(
                Binaries.server, ["--http", "--http-addr", "\(host):\(chosen)", "--path", path] + arguments,
                environment: environment)
            do {
                try await process.waitFor("HTTP transport listening")
                return ServerUnderTest(process: process, port: chosen, path: path)
            } catch let failure as Command.Failure
                where port == nil && attempt < 5 && failure.description.contains("Address already in use")
            {
                continue
            }
        }
    }
}
