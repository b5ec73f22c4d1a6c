import ClaudeRunner
import Foundation
import Logging
import NATS
import NIOCore
import NIOFoundationCompat
import ServiceLifecycle
import Synchronization

/// Durable issue tasks on NATS JetStream (spec section 14): the stream `CLAUDE_RUNNER_TASKS` (subjects
/// `claude-runner.tasks.>`, work-queue retention), one task per edge on `claude-runner.tasks.<edge-id>`,
/// and the durable pull consumer `claude-runner-<edge-id>` that every runner of the edge takes tasks from,
/// one per free run slot.
///
/// While a task runs, the runner sends in-progress acknowledgements every third of the ack wait; it
/// acknowledges once the final comment is posted (terminating it instead when the last delivery failed, as
/// an exhausted message would otherwise stay in a work-queue stream on nats-server 2.9), and gives it back
/// (`-NAK`) when it stops before the attempt ended.
public final class JetStreamTaskQueue: DurableIssueQueue, Service {
    public static let streamName = "CLAUDE_RUNNER_TASKS"
    public static let streamSubjects = "claude-runner.tasks.>"

    public static func subject(edgeID: String) -> String { "claude-runner.tasks.\(edgeID)" }
    public static func consumerName(edgeID: String) -> String { "claude-runner-\(edgeID)" }

    let jetStream: JetStream
    let client: NATSClient
    let runner: RunnerService
    let edgeID: String
    let settings: RunnerConfig.NATSSettings
    let logger: Logger
    private let running = Mutex(0)
    private let pending = Mutex<Int?>(nil)
    private let stopping = Mutex(false)

    public init(client: NATSClient, runner: RunnerService, edgeID: String, logger: Logger) {
        self.client = client
        self.jetStream = JetStream(client: client, timeout: .seconds(10), logger: logger)
        self.runner = runner
        self.edgeID = edgeID
        self.settings = runner.config.nats
        var logger = logger
        logger[metadataKey: "edge_id"] = "\(edgeID)"
        self.logger = logger
    }

    /// Tasks waiting in the stream, as the consumer said last (for the pending metric).
    public var pendingTasks: Int? { pending.withLock { $0 } }

    // MARK: Queue

    public func enqueue(_ message: IssueTaskMessage) async throws {
        let payload = try JSONEncoder().encode(message)
        let ack: PubAck
        do {
            ack = try await jetStream.publish(
                ByteBuffer(data: payload), to: Self.subject(edgeID: edgeID), messageID: message.attemptID,
                expectedStream: Self.streamName)
        } catch let error as JetStreamError where error == .streamStoreFailed {
            throw RunnerError.unavailable(
                "the task stream \(Self.streamName) is full (\(error.serverDescription ?? "store failed"))")
        }
        logger.info(
            "task stored in the stream",
            metadata: ["run.id": "\(message.attemptID)", "seq": "\(ack.sequence)", "duplicate": "\(ack.duplicate)"])
    }

    /// Refuses a task before the claim when the stream has reached its message or byte limit, or cannot be
    /// read: a publish would fail (discard new) or drop an older task (discard old).
    public func checkRoom() async throws {
        let info: StreamInfo
        do {
            info = try await jetStream.streamInfo(Self.streamName)
        } catch {
            throw RunnerError.unavailable(
                "the task stream \(Self.streamName) cannot be read (\(error)); nothing was claimed, retry later")
        }
        if let full = Self.fullness(info) {
            logger.warning("the task stream is full; refusing an issue task", metadata: ["limit": "\(full)"])
            throw RunnerError.unavailable(
                "the task stream \(Self.streamName) is full: \(full); nothing was claimed, retry later (or raise "
                    + "the stream's limits: nats stream edit \(Self.streamName))")
        }
    }

    /// Which limit a stream has reached, if any: its messages, or its bytes (counting one more message of the
    /// average size, since a publish that does not fit is refused as well).
    static func fullness(_ info: StreamInfo) -> String? {
        let state = info.state
        if let limit = info.config.maxMessages, state.messages >= UInt64(max(limit, 0)) {
            return "\(state.messages) of at most \(limit) messages (max_msgs)"
        }
        if let limit = info.config.maxBytes {
            let average = state.messages > 0 ? state.bytes / state.messages : 0
            if state.bytes + average >= UInt64(max(limit, 0)) {
                return "\(state.bytes) of at most \(limit) bytes (max_bytes)"
            }
        }
        return nil
    }

    // MARK: Set-up

