import ArgumentParser
import ClaudeRunner
import ClaudeRunnerClient
import Foundation

/// `show ID`: one run's record.
struct ShowCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Show one run's record.")

    @Argument(help: "The run id") var id: String
    @Flag(help: "Print the record as JSON") var json = false
    @OptionGroup var connection: TransportOptions

    func run() async throws {
        let client = try connection.runControl(.current)
        let record = try await runControl { try await client.runRecord(id) }
        if json {
            FileHandle.standardOutput.write(try record.encodeJSON() + Data("\n".utf8))
        } else {
            FileHandle.standardOutput.write(Data(RunTable.show(record).utf8))
        }
    }
}
