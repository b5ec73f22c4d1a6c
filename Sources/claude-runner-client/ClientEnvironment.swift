import ArgumentParser
import Foundation

/// Flags with their environment variables: a flag given wins, else the variable, empty counting as unset.
struct ClientEnvironment: Sendable {
    let variables: [String: String]

    static var current: ClientEnvironment { ClientEnvironment(variables: ProcessInfo.processInfo.environment) }

    func value(_ flag: String?, _ variable: String) -> String? {
        if let flag, !flag.isEmpty { return flag }
        return variables[variable].flatMap { $0.isEmpty ? nil : $0 }
    }

    func number(_ flag: String?, _ variable: String, _ name: String) throws -> Int? {
        guard let text = value(flag, variable) else { return nil }
        guard let number = Int(text) else { throw fail("invalid --\(name) \"\(text)\": expected a number") }
        return number
    }

    func flag(_ given: Bool, _ variable: String) -> Bool {
        given || ["1", "true", "yes"].contains(variables[variable]?.lowercased() ?? "")
    }
}

/// Prints `claude-runner-client: <message>` on stderr; the exit status to throw.
func fail(_ message: String) -> ExitCode {
    FileHandle.standardError.write(Data("claude-runner-client: \(message)\n".utf8))
    return ExitCode.failure
}
