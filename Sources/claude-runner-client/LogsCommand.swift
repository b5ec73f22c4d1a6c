import ArgumentParser
import ClaudeRunner
import ClaudeRunnerClient
import Foundation

/// `logs ID [--follow]`: a run's progress events, one line each as `--progress` prints them, on stdout.
///
/// Without `--follow` it prints what the run has sent so far (all of it for a run that has ended) and
/// exits; with it, a run in progress is followed until it ends.
struct LogsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logs", abstract: "Print a run's progress events.",
        discussion: "Without --follow, prints the events so far and exits; with it, follows a run until it ends.")

    @Argument(help: "The run id") var id: String
    @Flag(name: [.customLong("follow"), .customShort("f")], help: "Keep following a run in progress until it ends")
    var follow = false
    @Flag(help: "Print the events as JSON lines (NDJSON)") var json = false
    @OptionGroup var connection: TransportOptions

    func run() async throws {
        let client = try connection.runControl(.current)
        let json = json
        try await runControl {
            try await client.runEvents(id, follow: follow) { event in
                let line = json ? event.jsonLine : ProgressLine.format(event)
                FileHandle.standardOutput.write(Data((line + "\n").utf8))
            }
        }
    }
}
