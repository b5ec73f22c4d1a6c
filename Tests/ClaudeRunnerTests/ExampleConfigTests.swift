import ClaudeRunner
import ClaudeRunnerTesting
import Foundation
import Testing

@Suite("config.example.yaml", .timeLimit(.minutes(1)))
struct ExampleConfigTests {
    static var repositoryRoot: String {
        var path = #filePath
        for _ in 0..<3 { path = (path as NSString).deletingLastPathComponent }
        return path
    }

    @Test("loads with the real loader, with no unknown keys")
    func loads() throws {
        let text = try String(contentsOfFile: Self.repositoryRoot + "/config.example.yaml", encoding: .utf8)
        let loaded = try ConfigLoader.parse(
            yaml: text, file: "config.example.yaml", directory: "/cfg", environment: [:])
        #expect(loaded.warnings.isEmpty)
        #expect(loaded.config.allowedTools == ["Read", "Glob", "Grep", "Bash"])
        #expect(loaded.config.issue.maxTurns == 30)
        #expect(loaded.config.limits.runTimeout == .seconds(3600))
        // The values set are the defaults.
        #expect(loaded.config.nats == RunnerConfig.NATSSettings())
    }

    @Test("every key the loader reads is documented, commented out or set")
    func documentsEveryKey() throws {
        let text = try String(contentsOfFile: Self.repositoryRoot + "/config.example.yaml", encoding: .utf8)
        // Each key as a YAML key at the start of a line, set or commented out, not a word somewhere in a comment.
        let keys = Set(
            text.split(separator: "\n").compactMap { line -> String? in
                let content = line.drop { $0 == " " || $0 == "#" }
                guard let colon = content.firstIndex(of: ":") else { return nil }
                let value = content[content.index(after: colon)...]
                return value.isEmpty || value.hasPrefix(" ") ? String(content[..<colon]) : nil
            })
        for key in [
            "workDir", "allowedTools", "maxTurns", "model", "bypassPermissions", "modelLabels", "token", "baseURL",
            "tokens", "tokenFile", "insecure", "cert", "key", "maxBodyBytes", "maxConcurrentRuns", "maxQueuedRuns",
            "runTimeout", "idleTimeout", "shutdownGrace", "maxOutputBytes", "allowedProtocols",
            // Spec section 10.
            "maxBudgetUSD", "sandboxed", "progressInterval", "afterResultGrace",
            // Spec section 12.
            "openPullRequest", "commitAuthor", "draftPullRequest", "requireChanges", "resume", "withholdGitHubToken",
            // Spec section 13.
            "mirrors", "mirrorDir", "mirrorMaxBytes", "timeout",
            // Spec section 11.
            "ledger", "enabled", "path", "retention", "maxTranscriptBytes", "dailyBudgetUSD",
            // Spec section 14.
            "nats", "runnerName", "jetstream", "ackWait", "maxDeliver",
        ] {
            #expect(keys.contains(key), "config.example.yaml does not mention \(key)")
        }
    }
}
