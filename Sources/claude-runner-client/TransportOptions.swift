import ArgumentParser
import ClaudeRunner
import ClaudeRunnerClient
import Foundation

/// The flags that say how to reach the runner, shared by the run form and the run-control subcommands.
struct TransportOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: "Transport type (nats or http) (env: TRANSPORT, default: nats)")
    var transport: String?
    @Option(
        name: .customLong("nats-url"), parsing: .unconditional,
        help: "NATS server URL (env: NATS_URL, default: wss://nats.flarex.io)")
    var natsURL: String?
    @Option(
        name: .customLong("nats-creds"), parsing: .unconditional,
        help: "Path to NATS credentials file (env: NATS_CREDS)") var natsCreds: String?
    @Option(name: .customLong("edge-id"), parsing: .unconditional, help: "Edge node ID (env: EDGE_ID)") var edgeID:
        String?
    @Option(parsing: .unconditional, help: "HTTP endpoint URL (env: ENDPOINT)") var endpoint: String?
    @Option(
        name: .customLong("nats-wait"), parsing: .unconditional,
        help: """
            How long run-control commands wait for the edge's runners over NATS: runs and usage gather answers \
            this long, show, logs and cancel wait up to twice that for the runner that has the run \
            (env: NATS_WAIT, default: 1s)
            """)
    var natsWait: String?
    @Option(
        name: .customLong("token-file"), parsing: .unconditional,
        help: "File holding the HTTP bearer token (env CLAUDE_RUNNER_TOKEN holds the token itself)")
    var tokenFile: String?

    enum Resolved {
        case http(HTTPRunnerClient)
        case nats(NATSRunnerClient)
    }

    /// The client for the chosen transport.
    /// - Throws: `ExitCode.failure`, having said what is missing.
    func resolve(_ environment: ClientEnvironment) throws -> Resolved {
        switch environment.value(transport, "TRANSPORT") ?? "nats" {
        case "http":
            guard let endpoint = environment.value(endpoint, "ENDPOINT") else {
                throw fail("--endpoint is required for HTTP transport")
            }
            return .http(HTTPRunnerClient(endpoint: endpoint, token: try bearerToken(environment)))
        case "nats":
            guard let edge = environment.value(edgeID, "EDGE_ID") else {
                throw fail("--edge-id is required for NATS transport")
            }
            return .nats(
                NATSRunnerClient(
                    url: environment.value(natsURL, "NATS_URL") ?? "wss://nats.flarex.io",
                    credentialsFile: environment.value(natsCreds, "NATS_CREDS"), edgeID: edge))
        case let other:
            throw fail("unsupported transport: \(other)")
        }
    }

    /// The run-control client for the chosen transport (HTTP calls time out after a minute, except
    /// `logs --follow`).
    func runControl(_ environment: ClientEnvironment) throws -> any RunControlClient {
        switch try resolve(environment) {
        case .http(var client):
            client.timeout = .seconds(60)
            return client
        case .nats(var client):
            if let text = environment.value(natsWait, "NATS_WAIT") {
                guard let wait = ConfigDuration.parse(text), wait > .zero else {
                    throw fail("invalid --nats-wait \"\(text)\": expected a duration such as 1s or 500ms")
                }
                client.gatherWindow = wait
                client.findTimeout = wait * 2
            }
            return client
        }
    }

    /// The token from `--token-file`, else `CLAUDE_RUNNER_TOKEN`; never from a flag holding the token.
    func bearerToken(_ environment: ClientEnvironment) throws -> String? {
        if let tokenFile, !tokenFile.isEmpty {
            guard let data = FileManager.default.contents(atPath: tokenFile),
                let text = String(data: data, encoding: .utf8)
            else { throw fail("cannot read --token-file \(tokenFile)") }
            let token = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
                .first { !$0.isEmpty && !$0.hasPrefix("#") }
            guard let token else { throw fail("--token-file \(tokenFile) holds no token") }
            return token
        }
        return environment.variables["CLAUDE_RUNNER_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
    }
}
