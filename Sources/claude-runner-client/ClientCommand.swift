import ArgumentParser
import ClaudeRunner
import ClaudeRunnerClient
import Foundation

@main
struct ClientCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "claude-runner-client",
        abstract: "Client for Claude Code Runner",
        discussion: "Every flag can also be set by the environment variable named in its help."
    )

    @Option(parsing: .unconditional, help: "Transport type (nats or http) (env: TRANSPORT, default: nats)")
    var transport: String?
    @Option(
        parsing: .unconditional, help: "Prompt to send (required unless --event=issue or issue-closed) (env: PROMPT)")
    var prompt: String?
    @Option(parsing: .unconditional, help: "Repository URL (env: REPO)") var repo: String?
    @Option(parsing: .unconditional, help: "Git ref (branch, tag) (env: REF)") var ref: String?
    @Option(
        name: .customLong("base-ref"), parsing: .unconditional,
        help: "Base git ref for pull request context (env: BASE_REF)") var baseRef: String?
    @Option(parsing: .unconditional, help: "Source event name, such as pull_request (env: EVENT)") var event: String?
    @Option(name: .customLong("pr-number"), parsing: .unconditional, help: "Pull request number (env: PR_NUMBER)")
    var prNumber: String?
    @Option(
        name: .customLong("issue-number"), parsing: .unconditional,
        help: "Issue number (for event=issue) (env: ISSUE_NUMBER)")
    var issueNumber: String?
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
        name: .customLong("output-file"), parsing: .unconditional,
        help: "Path to write Claude output to (relative paths are resolved under $GITHUB_WORKSPACE) (env: OUTPUT_FILE)")
    var outputFile: String?
    @Option(
        name: .customLong("token-file"), parsing: .unconditional,
        help: "File holding the HTTP bearer token (env CLAUDE_RUNNER_TOKEN holds the token itself)")
    var tokenFile: String?

    @Flag(
        name: .customLong("progress"), help: "Print the run's progress on stderr, one line per event (env: PROGRESS=1)")
    var progress = false
    @Flag(name: .customLong("json"), help: "Print the Result JSON on stdout instead of the output text")
    var json = false

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        func value(_ flag: String?, _ variable: String) -> String? {
            if let flag, !flag.isEmpty { return flag }
            return environment[variable].flatMap { $0.isEmpty ? nil : $0 }
        }
        func number(_ flag: String?, _ variable: String, _ name: String) throws -> Int? {
            guard let text = value(flag, variable) else { return nil }
            guard let number = Int(text) else { throw fail("invalid --\(name) \"\(text)\": expected a number") }
            return number
        }

        let request: ClientRequest
        do {
            request = try ClientRequest(
                .init(
                    prompt: value(prompt, "PROMPT"), repo: value(repo, "REPO"), ref: value(ref, "REF"),
                    baseRef: value(baseRef, "BASE_REF"), event: value(event, "EVENT"),
                    prNumber: try number(prNumber, "PR_NUMBER", "pr-number"),
                    issueNumber: try number(issueNumber, "ISSUE_NUMBER", "issue-number")))
        } catch let error as ClientRequest.MissingPrompt {
            throw fail(error.description)
        }

        let showProgress = progress || ["1", "true", "yes"].contains(environment["PROGRESS"]?.lowercased() ?? "")
        let onEvent: (@Sendable (RunEvent) -> Void)? =
            showProgress
            ? { @Sendable event in FileHandle.standardError.write(Data((ProgressLine.format(event) + "\n").utf8)) }
            : nil

        let result: RunResult
        switch value(transport, "TRANSPORT") ?? "nats" {
        case "http":
            guard let endpoint = value(endpoint, "ENDPOINT") else {
                throw fail("--endpoint is required for HTTP transport")
            }
            let token = try bearerToken(environment: environment)
            do {
                result = try await HTTPRunnerClient(endpoint: endpoint, token: token).send(request, onEvent: onEvent)
            } catch let error as HTTPRunnerClient.Failure {
                throw fail(error.description)
            }
        case "nats":
            guard let edge = value(edgeID, "EDGE_ID") else { throw fail("--edge-id is required for NATS transport") }
            let client = NATSRunnerClient(
                url: value(natsURL, "NATS_URL") ?? "wss://nats.flarex.io",
                credentialsFile: value(natsCreds, "NATS_CREDS"),
                edgeID: edge)
            do {
                result = try await client.send(request, onEvent: onEvent)
            } catch let error as NATSRunnerClient.Failure {
                throw fail(error.description)
            }
        case let other:
            throw fail("unsupported transport: \(other)")
        }

        if let error = result.error, !error.isEmpty {
            FileHandle.standardError.write(Data("Error: \(error)\n".utf8))
        }
        if json {
            FileHandle.standardOutput.write(WireJSON.encode(result) + Data("\n".utf8))
        } else if !result.output.isEmpty {
            FileHandle.standardOutput.write(Data(result.output.utf8))
        }
        do {
            try GitHubStepOutputs.write(result, environment: environment)
        } catch {
            FileHandle.standardError.write(Data("write GitHub step outputs: \(error.localizedDescription)\n".utf8))
        }
        if let outputFile = value(outputFile, "OUTPUT_FILE") {
            let path = OutputFile.resolve(outputFile, environment: environment)
            do {
                try OutputFile.write(result.output, to: path)
            } catch {
                FileHandle.standardError.write(Data("write output file: \(path): \(error.localizedDescription)\n".utf8))
            }
        }
        if let error = result.error, !error.isEmpty { throw ExitCode.failure }
    }

    /// The token from `--token-file`, else `CLAUDE_RUNNER_TOKEN`; never from a flag holding the token.
    func bearerToken(environment: [String: String]) throws -> String? {
        if let tokenFile, !tokenFile.isEmpty {
            guard let data = FileManager.default.contents(atPath: tokenFile),
                let text = String(data: data, encoding: .utf8)
            else { throw fail("cannot read --token-file \(tokenFile)") }
            let token = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
                .first { !$0.isEmpty && !$0.hasPrefix("#") }
            guard let token else { throw fail("--token-file \(tokenFile) holds no token") }
            return token
        }
        return environment["CLAUDE_RUNNER_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
    }

    func fail(_ message: String) -> ExitCode {
        FileHandle.standardError.write(Data("claude-runner-client: \(message)\n".utf8))
        return ExitCode.failure
    }
}
