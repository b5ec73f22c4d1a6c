import Foundation
import Yams

/// Reads `<path>/config.yaml` into a ``RunnerConfig``.
///
/// A missing file means all defaults. Bad YAML or a value of the wrong type is a ``ConfigError`` naming the
/// file, the line and the key; an unknown key (likely a typo) is returned as a warning naming it.
public enum ConfigLoader {
    public struct Loaded: Sendable {
        public var config: RunnerConfig
        public var warnings: [String]
    }

    /// Loads the config directory's `config.yaml` and applies the environment fallbacks
    /// (`GITHUB_TOKEN`, `CLAUDE_RUNNER_HTTP_TOKEN`).
    public static func load(
        directory: String, environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> Loaded {
        let directory = PathExpansion.absolute(directory)
        let file = (directory as NSString).appendingPathComponent("config.yaml")
        var yaml = ""
        if FileManager.default.fileExists(atPath: file) {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw ConfigError(file: file, line: nil, key: nil, problem: "cannot read the file")
            }
            guard let text = String(data: data, encoding: .utf8) else {
                throw ConfigError(file: file, line: nil, key: nil, problem: "the file is not UTF-8 text")
            }
            yaml = text
        }
        return try parse(yaml: yaml, file: file, directory: directory, environment: environment)
    }

    /// Parses config text; `file` is only used in messages.
    public static func parse(
        yaml: String, file: String, directory: String, environment: [String: String]
    ) throws -> Loaded {
        var reader = Reader(file: file)
        var config = RunnerConfig(configDirectory: directory)
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch let error as YamlError {
            throw reader.yamlError(error)
        }
        if let root, !root.isNull {
            guard let mapping = root.mapping else {
                throw ConfigError(
                    file: file, line: root.mark?.line, key: nil, problem: "expected a mapping of keys at the top level")
            }
            try reader.readTopLevel(mapping, into: &config)
        }
        if let warning = try checkMirrorDirectory(&config, file: file, lines: reader.lines) {
            reader.warnings.append(warning)
        }
        if config.github.token.nonEmpty == nil, let token = environment["GITHUB_TOKEN"].nonEmpty {
            config.github.token = token
        }
        if let tokenFile = config.http.tokenFile {
            config.http.tokens += try readTokenFile(tokenFile, configFile: file)
        }
        if let token = environment["CLAUDE_RUNNER_HTTP_TOKEN"]?.trimmingCharacters(in: .whitespacesAndNewlines),
            !token.isEmpty
        {
            config.http.tokens.append(token)
        }
        return Loaded(config: config, warnings: reader.warnings)
    }

    /// One token per line; blank lines and `#` comments are skipped.
    static func readTokenFile(_ path: String, configFile: String) throws -> [String] {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8)
        else {
            throw ConfigError(
                file: configFile, line: nil, key: "http.tokenFile", problem: "cannot read token file \(path)")
        }
        return text.split(whereSeparator: \.isNewline)
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty && !$0.hasPrefix("#") }
    }
}

extension ConfigLoader {
    /// Walks the YAML tree key by key, so every error can say where it is.
    struct Reader {
        let file: String
        var warnings: [String] = []
        /// The line of each key that a check across keys may have to name.
        var lines: [String: Int] = [:]

        func yamlError(_ error: YamlError) -> ConfigError {
            switch error {
            case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _),
                .composer(_, let problem, let mark, _):
                return ConfigError(file: file, line: mark.line, key: nil, problem: "invalid YAML: \(problem)")
            default:
                return ConfigError(file: file, line: nil, key: nil, problem: "invalid YAML: \(error)")
            }
        }

        mutating func readTopLevel(_ mapping: Node.Mapping, into config: inout RunnerConfig) throws {
            for (keyNode, value) in mapping {
                let key = keyNode.string ?? ""
                if value.isNull { continue }
                switch key {
                case "workDir":
                    config.workDir = PathExpansion.absolute(try string(value, key))
                    lines[key] = value.mark?.line
                case "allowedTools": config.allowedTools = try stringList(value, key)
                case "maxTurns": config.maxTurns = try int(value, key, minimum: 0)
                case "model": config.model = try string(value, key).nonEmptyValue
                case "maxBudgetUSD": config.maxBudgetUSD = try budget(value, key)
                case "issue":
                    try readSection(value, key) { reader, name, node in
                        try reader.readIssue(name, node, into: &config.issue)
                    }
                case "github":
                    try readSection(value, key) { reader, name, node in
                        try reader.readGitHub(name, node, into: &config.github)
                    }
                case "http":
                    try readSection(value, key) { reader, name, node in
                        try reader.readHTTP(name, node, into: &config.http)
                    }
                case "limits":
                    try readSection(value, key) { reader, name, node in
                        try reader.readLimits(name, node, into: &config.limits)
                    }
                case "git":
                    try readSection(value, key) { reader, name, node in
                        try reader.readGit(name, node, into: &config.git)
                    }
                case "nats":
                    try readSection(value, key) { reader, name, node in
                        try reader.readNATS(name, node, into: &config.nats)
                    }
                case "ledger":
                    try readSection(value, key) { reader, name, node in
                        try reader.readLedger(name, node, into: &config.ledger)
                    }
                default: unknown(key, keyNode)
                }
            }
        }

