import Foundation

extension RunnerConfig {
    /// The `nats.*` keys: the runner's name among the runners of an edge, and durable issue tasks on
    /// JetStream (spec sections 11 and 14).
    public struct NATSSettings: Sendable, Equatable {
        /// Durable issue tasks through the `CLAUDE_RUNNER_TASKS` stream.
        public var jetstream: Bool
        /// How long a delivered task may go without an acknowledgement before it is delivered again.
        public var ackWait: Duration
        /// How many times a task is delivered at most.
        public var maxDeliver: Int
        /// The runner's name in records and replies; `<hostname>-<pid>` when unset.
        public var runnerName: String?

        /// The shortest ack wait: in-progress acknowledgements go every third of it, at least a second apart.
        public static let minimumAckWait: Duration = .seconds(3)

        public init(
            jetstream: Bool = false, ackWait: Duration = .seconds(60), maxDeliver: Int = 3, runnerName: String? = nil
        ) {
            self.jetstream = jetstream
            self.ackWait = ackWait
            self.maxDeliver = maxDeliver
            self.runnerName = runnerName
        }
    }

    /// This runner's name: `nats.runnerName`, else `<hostname>-<pid>`.
    public var runnerName: String {
        if let name = nats.runnerName, !name.isEmpty { return name }
        return "\(ProcessInfo.processInfo.hostName)-\(ProcessInfo.processInfo.processIdentifier)"
    }
}
