import ArgumentParser

/// `claude-runner-client`: the flag-only run form (``RunCommand``, the default, so
/// `claude-runner-client --prompt hi` works as it always has) and the run-control subcommands.
@main
struct ClientCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "claude-runner-client",
        abstract: "Client for Claude Code Runner",
        discussion: """
            Without a subcommand, sends a run (see `claude-runner-client run --help`). Every flag can also be set \
            by the environment variable named in its help.
            """,
        subcommands: [
            RunCommand.self, RunsCommand.self, ShowCommand.self, LogsCommand.self, CancelCommand.self,
            UsageCommand.self,
        ],
        defaultSubcommand: RunCommand.self
    )
}
