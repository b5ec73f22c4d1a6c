import ClaudeRunner
import ClaudeRunnerTesting
import Foundation
import Testing

@Suite("config.yaml", .timeLimit(.minutes(1)))
struct ConfigLoaderTests {
    func parse(_ yaml: String, environment: [String: String] = [:]) throws -> ConfigLoader.Loaded {
        try ConfigLoader.parse(yaml: yaml, file: "/etc/cr/config.yaml", directory: "/etc/cr", environment: environment)
    }

    @Test("a missing file means every default")
    func missingFile() throws {
        try TemporaryDirectory.withSync { directory in
            let loaded = try ConfigLoader.load(directory: directory.path, environment: [:])
            #expect(loaded.warnings.isEmpty)
            let config = loaded.config
            #expect(config.workDir == directory.appending("workspaces"))
            #expect(config.allowedTools.isEmpty)
            #expect(config.maxTurns == 0)
            #expect(config.model == nil)
            #expect(config.github.baseURL == "https://api.github.com")
            #expect(config.github.token == nil)
            #expect(config.http.maxBodyBytes == 1_048_576)
            #expect(config.limits.maxConcurrentRuns == ProcessInfo.processInfo.activeProcessorCount)
            #expect(config.limits.maxQueuedRuns == 64)
            #expect(config.limits.runTimeout == .seconds(3600))
            #expect(config.limits.idleTimeout == .zero)
            #expect(config.limits.shutdownGrace == .seconds(30))
            #expect(config.git.allowedProtocols == ["https", "ssh", "git", "file"])
        }
    }