        mutating func readIssue(_ key: String, _ value: Node, into issue: inout RunnerConfig.IssueSettings) throws {
            switch key {
            case "issue.allowedTools": issue.allowedTools = try stringList(value, key)
            case "issue.maxTurns": issue.maxTurns = try int(value, key, minimum: 0)
            case "issue.model": issue.model = try string(value, key).nonEmptyValue
            case "issue.modelLabels": issue.modelLabels = try stringMap(value, key)
            case "issue.bypassPermissions": issue.bypassPermissions = try bool(value, key)
            case "issue.maxBudgetUSD": issue.maxBudgetUSD = try budget(value, key)
            case "issue.progressInterval": issue.progressInterval = try duration(value, key)
            case "issue.sandboxed": issue.sandboxed = try bool(value, key)
            case "issue.openPullRequest": issue.openPullRequest = try bool(value, key)
            case "issue.draftPullRequest": issue.draftPullRequest = try bool(value, key)
            case "issue.requireChanges": issue.requireChanges = try bool(value, key)
            case "issue.resume": issue.resume = try bool(value, key)
            case "issue.withholdGitHubToken": issue.withholdGitHubToken = try bool(value, key)
            case "issue.commitAuthor":
                let text = try string(value, key)
                guard let author = CommitAuthor(parsing: text) else {
                    throw error(value, key, "expected \"Name <email>\", got \"\(text)\"")
                }
                issue.commitAuthor = author
            default: unknown(key, value)
            }
        }

        mutating func readGitHub(_ key: String, _ value: Node, into github: inout RunnerConfig.GitHubSettings) throws {
            switch key {
            case "github.token": github.token = try string(value, key).nonEmptyValue
            case "github.baseURL":
                let text = try string(value, key)
                guard let url = URL(string: text), let scheme = url.scheme?.lowercased(),
                    scheme == "https" || scheme == "http", url.host != nil
                else {
                    throw error(value, key, "expected an http(s) URL, got \"\(text)\"")
                }
                github.baseURL = text
            default: unknown(key, value)
            }
        }

        mutating func readHTTP(_ key: String, _ value: Node, into http: inout RunnerConfig.HTTPSettings) throws {
            switch key {
            case "http.tokens": http.tokens = try stringList(value, key).filter { !$0.isEmpty }
            case "http.tokenFile": http.tokenFile = PathExpansion.absolute(try string(value, key))
            case "http.insecure": http.insecure = try bool(value, key)
            case "http.maxBodyBytes": http.maxBodyBytes = try int(value, key, minimum: 1)
            case "http.tls":
                try readSection(value, key) { reader, name, node in
                    switch name {
                    case "http.tls.cert": http.tlsCertificate = PathExpansion.absolute(try reader.string(node, name))
                    case "http.tls.key": http.tlsKey = PathExpansion.absolute(try reader.string(node, name))
                    default: reader.unknown(name, node)
                    }
                }
            default: unknown(key, value)
            }
        }

        mutating func readLimits(_ key: String, _ value: Node, into limits: inout RunnerConfig.Limits) throws {
            switch key {
            case "limits.maxConcurrentRuns": limits.maxConcurrentRuns = try int(value, key, minimum: 1)
            case "limits.maxQueuedRuns": limits.maxQueuedRuns = try int(value, key, minimum: 0)
            case "limits.runTimeout":
                limits.runTimeout = try duration(value, key)
                guard limits.runTimeout > .zero else { throw error(value, key, "must be greater than 0") }
            case "limits.idleTimeout": limits.idleTimeout = try duration(value, key)
            case "limits.shutdownGrace": limits.shutdownGrace = try duration(value, key)
            case "limits.maxOutputBytes": limits.maxOutputBytes = try int(value, key, minimum: 1024)
            case "limits.afterResultGrace": limits.afterResultGrace = try duration(value, key)
            case "limits.dailyBudgetUSD": limits.dailyBudgetUSD = try budget(value, key)
            default: unknown(key, value)
            }
        }

