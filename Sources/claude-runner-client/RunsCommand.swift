import ArgumentParser
import ClaudeRunner
import ClaudeRunnerClient
import Foundation

/// `runs`: the recorded runs, newest first (over NATS, those of every runner of the edge).
struct RunsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "runs", abstract: "List recorded runs, newest first.")

    @Option(help: "Only runs with this status (completed, failed, cancelled, ...)") var status: String?
    @Option(help: "Only runs of this kind (run, review, issue)") var kind: String?
    @Option(help: "Only runs of this repository (as recorded)") var repo: String?
    @Option(help: "At most this many runs (default 50, at most 500)") var limit: String?
    @Option(help: "Only runs older than this run id") var before: String?
    @Flag(help: "Print {\"runs\": [...]} as JSON instead of a table") var json = false
    @OptionGroup var connection: TransportOptions

    func run() async throws {
        let environment = ClientEnvironment.current
        var parameters: [String: String] = [:]
        parameters["status"] = status
        parameters["kind"] = kind
        parameters["repo"] = repo
        parameters["limit"] = limit
        parameters["before"] = before
        let client = try connection.runControl(environment)
        let list = try await runControl {
            try await client.listRuns(try RunQuery(parameters: parameters))
        }
        warn(list.warnings)
        if json {
            FileHandle.standardOutput.write(try RunTable.runsJSON(list.runs))
        } else {
            FileHandle.standardOutput.write(Data(RunTable.runs(list.runs).utf8))
        }
    }
}

/// Runs a run-control call; a failure is printed as the run form prints its errors, with a non-zero exit.
func runControl<T>(_ call: () async throws -> T) async throws -> T {
    do {
        return try await call()
    } catch let error as ExitCode {
        throw error
    } catch {
        throw fail("\(error)")
    }
}

/// Problems some runners answered with while others answered (NATS), on stderr.
func warn(_ warnings: [String]) {
    for warning in warnings {
        FileHandle.standardError.write(Data("claude-runner-client: warning: a runner answered: \(warning)\n".utf8))
    }
}
