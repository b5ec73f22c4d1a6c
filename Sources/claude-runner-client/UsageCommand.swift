import ArgumentParser
import ClaudeRunner
import ClaudeRunnerClient
import Foundation

/// `usage [--since 7d] [--by repo]`: cost and tokens summed from the ledger (over NATS, of every runner of
/// the edge).
struct UsageCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "usage", abstract: "Sum cost and tokens of recorded runs.")

    @Option(help: "Runs since this RFC 3339 time, YYYY-MM-DD date or duration back from now (default 7d)")
    var since: String?
    @Option(help: "Group by repo, day, model or kind (default repo)") var by: String?
    @Flag(help: "Print the report as JSON") var json = false
    @OptionGroup var connection: TransportOptions

    func run() async throws {
        var parameters: [String: String] = [:]
        parameters["since"] = since
        parameters["by"] = by
        let client = try connection.runControl(.current)
        let summary = try await runControl { try await client.usage(try UsageQuery(parameters: parameters)) }
        warn(summary.warnings)
        if json {
            FileHandle.standardOutput.write(try summary.report.encodeJSON() + Data("\n".utf8))
        } else {
            FileHandle.standardOutput.write(Data(RunTable.usage(summary).utf8))
        }
    }
}
