import Foundation

/// Everything the runner reads from `<path>/config.yaml`, with the defaults of a missing file.
///
/// Key names and meanings are the original runner's (`workDir`, `allowedTools`, `issue.*`, `github.*`) plus
/// the hardening keys (`http.*`, `limits.*`, `git.*`). See `config.example.yaml`.
public struct RunnerConfig: Sendable {
    /// The config directory (`--path`), home of `config.yaml`, `id` and `user.creds`.
    public var configDirectory: String
    /// Root of every workspace; `<configDirectory>/workspaces` unless set.
    public var workDir: String
    public var allowedTools: [String]
    public var maxTurns: Int
    public var model: String?
    /// `--max-budget-usd` for every run (issue runs: `issue.maxBudgetUSD` first); `nil` means no cap.
    public var maxBudgetUSD: Double?
    public var issue: IssueSettings
    public var github: GitHubSettings
    public var http: HTTPSettings
    public var limits: Limits
    public var git: GitSettings
    public var ledger: LedgerSettings
    public var nats: NATSSettings
    /// The Claude Code executable: a name looked up on `PATH`, or a path.
    public var claudeExecutable: String
    /// Time between SIGTERM and SIGKILL when a run is stopped (at most 10 s, as the spec promises).
    public var terminationGrace: Duration

    public struct IssueSettings: Sendable {
        public var allowedTools: [String]?
        public var maxTurns: Int?
        public var model: String?
        /// `model:*` label → model name.
        public var modelLabels: [String: String]
        public var bypassPermissions: Bool
        public var maxBudgetUSD: Double?
        /// Least time between edits of the issue's tracking comment; `.zero` turns editing off.
        public var progressInterval: Duration
        /// The host is a disposable sandbox: Claude gets `IS_SANDBOX=1`.
        public var sandboxed: Bool
        /// The runner pushes Claude's work and opens the pull request when Claude did not.
        public var openPullRequest: Bool
        /// Author of the runner's own commits.
        public var commitAuthor: CommitAuthor
        /// Pull requests the runner opens are drafts.
        public var draftPullRequest: Bool
        /// No changes and no pull request is a failure (`no_changes`); false keeps the original's success.
        public var requireChanges: Bool
        /// A re-triggered issue continues Claude's session in the kept workspace.
        public var resume: Bool
        /// Claude's environment on issue runs has no GitHub token: only the runner pushes.
        public var withholdGitHubToken: Bool
        /// How long a lock holds without a heartbeat, and how often the heartbeat rewrites it.
        public var lockLifetime: Duration
        public var lockHeartbeat: Duration

        public init(
            allowedTools: [String]? = nil, maxTurns: Int? = nil, model: String? = nil,
            modelLabels: [String: String] = [:], bypassPermissions: Bool = false, maxBudgetUSD: Double? = nil,
            progressInterval: Duration = .seconds(15), sandboxed: Bool = false, openPullRequest: Bool = true,
            commitAuthor: CommitAuthor = .default, draftPullRequest: Bool = false, requireChanges: Bool = true,
            resume: Bool = false, withholdGitHubToken: Bool = false, lockLifetime: Duration = .seconds(3600),
            lockHeartbeat: Duration = .seconds(60)
        ) {
            self.allowedTools = allowedTools
            self.maxTurns = maxTurns
            self.model = model
            self.modelLabels = modelLabels
            self.bypassPermissions = bypassPermissions
            self.maxBudgetUSD = maxBudgetUSD
            self.progressInterval = progressInterval
            self.sandboxed = sandboxed
            self.openPullRequest = openPullRequest
            self.commitAuthor = commitAuthor
            self.draftPullRequest = draftPullRequest
            self.requireChanges = requireChanges
            self.resume = resume
            self.withholdGitHubToken = withholdGitHubToken
            self.lockLifetime = lockLifetime
            self.lockHeartbeat = lockHeartbeat
        }
    }

    public struct GitHubSettings: Sendable {
        public var token: String?
        public var baseURL: String

        public static let defaultBaseURL = "https://api.github.com"

        public init(token: String? = nil, baseURL: String = GitHubSettings.defaultBaseURL) {
            self.token = token
            self.baseURL = baseURL
        }
    }

    public struct HTTPSettings: Sendable {
        public var tokens: [String]
        public var tokenFile: String?
        public var insecure: Bool
        public var tlsCertificate: String?
        public var tlsKey: String?
        public var maxBodyBytes: Int

        public init(
            tokens: [String] = [], tokenFile: String? = nil, insecure: Bool = false, tlsCertificate: String? = nil,
            tlsKey: String? = nil, maxBodyBytes: Int = 1 << 20
        ) {
            self.tokens = tokens
            self.tokenFile = tokenFile
            self.insecure = insecure
            self.tlsCertificate = tlsCertificate
            self.tlsKey = tlsKey
            self.maxBodyBytes = maxBodyBytes
        }
    }