    @Test("the stream-json keys: budgets, progress interval, sandbox, after-result grace; bad values named")
    func streamKeys() throws {
        let loaded = try parse(
            """
            maxBudgetUSD: 2.5
            issue:
              maxBudgetUSD: 0.75
              progressInterval: 1m
              sandboxed: true
            limits:
              afterResultGrace: 3s
            """)
        #expect(loaded.warnings.isEmpty)
        #expect(loaded.config.maxBudgetUSD == 2.5)
        #expect(loaded.config.issue.maxBudgetUSD == 0.75)
        #expect(loaded.config.issue.progressInterval == .seconds(60))
        #expect(loaded.config.issue.sandboxed)
        #expect(loaded.config.limits.afterResultGrace == .seconds(3))
        let defaults = try parse("").config
        #expect(defaults.maxBudgetUSD == nil)
        #expect(defaults.issue.progressInterval == .seconds(15))
        #expect(!defaults.issue.sandboxed)
        #expect(defaults.limits.afterResultGrace == .seconds(10))
        #expect(throws: ConfigError.self) { try parse("maxBudgetUSD: lots") }
        do {
            _ = try parse("issue:\n  maxBudgetUSD: -1\n")
            Issue.record("a negative budget was accepted")
        } catch let error as ConfigError {
            #expect(
                error.description == "/etc/cr/config.yaml:2: key 'issue.maxBudgetUSD': must be greater than 0, got -1")
        }
    }

    @Test("the delivery keys of issue runs, with their defaults; a bad commit author is named")
    func deliveryKeys() throws {
        let defaults = try parse("").config.issue
        #expect(defaults.openPullRequest)
        #expect(defaults.commitAuthor == .init(name: "claude-runner", email: "claude-runner@users.noreply.github.com"))
        #expect(!defaults.draftPullRequest)
        #expect(defaults.requireChanges)
        #expect(!defaults.resume)
        #expect(!defaults.withholdGitHubToken)
        let loaded = try parse(
            """
            issue:
              openPullRequest: false
              commitAuthor: Bot <bot@example.com>
              draftPullRequest: true
              requireChanges: false
              resume: true
              withholdGitHubToken: true
            """
        ).config.issue
        #expect(!loaded.openPullRequest)
        #expect(loaded.commitAuthor == .init(name: "Bot", email: "bot@example.com"))
        #expect(loaded.draftPullRequest)
        #expect(!loaded.requireChanges)
        #expect(loaded.resume)
        #expect(loaded.withholdGitHubToken)
        do {
            _ = try parse("issue:\n  commitAuthor: nobody\n")
            Issue.record("a bad commit author was accepted")
        } catch let error as ConfigError {
            #expect(error.key == "issue.commitAuthor")
            #expect(error.problem.contains("Name <email>"))
        }
    }

    @Test("an empty file means every default")
    func emptyFile() throws {
        let loaded = try parse("")
        #expect(loaded.config.workDir == "/etc/cr/workspaces")
        #expect(loaded.warnings.isEmpty)
    }

    @Test("every key is read")
    func everyKey() throws {
        let loaded = try parse(
            """
            workDir: /srv/work
            allowedTools: [Read, Edit, Bash]
            maxTurns: 10
            model: claude-sonnet-4-6
            issue:
              allowedTools:
                - Read
              maxTurns: 30
              model: claude-opus-4-7
              bypassPermissions: true
              modelLabels:
                model:fast: claude-haiku-4-5
                model:strong: claude-opus-4-7
            github:
              token: ghp_config
              baseURL: https://ghe.example.com/api/v3
            http:
              tokens: [one-token, two-token]
              insecure: true
              tls:
                cert: /etc/cr/cert.pem
                key: /etc/cr/key.pem
              maxBodyBytes: 2048
            limits:
              maxConcurrentRuns: 3
              maxQueuedRuns: 5
              runTimeout: 30m
              idleTimeout: 90
              shutdownGrace: 1h30m
            git:
              allowedProtocols: [https, file]
            """, environment: ["GITHUB_TOKEN": "ghp_env"])
        let config = loaded.config
        #expect(loaded.warnings.isEmpty)
        #expect(config.workDir == "/srv/work")
        #expect(config.allowedTools == ["Read", "Edit", "Bash"])
        #expect(config.maxTurns == 10)
        #expect(config.model == "claude-sonnet-4-6")
        #expect(config.issue.allowedTools == ["Read"])
        #expect(config.issue.maxTurns == 30)
        #expect(config.issue.model == "claude-opus-4-7")
        #expect(config.issue.bypassPermissions)
        #expect(config.issue.modelLabels == ["model:fast": "claude-haiku-4-5", "model:strong": "claude-opus-4-7"])
        #expect(config.github.token == "ghp_config")
        #expect(config.github.baseURL == "https://ghe.example.com/api/v3")
        #expect(config.http.tokens == ["one-token", "two-token"])
        #expect(config.http.insecure)
        #expect(config.http.tlsCertificate == "/etc/cr/cert.pem")
        #expect(config.http.tlsKey == "/etc/cr/key.pem")
        #expect(config.http.maxBodyBytes == 2048)
        #expect(config.limits.maxConcurrentRuns == 3)
        #expect(config.limits.maxQueuedRuns == 5)
        #expect(config.limits.runTimeout == .seconds(1800))
        #expect(config.limits.idleTimeout == .seconds(90))
        #expect(config.limits.shutdownGrace == .seconds(5400))
        #expect(config.git.allowedProtocols == ["https", "file"])
    }

    @Test("the nats keys of durable issue tasks, with their defaults")
    func natsKeys() throws {
        let defaults = try parse("").config
        #expect(!defaults.nats.jetstream)
        #expect(defaults.nats.ackWait == .seconds(60))
        #expect(defaults.nats.maxDeliver == 3)
        #expect(defaults.nats.runnerName == nil)
        #expect(
            defaults.runnerName == "\(ProcessInfo.processInfo.hostName)-\(ProcessInfo.processInfo.processIdentifier)")
        let loaded = try parse(
            """
            nats:
              jetstream: true
              ackWait: 2m
              maxDeliver: 5
              runnerName: edge-a-1
            """)
        #expect(loaded.warnings.isEmpty)
        #expect(loaded.config.nats.jetstream)
        #expect(loaded.config.nats.ackWait == .seconds(120))
        #expect(loaded.config.nats.maxDeliver == 5)
        #expect(loaded.config.nats.runnerName == "edge-a-1")
        #expect(loaded.config.runnerName == "edge-a-1")
        // The shortest ack wait that leaves room for in-progress acknowledgements a second apart.
        #expect(try parse("nats:\n  ackWait: 3s").config.nats.ackWait == .seconds(3))
        #expect(try parse("nats:\n  maxDeliver: 1").config.nats.maxDeliver == 1)
        #expect(
            try parse("nats:\n  unknown: 1").warnings == [
                "/etc/cr/config.yaml:2: unknown key 'nats.unknown' is ignored"
            ])
    }

    @Test(
        "a bad nats value names the file, the line, the key and the problem",
        arguments: [
            ("nats:\n  jetstream: yes please", 2, "nats.jetstream", "expected true or false, got \"yes please\""),
            (
                "nats:\n  ackWait: 2s", 2, "nats.ackWait",
                "must be at least 3s, got \"2s\": in-progress acknowledgements go every third of it"
            ),
            ("nats:\n  ackWait: 2500ms", 2, "nats.ackWait", "must be at least 3s, got \"2500ms\""),
            ("nats:\n  ackWait: 0", 2, "nats.ackWait", "must be at least 3s, got \"0\""),
            ("nats:\n  ackWait: soon", 2, "nats.ackWait", "expected a duration"),
            ("nats:\n  maxDeliver: 0", 2, "nats.maxDeliver", "must be at least 1, got 0"),
            ("nats:\n  maxDeliver: three", 2, "nats.maxDeliver", "expected an integer, got \"three\""),
            ("nats:\n  runnerName: two words", 2, "nats.runnerName", "must be one word, got \"two words\""),
            ("nats:\n  runnerName: \"\"", 2, "nats.runnerName", "must be one word, got \"\""),
            ("nats:\n  runnerName: [a, b]", 2, "nats.runnerName", "expected a string"),
        ])
    func badNATSValue(yaml: String, line: Int, key: String, problem: String) throws {
        let error = try #require(throws: ConfigError.self) { try parse(yaml) }
        #expect(error.line == line)
        #expect(error.key == key)
        #expect(error.description.hasPrefix("/etc/cr/config.yaml:\(line): key '\(key)': "), "\(error)")
        #expect(error.description.contains(problem), "\(error)")
    }

    @Test("GITHUB_TOKEN fills in a missing token; CLAUDE_RUNNER_HTTP_TOKEN adds an HTTP token")
    func environmentFallbacks() throws {
        let config = try parse(
            "maxTurns: 1", environment: ["GITHUB_TOKEN": "ghp_env", "CLAUDE_RUNNER_HTTP_TOKEN": "http-env"]
        )
        .config
        #expect(config.github.token == "ghp_env")
        #expect(config.http.tokens == ["http-env"])
    }

    @Test("~ in workDir is expanded")
    func tildeExpansion() throws {
        let config = try parse("workDir: ~/runner-work").config
        #expect(config.workDir == PathExpansion.homeDirectory + "/runner-work")
    }

    @Test(
        "a value of the wrong type names the file, the line and the key",
        arguments: [
            ("maxTurns: ten", 1, "maxTurns", "expected an integer"),
            (
                "model: claude\nissue:\n  bypassPermissions: maybe", 3, "issue.bypassPermissions",
                "expected true or false"
            ),
            ("allowedTools: Read", 1, "allowedTools", "expected a list of strings"),
            ("limits:\n  runTimeout: soon", 2, "limits.runTimeout", "expected a duration"),
            ("github:\n  baseURL: not a url", 2, "github.baseURL", "expected an http(s) URL"),
            ("issue: [a, b]", 1, "issue", "expected a mapping"),
            ("git:\n  allowedProtocols: [https, ext]", 2, "git.allowedProtocols", "unknown protocol \"ext\""),
            ("maxTurns: -1", 1, "maxTurns", "must be at least 0"),
            ("limits:\n  runTimeout: 0", 2, "limits.runTimeout", "must be greater than 0"),
            ("limits:\n  shutdownGrace: 99999999999999999999h", 2, "limits.shutdownGrace", "expected a duration"),
        ])
    func wrongType(yaml: String, line: Int, key: String, problem: String) throws {
        let error = try #require(throws: ConfigError.self) { try parse(yaml) }
        #expect(error.line == line)
        #expect(error.key == key)
        #expect(error.description.hasPrefix("/etc/cr/config.yaml:\(line): key '\(key)': "))
        #expect(error.description.contains(problem))
    }

    @Test("broken YAML names the file and the line")
    func brokenYAML() throws {
        let error = try #require(throws: ConfigError.self) { try parse("maxTurns: 1\nissue: [unclosed\n") }
        #expect(error.description.hasPrefix("/etc/cr/config.yaml:"))
        #expect(error.line != nil)
        #expect(error.description.contains("invalid YAML"))
    }

    @Test("an unknown key is a warning naming it, not an error")
    func unknownKey() throws {
        let loaded = try parse("maxTurn: 3\nissue:\n  modle: x\n")
        #expect(loaded.warnings.count == 2)
        #expect(loaded.warnings[0] == "/etc/cr/config.yaml:1: unknown key 'maxTurn' is ignored")
        #expect(loaded.warnings[1].contains("unknown key 'issue.modle'"))
        #expect(loaded.config.maxTurns == 0)
    }

    @Test("http.tokenFile adds one token per line, skipping comments")
    func tokenFile() throws {
        try TemporaryDirectory.withSync { directory in
            let file = directory.appending("tokens")
            try "# operators\nalpha-token\n\n  beta-token  \n".write(toFile: file, atomically: true, encoding: .utf8)
            let config = try parse("http:\n  tokenFile: \(file)").config
            #expect(config.http.tokens == ["alpha-token", "beta-token"])
        }
    }
}

extension TemporaryDirectory {
    static func withSync<T>(_ body: (TemporaryDirectory) throws -> T) throws -> T {
        let directory = try TemporaryDirectory("sync")
        defer { directory.remove() }
        return try body(directory)
    }
}
