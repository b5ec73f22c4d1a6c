import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A real `nats-server` on a free loopback port, started by a test with the config it needs.
public final class NATSServerProcess: Sendable {
    public let port: Int
    public let websocketPort: Int?
    public let directory: TemporaryDirectory
    /// Whether JetStream is on; its store is `directory/jetstream`, so a restart keeps the messages.
    public let jetStream: Bool
    let configFile: String
    private let extraConfig: String
    private let process: RunningProcess

    /// `nats://127.0.0.1:<port>`.
    public var url: String { "nats://127.0.0.1:\(port)" }
    public var websocketURL: String? { websocketPort.map { "ws://127.0.0.1:\($0)" } }

    /// Starts a server; `config` is added to the generated config (auth, TLS, …).
    /// - Parameters:
    ///   - port: A fixed port (to restart a server where it was); a free one by default.
    ///   - websocket: Also listen for WebSocket clients (no TLS) on a free port.
    ///   - jetStream: Enable JetStream, storing in the server's folder (`-js -sd <folder>` in config form).
    public static func start(
        config: String = "", port: Int? = nil, websocket: Bool = false, jetStream: Bool = false,
        in directory: TemporaryDirectory? = nil
    ) async throws -> NATSServerProcess {
        try Command.require("nats-server")
        let directory = try directory ?? TemporaryDirectory("nats")
        // A free port can be taken by a parallel test before the server binds it: try again on another.
        var lastLog = ""
        for _ in 0..<(port == nil ? 5 : 1) {
            let port = try port ?? freeLoopbackPort()
            let websocketPort = websocket ? try freeLoopbackPort() : nil
            var text = "listen: 127.0.0.1:\(port)\n"
            if let websocketPort {
                text += "websocket {\n  listen: \"127.0.0.1:\(websocketPort)\"\n  no_tls: true\n}\n"
            }
            if jetStream {
                let store = directory.appending("jetstream")
                text += "jetstream {\n  store_dir: \"\(store)\"\n  max_memory_store: 64MB\n  max_file_store: 1GB\n}\n"
            }
            text += config + "\n"
            let configFile = directory.appending("nats-\(port).conf")
            try text.write(toFile: configFile, atomically: true, encoding: .utf8)
            let process = RunningProcess("nats-server", ["-c", configFile])
            do {
                try await eventually(timeout: .seconds(30), "nats-server ready") {
                    let log = await process.standardError
                    if process.hasExited || log.contains("[FTL]") { throw Command.Failure(description: log) }
                    return log.contains("Server is ready")
                }
                return NATSServerProcess(
                    port: port, websocketPort: websocketPort, directory: directory, jetStream: jetStream,
                    configFile: configFile, extraConfig: config, process: process)
            } catch {
                lastLog = await process.standardError
                await process.stop()
            }
        }
        throw Command.Failure(description: "nats-server did not start: \(lastLog)")
    }

    init(
        port: Int, websocketPort: Int?, directory: TemporaryDirectory, jetStream: Bool, configFile: String,
        extraConfig: String, process: RunningProcess
    ) {
        self.port = port
        self.websocketPort = websocketPort
        self.directory = directory
        self.jetStream = jetStream
        self.configFile = configFile
        self.extraConfig = extraConfig
        self.process = process
    }

    public var log: String { get async { await process.standardError } }

    /// Kills the server (as a crash would).
    public func stop() async {
        await process.stop()
    }

    /// Kills the server and starts it again on the same port with the same config and folder (so a JetStream
    /// store keeps its streams and messages); a WebSocket listener is not restarted. Use the returned server
    /// from then on.
    public func restart() async throws -> NATSServerProcess {
        await process.stop()
        return try await Self.start(
            config: extraConfig, port: port, websocket: false, jetStream: jetStream, in: directory)
    }

    /// Stops the server and removes its folder.
    public func shutdown() async {
        await process.stop()
        directory.remove()
    }
}
