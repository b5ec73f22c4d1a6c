import Foundation

extension RunnerConfig {
    /// The run ledger (`ledger.*`): the SQLite record of every run and the transcripts kept beside it.
    public struct LedgerSettings: Sendable, Equatable {
        /// `false` turns the ledger off; the run endpoints then answer 404.
        public var enabled: Bool
        /// The database file; transcripts go in a `transcripts` folder beside it.
        public var path: String
        /// Runs and transcripts older than this are deleted; `.zero` keeps them for ever.
        public var retention: Duration
        /// The most a run's transcript may hold; beyond it one line says it was cut. `0` keeps no transcripts.
        public var maxTranscriptBytes: Int

        public static let defaultRetention: Duration = .seconds(30 * 86_400)
        public static let defaultMaxTranscriptBytes = 16 << 20

        public init(
            enabled: Bool = true, path: String, retention: Duration = LedgerSettings.defaultRetention,
            maxTranscriptBytes: Int = LedgerSettings.defaultMaxTranscriptBytes
        ) {
            self.enabled = enabled
            self.path = path
            self.retention = retention
            self.maxTranscriptBytes = maxTranscriptBytes
        }

        /// The defaults for a config directory: `<configDirectory>/runs.db`.
        public init(configDirectory: String) {
            self.init(path: (configDirectory as NSString).appendingPathComponent("runs.db"))
        }
    }
}
