import ArgumentParser
import ClaudeRunner
import ClaudeRunnerTransports
import Foundation
import Logging
import NATS
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

            let credentials = natsEnabled ? try loadCredentials(config: config) : nil
            let background = BackgroundWork(shutdownGrace: config.limits.shutdownGrace, logger: logger)
            let ledger = await LedgerSetup.open(config: config, logger: logger)
            let service = RunnerService(
                config: config, scheduler: background, secrets: credentials?.secrets ?? [], ledger: ledger,
                logger: logger)
            await service.loadBudget()
            do {
                try service.prepareWorkDir()
            } catch {
                throw StartupError("cannot create workDir \(config.workDir): \(error.localizedDescription)")
            }
            for warning in service.startupWarnings() { logger.warning("\(warning)") }
            if config.nats.jetstream, !natsEnabled {
                throw StartupError(
                    "nats.jetstream is true but NATS is not enabled: create \(idFile) (the edge id) to serve NATS")
            }
            let recovered = await service.recoverInterruptedIssues(durable: config.nats.jetstream, logger: logger)
            if !recovered.isEmpty {
                logger.warning("marked interrupted issue attempts as failed", metadata: ["tasks": "\(recovered)"])
            }
            var services: [any Service] = [background]
            if let ledger {
                services.append(LedgerSweeper(ledger: ledger, retention: config.ledger.retention, logger: logger))
            }
            var natsService: NATSService?
            var natsClient: NATSClient?
            if natsEnabled {
                let (client, endpoints) = try natsServices(
                    config: config, idFile: idFile, credentials: credentials, service: service, logger: logger)
                services += [client, endpoints]
                natsService = endpoints
                natsClient = client
                if config.nats.jetstream {
                    let queue = JetStreamTaskQueue(
                        client: client, runner: service, edgeID: try edgeID(idFile: idFile), logger: logger)
                    service.useDurableQueue(queue)
                    services.append(queue)
                }
            }
            let metrics = RunnerMetrics.bootstrap(service: service, nats: natsClient)
            await service.measureMirrors()
            var natsConnected: (@Sendable () -> Bool)?
            if let natsClient { natsConnected = { natsClient.isConnected } }
            let observability = Observability(natsConnected: natsConnected, metrics: metrics)
            if httpEnabled {
                do {
                    if let warning = try HTTPTransport.checkExposure(address: address, http: config.http) {
                        logger.warning("\(warning)")
                    }
                } catch let error as RunnerError {
                    throw StartupError(error.message)
                }
                let app: any Service
                do {
                    app = try HTTPTransport.application(
                        service: service, address: address, logger: logger, observability: observability,
                        onServerRunning: { channel in
                            logger.info(
                                "HTTP transport listening",
                                metadata: [
                                    "address": "\(channel.localAddress?.description ?? address.description)",
                                    "tls": "\(config.http.tlsCertificate != nil)",
                                    "auth": "\(config.http.tokens.isEmpty ? "none" : "bearer")",
                                ])
                        })
                } catch let error as RunnerError {
                    throw StartupError(error.message)
                }
                services.append(app)
            }
            logger.info(
                "claude-runner started",
                metadata: ["config": "\(config.configDirectory)", "workDir": "\(config.workDir)"])
            // Listed last, so shut down first: every door closes at the signal, then the transports drain.
            services.append(
                ShutdownGate { [natsService] in
                    logger.info("shutting down: no new work is taken; waiting for runs in progress")
                    service.stopAccepting()
                    natsService?.stopAccepting()
                })
            var configuration = ServiceGroupConfiguration(
                services: services.map { .init(service: $0) },
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
            // In-flight HTTP and NATS runs get the same grace as background issue work; then they are
            // cancelled (their process groups stopped) and the runner exits.
            configuration.maximumGracefulShutdownDuration = config.limits.shutdownGrace + .seconds(10)
            configuration.maximumCancellationDuration = .seconds(20)
            do {
                try await ServiceGroup(configuration: configuration).run()
            } catch  where background.wasAskedToShutDown {
                logger.warning("in-flight work was cut short by the shutdown grace", metadata: ["error": "\(error)"])
            } catch {
                await ledger?.close()
                throw StartupError("stopped: \(error)")
            }
            // Closing writes the runs' last records.
            await ledger?.close()
            logger.info("claude-runner stopped")
        }
    }

    /// The edge id in `idFile`: one NATS subject token.
    func edgeID(idFile: String) throws -> String {
        guard let idText = try? String(contentsOfFile: idFile, encoding: .utf8) else {
            throw StartupError("cannot read the edge id file \(idFile)")
        }
        let edgeID = idText.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !edgeID.isEmpty, !edgeID.contains(where: { $0.isWhitespace || $0 == "*" || $0 == ">" || $0 == "." })
        else {
            throw StartupError("invalid edge id in \(idFile): it must be one NATS subject token")
        }
        return edgeID
    }

    /// The NATS connection and the `claude-runner` service on it, for the edge id in `idFile`.
    func natsServices(
        config: RunnerConfig, idFile: String, credentials: Credentials?, service: RunnerService, logger: Logger
    ) throws -> (NATSClient, NATSService) {
        let edgeID = try edgeID(idFile: idFile)
        let urlText =
            natsURL ?? ProcessInfo.processInfo.environment["NATS_URL"].flatMap { $0.isEmpty ? nil : $0 }
            ?? "wss://nats.flarex.io"
        let url: NATSServerURL
        do {
            url = try NATSServerURL(urlText)
        } catch {
            throw StartupError("invalid --nats: \(error)")
        }
        let client = NATSClient(
            options: NATSClientOptions(url: url, name: "Claude Runner - \(edgeID)", credentials: credentials),
            logger: logger)
        logger.info(
            "NATS transport enabled",
            metadata: ["edge_id": "\(edgeID)", "nats.url": "\(url)", "creds": "\(credentials != nil)"])
        return (client, NATSTransport.service(client: client, runner: service, edgeID: edgeID, logger: logger))
    }

    /// `<path>/user.creds`, when present; a malformed file stops start-up (naming it, never the seed).
    func loadCredentials(config: RunnerConfig) throws -> Credentials? {
        let credsFile = (config.configDirectory as NSString).appendingPathComponent("user.creds")
        guard FileManager.default.fileExists(atPath: credsFile) else { return nil }
        do {
            return try Credentials(contentsOfFile: credsFile)
        } catch {
            throw StartupError("\(error)")
        }
    }
}