        mutating func readGit(_ key: String, _ value: Node, into git: inout RunnerConfig.GitSettings) throws {
            switch key {
            case "git.allowedProtocols":
                let protocols = try stringList(value, key).map { $0.lowercased() }
                let known: Set = ["https", "http", "ssh", "git", "file"]
                if let bad = protocols.first(where: { !known.contains($0) }) {
                    throw error(value, key, "unknown protocol \"\(bad)\" (known: https, http, ssh, git, file)")
                }
                git.allowedProtocols = protocols
            case "git.mirrors": git.mirrors = try bool(value, key)
            case "git.mirrorDir":
                let text = try string(value, key)
                guard !text.isEmpty else { throw error(value, key, "must not be empty") }
                git.mirrorDir = PathExpansion.absolute(text)
                lines[key] = value.mark?.line
            case "git.mirrorMaxBytes": git.mirrorMaxBytes = try int(value, key, minimum: 0)
            case "git.timeout":
                git.timeout = try duration(value, key)
                guard git.timeout > .zero else { throw error(value, key, "must be greater than 0") }
            default: unknown(key, value)
            }
        }

        // MARK: Typed readers

        mutating func readSection(
            _ node: Node, _ key: String, _ body: (inout Reader, String, Node) throws -> Void
        ) throws {
            guard let mapping = node.mapping else { throw error(node, key, "expected a mapping of keys") }
            for (keyNode, value) in mapping {
                if value.isNull { continue }
                try body(&self, "\(key).\(keyNode.string ?? "")", value)
            }
        }

        mutating func unknown(_ key: String, _ node: Node) {
            let line = node.mark.map { ":\($0.line)" } ?? ""
            warnings.append("\(file)\(line): unknown key '\(key)' is ignored")
        }

        func error(_ node: Node, _ key: String, _ problem: String) -> ConfigError {
            ConfigError(file: file, line: node.mark?.line, key: key, problem: problem)
        }

        func scalarText(_ node: Node, _ key: String, expected: String) throws -> String {
            guard let scalar = node.scalar else { throw error(node, key, "expected \(expected), got \(node.kindName)") }
            return scalar.string
        }

        func string(_ node: Node, _ key: String) throws -> String {
            try scalarText(node, key, expected: "a string")
        }

        func int(_ node: Node, _ key: String, minimum: Int) throws -> Int {
            let text = try scalarText(node, key, expected: "an integer")
            guard let value = Int(text) else { throw error(node, key, "expected an integer, got \"\(text)\"") }
            guard value >= minimum else { throw error(node, key, "must be at least \(minimum), got \(value)") }
            return value
        }

        func bool(_ node: Node, _ key: String) throws -> Bool {
            let text = try scalarText(node, key, expected: "true or false")
            switch text.lowercased() {
            case "true": return true
            case "false": return false
            default: throw error(node, key, "expected true or false, got \"\(text)\"")
            }
        }

        /// A dollar amount greater than 0.
        func budget(_ node: Node, _ key: String) throws -> Double {
            let text = try scalarText(node, key, expected: "a number of dollars")
            guard let value = Double(text), value.isFinite else {
                throw error(node, key, "expected a number of dollars such as 2.5, got \"\(text)\"")
            }
            guard value > 0 else { throw error(node, key, "must be greater than 0, got \(text)") }
            return value
        }

        func duration(_ node: Node, _ key: String) throws -> Duration {
            let text = try scalarText(node, key, expected: "a duration")
            guard let value = ConfigDuration.parse(text) else {
                throw error(
                    node, key, "expected a duration such as 90, \"90s\", \"30m\", \"1h\" or \"7d\", got \"\(text)\"")
            }
            return value
        }

        func stringList(_ node: Node, _ key: String) throws -> [String] {
            guard let sequence = node.sequence else {
                throw error(node, key, "expected a list of strings, got \(node.kindName)")
            }
            return try sequence.map { item in
                guard let scalar = item.scalar else {
                    throw error(item, key, "expected a list of strings, found \(item.kindName) in it")
                }
                return scalar.string
            }
        }

        func stringMap(_ node: Node, _ key: String) throws -> [String: String] {
            guard let mapping = node.mapping else {
                throw error(node, key, "expected a mapping of strings, got \(node.kindName)")
            }
            var result: [String: String] = [:]
            for (keyNode, value) in mapping {
                guard let name = keyNode.scalar?.string, let text = value.scalar?.string else {
                    throw error(value, key, "expected a mapping of strings, found \(value.kindName) in it")
                }
                result[name] = text
            }
            return result
        }
    }
}

extension Node {
    var isNull: Bool {
        guard let scalar else { return false }
        return scalar.style == .plain && ["", "~", "null", "Null", "NULL"].contains(scalar.string)
    }

    var kindName: String {
        switch self {
        case .scalar: "a scalar"
        case .mapping: "a mapping"
        case .sequence: "a list"
        case .alias: "an alias"
        }
    }
}

extension String {
    var nonEmptyValue: String? { isEmpty ? nil : self }
}
