import ArgumentParser
import ClaudeRunner
import ClaudeRunnerTransports
import Foundation
import Logging
import ServiceLifecycle

/// The daemon: serves HTTP (with `--http`) and NATS (when `<path>/id` exists) until SIGINT/SIGTERM, then
/// stops taking work, waits for in-flight runs and exits 0.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve requests over HTTP and/or NATS (the default command)."
    )

    @OptionGroup var common: CommonOptions

    @Option(name: .customLong("nats"), help: "NATS server URL (env: NATS_URL)")
    var natsURL: String?

    @Flag(name: .customLong("http"), help: "Enable HTTP transport")
    var httpEnabled = false

    @Option(name: .customLong("http-addr"), help: "HTTP server address (host:port or :port)")
    var httpAddress = ":8080"

    func run() async throws {
        try await exitOnStartupError {
            let logger = try common.bootstrapLogging()
            let config = try common.loadConfig(logger: logger)
            guard let address = ListenAddress(httpAddress) else {
                throw StartupError("invalid --http-addr \"\(httpAddress)\": expected host:port or :port")
            }
            let idFile = (config.configDirectory as NSString).appendingPathComponent("id")
            let natsEnabled = FileManager.default.fileExists(atPath: idFile)
            guard httpEnabled || natsEnabled else {
                throw StartupError(
                    "no transport enabled: pass --http to serve HTTP, or create \(idFile) (the edge id) to serve NATS")
            }
            if natsEnabled {
                logger.warning("NATS transport is not available in this build; \(idFile) is ignored")
                guard httpEnabled else {
                    throw StartupError(
                        "no transport enabled: NATS is not available in this build; pass --http to serve HTTP")
                }
            }

            let background = BackgroundWork(shutdownGrace: config.limits.shutdownGrace, logger: logger)
            let service = RunnerService(config: config, scheduler: background, logger: logger)
            do {
                try service.prepareWorkDir()
            } catch {
                throw StartupError("cannot create workDir \(config.workDir): \(error.localizedDescription)")
            }
            var services: [any Service] = [background]
            if httpEnabled {
                let app = HTTPTransport.application(
                    service: service, address: address, logger: logger,
                    onServerRunning: { channel in
                        logger.info(
                            "HTTP transport listening",
                            metadata: ["address": "\(channel.localAddress?.description ?? address.description)"])
                    })
                services.append(app)
            }
            logger.info(
                "claude-runner started",
                metadata: ["config": "\(config.configDirectory)", "workDir": "\(config.workDir)"])
            let group = ServiceGroup(
                configuration: .init(
                    services: services.map { .init(service: $0) },
                    gracefulShutdownSignals: [.sigterm, .sigint],
                    logger: logger
                ))
            try await group.run()
            logger.info("claude-runner stopped")
        }
    }
}