    public struct Limits: Sendable {
        public var maxConcurrentRuns: Int
        public var maxQueuedRuns: Int
        public var runTimeout: Duration
        /// `.zero` means off.
        public var idleTimeout: Duration
        public var shutdownGrace: Duration
        /// How much of Claude's stdout a run keeps in memory (stderr: at most 1 MiB of it).
        public var maxOutputBytes: Int
        /// How long Claude may keep running after its `result` event before its process group is ended.
        public var afterResultGrace: Duration
        /// Once the cost recorded since 00:00 UTC reaches this, new runs are refused until midnight UTC.
        public var dailyBudgetUSD: Double?

        public init(
            maxConcurrentRuns: Int = ProcessInfo.processInfo.activeProcessorCount, maxQueuedRuns: Int = 64,
            runTimeout: Duration = .seconds(3600), idleTimeout: Duration = .zero,
            shutdownGrace: Duration = .seconds(30),
            maxOutputBytes: Int = 16 << 20, afterResultGrace: Duration = .seconds(10)
        ) {
            self.maxConcurrentRuns = maxConcurrentRuns
            self.maxQueuedRuns = maxQueuedRuns
            self.runTimeout = runTimeout
            self.idleTimeout = idleTimeout
            self.shutdownGrace = shutdownGrace
            self.maxOutputBytes = maxOutputBytes
            self.afterResultGrace = afterResultGrace
        }
    }

    public struct GitSettings: Sendable {
        public var allowedProtocols: [String]
        /// Whether runs with a repo get their workspace from a local mirror (spec section 13).
        public var mirrors: Bool
        /// Where the mirrors live; `nil` means `<configDirectory>/mirrors` (see ``RunnerConfig/mirrorDirectory``).
        public var mirrorDir: String?
        /// Mirrors beyond this many bytes in total are removed, least recently used first.
        public var mirrorMaxBytes: Int
        /// The deadline of every git command the runner starts.
        public var timeout: Duration

        public static let defaultProtocols = ["https", "ssh", "git", "file"]
        public static let defaultMirrorMaxBytes = 20 << 30

        public init(
            allowedProtocols: [String] = GitSettings.defaultProtocols, mirrors: Bool = true, mirrorDir: String? = nil,
            mirrorMaxBytes: Int = GitSettings.defaultMirrorMaxBytes, timeout: Duration = .seconds(600)
        ) {
            self.allowedProtocols = allowedProtocols
            self.mirrors = mirrors
            self.mirrorDir = mirrorDir
            self.mirrorMaxBytes = mirrorMaxBytes
            self.timeout = timeout
        }
    }

    public init(
        configDirectory: String, workDir: String? = nil, allowedTools: [String] = [], maxTurns: Int = 0,
        model: String? = nil, maxBudgetUSD: Double? = nil, issue: IssueSettings = .init(),
        github: GitHubSettings = .init(),
        http: HTTPSettings = .init(), limits: Limits = .init(), git: GitSettings = .init(),
        claudeExecutable: String = "claude", terminationGrace: Duration = .seconds(10)
    ) {
        self.configDirectory = configDirectory
        self.workDir = workDir ?? (configDirectory as NSString).appendingPathComponent("workspaces")
        self.allowedTools = allowedTools
        self.maxTurns = maxTurns
        self.model = model
        self.maxBudgetUSD = maxBudgetUSD
        self.issue = issue
        self.github = github
        self.http = http
        self.limits = limits
        self.git = git
        self.ledger = LedgerSettings(configDirectory: configDirectory)
        self.nats = NATSSettings()
        self.claudeExecutable = claudeExecutable
        self.terminationGrace = terminationGrace
    }

    /// Root of the repository mirrors: `git.mirrorDir`, else `<configDirectory>/mirrors` (outside `workDir`, so
    /// that a run's workspace rules are unchanged).
    public var mirrorDirectory: String {
        git.mirrorDir ?? (configDirectory as NSString).appendingPathComponent("mirrors")
    }

    /// The default config directory, `~/.flarex/claude-runner`.
    public static var defaultDirectory: String {
        (PathExpansion.homeDirectory as NSString).appendingPathComponent(".flarex/claude-runner")
    }
}

/// `~` expansion for paths in flags and config values.
public enum PathExpansion {
    public static var homeDirectory: String {
        if let home = getenv("HOME").map({ String(cString: $0) }), !home.isEmpty { return home }
        return FileManager.default.homeDirectoryForCurrentUser.path
    }

    public static func expand(_ path: String) -> String {
        if path == "~" { return homeDirectory }
        if path.hasPrefix("~/") { return (homeDirectory as NSString).appendingPathComponent(String(path.dropFirst(2))) }
        return path
    }

    /// An absolute, standardised form of `path` (relative paths are taken from the current directory).
    public static func absolute(_ path: String) -> String {
        let expanded = expand(path)
        if expanded.hasPrefix("/") { return (expanded as NSString).standardizingPath }
        let cwd = FileManager.default.currentDirectoryPath
        return ((cwd as NSString).appendingPathComponent(expanded) as NSString).standardizingPath
    }
}
