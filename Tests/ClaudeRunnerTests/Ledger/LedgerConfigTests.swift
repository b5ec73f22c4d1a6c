import ClaudeRunner
import ClaudeRunnerTesting
import Foundation
import Testing

@Suite("config.yaml: ledger")
struct LedgerConfigTests {
    func parse(_ yaml: String) throws -> ConfigLoader.Loaded {
        try ConfigLoader.parse(yaml: yaml, file: "/etc/cr/config.yaml", directory: "/etc/cr", environment: [:])
    }

    @Test("defaults: on, <config dir>/runs.db, 30 days, 16 MiB transcripts")
    func defaults() throws {
        let ledger = try parse("").config.ledger
        #expect(ledger == RunnerConfig.LedgerSettings(path: "/etc/cr/runs.db"))
        #expect(ledger.enabled)
        #expect(ledger.path == "/etc/cr/runs.db")
        #expect(ledger.retention == .seconds(30 * 86_400))
        #expect(ledger.maxTranscriptBytes == 16_777_216)
    }

    @Test("every ledger key is read; ~ is expanded; durations take days")
    func everyKey() throws {
        let loaded = try parse(
            """
            ledger:
              enabled: false
              path: ~/ledgers/runs.db
              retention: 1d12h
              maxTranscriptBytes: 1024
            """)
        #expect(loaded.warnings.isEmpty)
        #expect(
            loaded.config.ledger
                == RunnerConfig.LedgerSettings(
                    enabled: false, path: PathExpansion.homeDirectory + "/ledgers/runs.db",
                    retention: .seconds(129_600),
                    maxTranscriptBytes: 1024))
        #expect(try parse("ledger:\n  retention: 30d").config.ledger.retention == .seconds(2_592_000))
        #expect(try parse("ledger:\n  retention: 0").config.ledger.retention == .zero)
        #expect(try parse("limits:\n  runTimeout: 1d").config.limits.runTimeout == .seconds(86_400))
        #expect(try parse("limits:\n  shutdownGrace: 0.5d").config.limits.shutdownGrace == .seconds(43_200))
    }

    @Test(
        "a bad ledger value names the file, the line and the key",
        arguments: [
            ("ledger:\n  retention: a month", 2, "ledger.retention", "expected a duration"),
            ("ledger:\n  retention: 3w", 2, "ledger.retention", "\"7d\""),
            ("ledger:\n  enabled: sometimes", 2, "ledger.enabled", "expected true or false"),
            ("ledger:\n  maxTranscriptBytes: -1", 2, "ledger.maxTranscriptBytes", "must be at least 0"),
            ("ledger:\n  path: \"\"", 2, "ledger.path", "must not be empty"),
            ("ledger: yes", 1, "ledger", "expected a mapping"),
        ])
    func badValue(yaml: String, line: Int, key: String, problem: String) throws {
        let error = try #require(throws: ConfigError.self) { try parse(yaml) }
        #expect(error.line == line)
        #expect(error.key == key)
        #expect(error.description.contains(problem), "\(error)")
    }

    @Test("an unknown ledger key is a warning naming it")
    func unknownKey() throws {
        let loaded = try parse("ledger:\n  retension: 7d\n")
        #expect(loaded.warnings == ["/etc/cr/config.yaml:2: unknown key 'ledger.retension' is ignored"])
    }
}