    /// Creates the stream and the consumer when missing, and checks them when present.
    /// - Throws: ``RunnerError`` naming what is wrong: no JetStream on the server, a stream or consumer with
    ///   other settings.
    public func prepare() async throws {
        do {
            _ = try await jetStream.accountInfo()
        } catch let error as JetStreamError where error == .notEnabled {
            throw RunnerError.failed(
                "nats.jetstream is true but the NATS server has no JetStream: start nats-server with -js "
                    + "(or a jetstream block in its config), or set nats.jetstream: false")
        }
        do {
            let info = try await jetStream.streamInfo(Self.streamName)
            try Self.check(stream: info.config)
        } catch let error as JetStreamError where error == .streamNotFound {
            _ = try await jetStream.createStream(
                StreamConfig(
                    name: Self.streamName, subjects: [Self.streamSubjects], retention: .workQueue, storage: .file,
                    duplicateWindow: .seconds(120)))
            logger.info("created the JetStream stream", metadata: ["stream": "\(Self.streamName)"])
        }
        let name = Self.consumerName(edgeID: edgeID)
        let wanted = ConsumerConfig(
            durableName: name, deliverPolicy: .all, ackPolicy: .explicit, ackWait: settings.ackWait,
            maxDeliver: settings.maxDeliver, filterSubject: Self.subject(edgeID: edgeID), maxAckPending: 1000)
        do {
            let info = try await jetStream.consumerInfo(stream: Self.streamName, name: name)
            try Self.check(consumer: info.config, wanted: wanted, name: name)
        } catch let error as JetStreamError where error == .consumerNotFound {
            _ = try await jetStream.createConsumer(stream: Self.streamName, wanted)
            logger.info("created the JetStream consumer", metadata: ["consumer": "\(name)"])
        }
    }

    static func check(stream: StreamConfig) throws(RunnerError) {
        guard stream.retention == .workQueue else {
            throw RunnerError.failed(
                "the JetStream stream \(streamName) exists with retention \(stream.retention), but claude-runner "
                    + "needs workqueue: delete it (nats stream rm \(streamName)) or let claude-runner create it")
        }
        guard stream.subjects.contains(streamSubjects) else {
            throw RunnerError.failed(
                "the JetStream stream \(streamName) exists with subjects \(stream.subjects), but claude-runner "
                    + "needs \(streamSubjects)")
        }
        // Limits that remove a task nobody ran would leave its issue claimed for ever, with no final comment.
        func dropsTasks(_ limit: String, _ fix: String) -> RunnerError {
            RunnerError.failed(
                "the JetStream stream \(streamName) exists with \(limit), which drops tasks nobody has run: "
                    + "\(fix) (nats stream edit \(streamName)), or delete the stream and let claude-runner create it")
        }
        if stream.discard == .old, let limit = stream.maxMessages {
            throw dropsTasks("max_msgs \(limit) and discard old", "set discard new (a full stream refuses new tasks)")
        }
        if stream.discard == .old, let limit = stream.maxBytes {
            throw dropsTasks("max_bytes \(limit) and discard old", "set discard new (a full stream refuses new tasks)")
        }
        if let limit = stream.maxMessagesPerSubject {
            throw dropsTasks("max_msgs_per_subject \(limit)", "remove the per-subject limit")
        }
        if let age = stream.maxAge {
            throw dropsTasks("max_age \(age)", "remove the age limit")
        }
    }

    static func check(consumer: ConsumerConfig, wanted: ConsumerConfig, name: String) throws(RunnerError) {
        func mismatch(_ field: String, _ found: String, _ needed: String, _ key: String) -> RunnerError {
            RunnerError.failed(
                "the JetStream consumer \(name) exists with \(field) \(found), but this runner needs \(needed) "
                    + "(\(key)): delete the consumer (nats consumer rm \(streamName) \(name)) or change \(key)")
        }
        if consumer.ackPolicy != .explicit {
            throw mismatch("ack_policy", consumer.ackPolicy.rawValue, "explicit", "nats.jetstream")
        }
        if consumer.filterSubject != wanted.filterSubject {
            throw mismatch(
                "filter_subject", consumer.filterSubject ?? "(none)", wanted.filterSubject ?? "", "the edge id")
        }
        if consumer.ackWait != wanted.ackWait {
            throw mismatch("ack_wait", "\(consumer.ackWait ?? .zero)", "\(wanted.ackWait ?? .zero)", "nats.ackWait")
        }
        if consumer.maxDeliver != wanted.maxDeliver {
            throw mismatch(
                "max_deliver", "\(consumer.maxDeliver ?? -1)", "\(wanted.maxDeliver ?? -1)", "nats.maxDeliver")
        }
        if consumer.deliverSubject != nil {
            throw mismatch(
                "a deliver subject (a push consumer)", consumer.deliverSubject ?? "", "a pull consumer",
                "nats.jetstream")
        }
    }

    // MARK: Taking tasks

