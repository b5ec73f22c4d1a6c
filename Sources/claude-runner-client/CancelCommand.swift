import ArgumentParser
import ClaudeRunner
import ClaudeRunnerClient
import Foundation

/// `cancel ID`: asks the run's runner to stop it; it ends `cancelled`.
struct CancelCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "cancel", abstract: "Cancel a run in progress.")

    @Argument(help: "The run id") var id: String
    @OptionGroup var connection: TransportOptions

    func run() async throws {
        let client = try connection.runControl(.current)
        try await runControl { try await client.cancelRun(id) }
        FileHandle.standardOutput.write(Data("cancelling run \(id)\n".utf8))
    }
}
