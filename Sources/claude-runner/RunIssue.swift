import ArgumentParser
import ClaudeRunner
import Foundation
import Logging
import UnixSignals

/// `claude-runner run-issue`: the whole issue protocol in the foreground. Exits 0 when the task
/// completed, non-zero with a one-line reason when validation, claim or execution failed.
struct RunIssue: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run-issue",
        abstract: "Run Claude on a GitHub issue task (validate, claim, execute, post results)",
        discussion: """
            One-shot subcommand that performs the full GitHub issue agent-task protocol: claim the issue, run \
            claude in the issue's workspace, post a success or failure comment back to the issue. Reuses the \
            same service the daemon uses; intended to be invocable directly by AI agents as a skill.
            """
    )

    @OptionGroup var common: CommonOptions

    @Option(parsing: .unconditional, help: "Repository (owner/repo or clone URL) (env: REPO)")
    var repo: String?

    @Option(name: .customLong("issue-number"), help: "Issue number (env: ISSUE_NUMBER)")
    var issueNumber: String?

    @Option(parsing: .unconditional, help: "Optional git branch to check out (env: REF)")
    var ref: String?

    @Option(name: .customLong("github-token"), help: "GitHub token (overrides config; env: GITHUB_TOKEN)")
    var githubToken: String?

    func run() async throws {
        try await exitOnStartupError {
            let environment = ProcessInfo.processInfo.environment
            func value(_ flag: String?, _ variable: String) -> String? {
                if let flag, !flag.isEmpty { return flag }
                return environment[variable].flatMap { $0.isEmpty ? nil : $0 }
            }
            guard let repo = value(repo, "REPO") else {
                throw StartupError("missing --repo (or REPO): owner/repo or a clone URL")
            }
            guard let numberText = value(issueNumber, "ISSUE_NUMBER") else {
                throw StartupError("missing --issue-number (or ISSUE_NUMBER)")
            }
            guard let number = Int(numberText) else {
                throw StartupError("invalid --issue-number \"\(numberText)\": expected a number")
            }
            let logger = try common.bootstrapLogging()
            var config = try common.loadConfig(logger: logger)
            if let token = value(githubToken, "GITHUB_TOKEN") { config.github.token = token }
            guard config.github.token?.isEmpty == false else {
                throw StartupError(
                    "github token is required (config github.token, GITHUB_TOKEN env, or --github-token)")
            }

            let ledger = await LedgerSetup.open(config: config, logger: logger)
            let service = RunnerService(config: config, scheduler: nil, ledger: ledger, logger: logger)
            do {
                try await runInForeground(
                    RunIssueRequest(repo: repo, ref: value(ref, "REF"), issueNumber: number), service: service,
                    logger: logger)
            } catch {
                await ledger?.close()
                throw error
            }
            // Closing writes the attempt's last record.
            await ledger?.close()
        }
    }

    private func runInForeground(_ request: RunIssueRequest, service: RunnerService, logger: Logger) async throws {
        await service.loadBudget()
        for warning in service.startupWarnings() { logger.warning("\(warning)") }
        do {
            try service.prepareWorkDir()
        } catch {
            throw StartupError("cannot create workDir \(service.config.workDir): \(error.localizedDescription)")
        }
        let task: IssueTask
        do {
            task = try await service.prepareIssue(request, transport: .cli, logger: logger)
        } catch let error as RunnerError {
            throw StartupError(error.message)
        }
        logger.info("issue accepted; running in the foreground", metadata: ["run.id": "\(task.attemptID)"])
        task.execution.begin()
        // SIGINT/SIGTERM interrupt the run: Claude's process group is stopped and the attempt is recorded
        // and reported as interrupted, as the daemon does at the end of its shutdown grace.
        let signals = await UnixSignalsSequence(trapping: .sigterm, .sigint)
        let outcome: IssueOutcome? = await withTaskGroup(of: IssueOutcome?.self) { group in
            group.addTask { await service.executeIssue(task, logger: logger) }
            group.addTask {
                for await signal in signals {
                    logger.warning("signal received; interrupting the issue run", metadata: ["signal": "\(signal)"])
                    return nil
                }
                return nil
            }
            var outcome: IssueOutcome?
            while let next = await group.next() {
                if let next { outcome = next }
                group.cancelAll()
            }
            return outcome
        }
        guard let outcome else { throw StartupError("issue run \(task.attemptID) did not finish") }
        guard outcome.completed else {
            let firstLine = (outcome.detail ?? "").split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
            throw StartupError(
                "issue run \(task.attemptID) failed (\(outcome.errorType ?? "failed")): \(firstLine)")
        }
        print(task.acceptedResult.output)
    }
}