    public func run() async throws {
        try await waitForConnection()
        try await prepare()
        logger.info(
            "taking durable issue tasks",
            metadata: [
                "consumer": "\(Self.consumerName(edgeID: edgeID))", "ack_wait": "\(settings.ackWait)",
                "max_deliver": "\(settings.maxDeliver)",
            ])
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                group.addTask { await self.samplePending() }
                while !stopping.withLock({ $0 }), !Task.isCancelled {
                    guard freeSlots > 0, runner.isAccepting else {
                        try? await Task.sleep(for: .milliseconds(200))
                        continue
                    }
                    let messages: [JetStreamMessage]
                    do {
                        messages = try await jetStream.fetch(
                            stream: Self.streamName, consumer: Self.consumerName(edgeID: edgeID), batch: 1,
                            expires: .seconds(5))
                    } catch {
                        if !stopping.withLock({ $0 }) {
                            logger.debug("fetch a task", metadata: ["error": "\(error)"])
                            try? await Task.sleep(for: .seconds(1))
                        }
                        continue
                    }
                    for message in messages {
                        running.withLock { $0 += 1 }
                        group.addTask {
                            await self.handle(message)
                            self.running.withLock { $0 -= 1 }
                        }
                    }
                }
            }
        } onGracefulShutdown: { [self] in
            // No new tasks; the ones running finish (or are interrupted and given back) first.
            stopping.withLock { $0 = true }
        }
    }

    /// One task per free run slot: slots this runner's own tasks do not fill yet.
    private var freeSlots: Int {
        let (inUse, waiting) = runner.slots.counts
        return runner.slots.capacity - max(inUse + waiting, running.withLock { $0 })
    }

    private func waitForConnection() async throws {
        while !client.isConnected {
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    func handle(_ message: JetStreamMessage) async {
        var logger = logger
        logger[metadataKey: "delivery"] = "\(message.metadata.deliveryCount)"
        let task: IssueTaskMessage
        do {
            task = try JSONDecoder().decode(IssueTaskMessage.self, from: Data(buffer: message.payload))
        } catch {
            logger.error("a task message that is not a task was terminated", metadata: ["error": "\(error)"])
            try? message.term()
            return
        }
        let delivery = TaskDelivery(count: message.metadata.deliveryCount, maxDeliveries: settings.maxDeliver)
        let taskLogger = logger
        let outcome: DeliveredTaskOutcome = await withTaskGroup(of: DeliveredTaskOutcome?.self) { group in
            group.addTask { await self.keepInProgress(message, attemptID: task.attemptID, logger: taskLogger) }
            group.addTask { await self.runner.executeDelivered(task, delivery: delivery, logger: taskLogger) }
            var outcome: DeliveredTaskOutcome = .requeue
            while let next = await group.next() {
                if let next {
                    outcome = next
                    group.cancelAll()
                }
            }
            return outcome
        }
        do {
            switch outcome {
            case .reported(let completed):
                if !completed, delivery.isLast {
                    try await message.sendConfirmed(.term)
                } else {
                    try await message.ackSync()
                }
            case .alreadyReported:
                try await message.ackSync()
            case .requeue:
                try message.nak()
            case .superseded:
                // The task's current delivery is another runner's (or this runner's earlier one): theirs to
                // acknowledge.
                break
            case .invalid(let reason):
                logger.error(
                    "an invalid task was terminated", metadata: ["run.id": "\(task.attemptID)", "error": "\(reason)"])
                try message.term()
            }
        } catch {
            // Lost acknowledgements mean a redelivery, which finds the final comment and only acknowledges.
            logger.warning("acknowledge a task", metadata: ["run.id": "\(task.attemptID)", "error": "\(error)"])
        }
    }

    /// `+WPI` every third of the ack wait (at least a second apart) until cancelled; through NATS outages
    /// too (the client buffers while reconnecting).
    ///
    /// When no acknowledgement reached the server for longer than the ack wait (NATS out of reach, the process
    /// frozen), the server may have given the task to another runner: the runner is told, and its attempt
    /// checks the issue before it reports.
    private func keepInProgress(
        _ message: JetStreamMessage, attemptID: String, logger: Logger
    ) async -> DeliveredTaskOutcome? {
        let interval = max(settings.ackWait / 3, .seconds(1))
        var next = ContinuousClock.now + interval
        var lastSent = ContinuousClock.now
        var lapsed = false
        while !Task.isCancelled {
            try? await Task.sleep(for: min(.milliseconds(500), max(next - .now, .milliseconds(10))))
            if !lapsed, ContinuousClock.now - lastSent > settings.ackWait {
                lapsed = true
                runner.taskAcknowledgementsLapsed(attemptID, logger: logger)
            }
            guard !Task.isCancelled, ContinuousClock.now >= next else { continue }
            if client.isConnected { lastSent = .now }
            do {
                try message.inProgress()
            } catch {
                logger.debug("in-progress acknowledgement", metadata: ["error": "\(error)"])
            }
            next = .now + interval
        }
        return nil
    }

    /// Reads the consumer's pending count every 15 s, for `claude_runner_tasks_pending`.
    private func samplePending() async {
        var next = ContinuousClock.now
        while !stopping.withLock({ $0 }), !Task.isCancelled {
            if ContinuousClock.now >= next {
                if let info = try? await jetStream.consumerInfo(
                    stream: Self.streamName, name: Self.consumerName(edgeID: edgeID))
                {
                    let count = Int(info.numPending)
                    pending.withLock { $0 = count }
                    RunMetrics.tasksPending(count)
                }
                next = .now + .seconds(15)
            }
            try? await Task.sleep(for: .milliseconds(500))
        }
    }
}
