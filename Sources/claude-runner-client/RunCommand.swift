import ArgumentParser
import ClaudeRunner
import ClaudeRunnerClient
import Foundation
import UnixSignals

/// The run form: sends one Run, RunIssue or CleanupIssue and prints the Result (spec section 2.6).
///
/// Over NATS, a client that is interrupted (SIGINT, SIGTERM) or whose request times out cancels its run
/// before it exits non-zero, so that no run goes on for a caller that is gone; over HTTP the closed
/// connection does that.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Send a run and print its output (the default command).",
        discussion: "Every flag can also be set by the environment variable named in its help."
    )

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
    @OptionGroup var connection: TransportOptions
    @Option(
        name: .customLong("output-file"), parsing: .unconditional,
        help: "Path to write Claude output to (relative paths are resolved under $GITHUB_WORKSPACE) (env: OUTPUT_FILE)")
    var outputFile: String?
    @Option(
        parsing: .unconditional,
        help: """
            How long to wait for the Result, such as 90s, 30m or 2h; a NATS run still going then is cancelled \
            (env: TIMEOUT, default: 10m over NATS, 60m over HTTP)
            """)
    var timeout: String?

    @Flag(
        name: .customLong("progress"), help: "Print the run's progress on stderr, one line per event (env: PROGRESS=1)")
    var progress = false
    @Flag(name: .customLong("json"), help: "Print the Result JSON on stdout instead of the output text")
    var json = false

    func run() async throws {
        let environment = ClientEnvironment.current
        let request: ClientRequest
        do {
            request = try ClientRequest(
                .init(
                    prompt: environment.value(prompt, "PROMPT"), repo: environment.value(repo, "REPO"),
                    ref: environment.value(ref, "REF"), baseRef: environment.value(baseRef, "BASE_REF"),
                    event: environment.value(event, "EVENT"),
                    prNumber: try environment.number(prNumber, "PR_NUMBER", "pr-number"),
                    issueNumber: try environment.number(issueNumber, "ISSUE_NUMBER", "issue-number")))
        } catch let error as ClientRequest.MissingPrompt {
            throw fail(error.description)
        }
        var requestTimeout: Duration?
        if let text = environment.value(timeout, "TIMEOUT") {
            guard let parsed = ConfigDuration.parse(text), parsed > .zero else {
                throw fail("invalid --timeout \"\(text)\": expected a duration such as 90s, 30m or 2h")
            }
            requestTimeout = parsed
        }

        let onEvent: (@Sendable (RunEvent) -> Void)? =
            environment.flag(progress, "PROGRESS")
            ? { @Sendable event in FileHandle.standardError.write(Data((ProgressLine.format(event) + "\n").utf8)) }
            : nil

        let result: RunResult
        switch try connection.resolve(environment) {
        case .http(var client):
            if let requestTimeout { client.timeout = .nanoseconds(Self.nanoseconds(requestTimeout)) }
            do {
                result = try await client.send(request, onEvent: onEvent)
            } catch let error as HTTPRunnerClient.Failure {
                throw fail(error.description)
            }
        case .nats(var client):
            if let requestTimeout { client.timeout = requestTimeout }
            // Trapped before the request goes out: from then on a signal cancels the run instead of
            // leaving it to run for nobody.
            let signals = await UnixSignalsSequence(trapping: .sigint, .sigterm)
            do {
                result = try await client.send(request, onEvent: onEvent) {
                    for await signal in signals { return signal.description }
                    return nil
                }
            } catch let error as NATSRunnerClient.Failure {
                throw fail(error.description)
            }
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
            try GitHubStepOutputs.write(result, environment: environment.variables)
        } catch {
            FileHandle.standardError.write(Data("write GitHub step outputs: \(error.localizedDescription)\n".utf8))
        }
        if let outputFile = environment.value(outputFile, "OUTPUT_FILE") {
            let path = OutputFile.resolve(outputFile, environment: environment.variables)
            do {
                try OutputFile.write(result.output, to: path)
            } catch {
                FileHandle.standardError.write(Data("write output file: \(path): \(error.localizedDescription)\n".utf8))
            }
        }
        if let error = result.error, !error.isEmpty { throw ExitCode.failure }
    }

    static func nanoseconds(_ duration: Duration) -> Int64 {
        duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000
    }
}
