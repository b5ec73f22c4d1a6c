import ClaudeRunnerTesting
import NIOCore
import Testing

@testable import NATS

/// JetStream through our client against a real `nats-server -js` (2.9 on the build machines), started by each
/// test on a free port with its own store.
// Serialized: one nats-server at a time keeps the timing checks (ack wait, expiry) honest on a busy machine.
@Suite("JetStream against nats-server", .serialized)
struct JetStreamIntegrationTests {
    typealias Support = JetStreamTestSupport

    // MARK: Publishing

    @Test(
        "publish with a message ID: PubAck with the sequence; the same ID again is a duplicate, stored once",
        .timeLimit(.minutes(2)))
    func publishDeduplicates() async throws {
        try await Support.withWorkQueue { jetStream in
            let first = try await jetStream.publish("one", to: "tasks.edge-1", messageID: "attempt-1")
            #expect(first == PubAck(stream: "TASKS", sequence: 1))
            let again = try await jetStream.publish("one", to: "tasks.edge-1", messageID: "attempt-1")
            #expect(again.duplicate)
            #expect(again.sequence == 1)
            let second = try await jetStream.publish("two", to: "tasks.edge-1", messageID: "attempt-2")
            #expect(second == PubAck(stream: "TASKS", sequence: 2))
            #expect(try await jetStream.taskCount() == 2)
            let messages = try await jetStream.fetchTasks(batch: 2)
            #expect(messages.map(\.messageID) == ["attempt-1", "attempt-2"])
            #expect(messages.map(\.text) == ["one", "two"])
        }
    }

    @Test(
        "publishing where no stream listens, or to the wrong expected stream, is a typed error",
        .timeLimit(.minutes(2)))
    func publishWithoutStream() async throws {
        try await Support.withWorkQueue { jetStream in
            let error = await #expect(throws: JetStreamError.self) {
                try await jetStream.publish("x", to: "nowhere.x")
            }
            #expect(error == .noStreamForSubject)
            #expect(error?.description.contains("nowhere.x") == true)
            let mismatch = await #expect(throws: JetStreamError.self) {
                try await jetStream.publish(ByteBuffer(string: "x"), to: "tasks.a", expectedStream: "OTHER")
            }
            #expect(mismatch == .expectedStreamMismatch)
            #expect(mismatch?.errorCode == 10060)
            let stored = try await jetStream.taskCount()
            #expect(stored == 0)
        }
    }

    @Test(
        "a full stream that discards new messages refuses a publish with the server's code",
        .timeLimit(.minutes(2)))
    func fullStreamRefusesPublish() async throws {
        try await Support.withServer { server in
            try await Support.withJetStream(server.url) { jetStream in
                try await jetStream.createStream(
                    StreamConfig(
                        name: "FULL", subjects: ["full.>"], storage: .memory, maxMessages: 1, discard: .new))
                try await jetStream.publish("1", to: "full.a")
                let error = await #expect(throws: JetStreamError.self) {
                    try await jetStream.publish("2", to: "full.a")
                }
                #expect(error == .streamStoreFailed)
                #expect(error?.code == 503)
                #expect(error?.errorCode == 10077)
                #expect(error?.serverDescription == "maximum messages exceeded")
                #expect(try await jetStream.streamInfo("FULL").state.messages == 1)
            }
        }
    }

    // MARK: Streams and consumers

    @Test(
        "streams: create is idempotent, a different config is refused, update, purge, delete, 404 after",
        .timeLimit(.minutes(2)))
    func streamLifecycle() async throws {
        try await Support.withServer { server in
            try await Support.withJetStream(server.url) { jetStream in
                let config = StreamConfig(name: "LIFE", subjects: ["life.>"], storage: .memory)
                let created = try await jetStream.createStream(config)
                #expect(created.config.subjects == ["life.>"])
                #expect(created.config.retention == .limits)
                try await jetStream.createStream(config)
                var changed = config
                changed.maxMessages = 5
                await #expect(throws: JetStreamError.streamNameInUse) { try await jetStream.createStream(changed) }
                #expect(try await jetStream.updateStream(changed).config.maxMessages == 5)
                for index in 0..<3 { try await jetStream.publish("\(index)", to: "life.x") }
                #expect(try await jetStream.purgeStream("LIFE") == 3)
                #expect(try await jetStream.accountInfo().streams == 1)
                try await jetStream.deleteStream("LIFE")
                await #expect(throws: JetStreamError.streamNotFound) { try await jetStream.deleteStream("LIFE") }
            }
        }
    }

    @Test(
        "stream info for a missing stream is the typed 404 with err_code 10059; a missing consumer 10014",
        .timeLimit(.minutes(2)))
    func streamInfoNotFound() async throws {
        try await Support.withWorkQueue { jetStream in
            let error = await #expect(throws: JetStreamError.self) { try await jetStream.streamInfo("NOPE") }
            #expect(error == .streamNotFound)
            #expect(error?.code == 404)
            #expect(error?.errorCode == 10059)
            #expect(error?.description.contains("NOPE") == true)
            let consumer = await #expect(throws: JetStreamError.self) {
                try await jetStream.consumerInfo(stream: "TASKS", name: "ghost")
            }
            #expect(consumer == .consumerNotFound)
            #expect(consumer?.errorCode == 10014)
        }
    }

    @Test(
        "a consumer someone else created with other settings is visible through consumerInfo",
        .timeLimit(.minutes(2)))
    func foreignConsumerIsVisible() async throws {
        try await Support.withServer { server in
            try await Support.withJetStream(server.url) { jetStream in
                try await jetStream.createStream(
                    StreamConfig(name: "TASKS", subjects: ["tasks.>"], retention: .workQueue, storage: .memory))
                // Someone else, with their own JSON.
                let theirs = """
                    {"stream_name":"TASKS","config":{"durable_name":"worker","ack_policy":"explicit",\
                    "ack_wait":10000000000,"max_deliver":5,"max_ack_pending":7}}
                    """
                _ = try await jetStream.client.request(
                    ByteBuffer(string: theirs), to: "$JS.API.CONSUMER.DURABLE.CREATE.TASKS.worker",
                    timeout: .seconds(30))
                let ours = ConsumerConfig(
                    durableName: "worker", ackPolicy: .explicit, ackWait: .seconds(60), maxDeliver: 3)
                let info = try await jetStream.consumerInfo(stream: "TASKS", name: "worker")
                #expect(info.name == "worker")
                #expect(info.config.ackWait == .seconds(10))
                #expect(info.config.maxDeliver == 5)
                #expect(info.config.maxAckPending == 7)
                #expect(info.config.ackWait != ours.ackWait)

                // Observed on nats-server 2.9: DURABLE.CREATE over an existing consumer changes what can be
                // changed in place and refuses the rest.
                let updated = try await jetStream.createConsumer(stream: "TASKS", ours)
                #expect(updated.config.maxDeliver == 3)
                #expect(updated.config.ackWait == .seconds(60))
                var otherStart = ours
                otherStart.deliverPolicy = .new
                let refused = await #expect(throws: JetStreamError.self) {
                    try await jetStream.createConsumer(stream: "TASKS", otherStart)
                }
                #expect(refused?.errorCode == 10012)
                try await jetStream.deleteConsumer(stream: "TASKS", name: "worker")
                await #expect(throws: JetStreamError.consumerNotFound) {
                    try await jetStream.consumerInfo(stream: "TASKS", name: "worker")
                }
            }
        }
    }

    // MARK: Fetch and acknowledge

    @Test(
        "fetch a batch with metadata; a short batch ends at expires; acks empty the work queue",
        .timeLimit(.minutes(2)))
    func fetchAndAck() async throws {
        try await Support.withWorkQueue { jetStream in
            for index in 1...3 { try await jetStream.publish("task \(index)", to: "tasks.edge-1") }
            let started = ContinuousClock.now
            let first = try await jetStream.fetchTasks(batch: 2, expires: .seconds(30))
            #expect(ContinuousClock.now - started < .seconds(10))
            #expect(first.map(\.text) == ["task 1", "task 2"])
            #expect(first.map(\.metadata.streamSequence) == [1, 2])
            #expect(first.map(\.metadata.pending) == [2, 1])
            #expect(first.allSatisfy { $0.metadata.deliveryCount == 1 })
            #expect(first.allSatisfy { $0.metadata.stream == "TASKS" && $0.metadata.consumer == "worker" })
            #expect(first.allSatisfy { $0.subject == "tasks.edge-1" })

            let rest = try await jetStream.fetchTasks(batch: 5, expires: .seconds(1))
            #expect(rest.map(\.text) == ["task 3"])
            let info = try await jetStream.consumerInfo(stream: "TASKS", name: "worker")
            #expect(info.numAckPending == 3)
            #expect(info.numPending == 0)

            try first[0].ack()
            try first[1].ack()
            try await rest[0].ackSync()
            try await eventually(timeout: .seconds(30), "the acknowledged messages leaving the work queue") {
                try await jetStream.taskCount() == 0
            }
            let after = try await jetStream.consumerInfo(stream: "TASKS", name: "worker")
            #expect(after.numAckPending == 0)
            #expect(after.ackFloor.streamSequence == 3)
        }
    }

    @Test(
        "fetch without messages: noWait returns empty at once, expires returns empty after about expires",
        .timeLimit(.minutes(2)))
    func fetchWithoutMessages() async throws {
        try await Support.withWorkQueue { jetStream in
            // A no-wait fetch sends no expires: nats-server 2.9 would hold it for those 30 s.
            var started = ContinuousClock.now
            let atOnce = try await jetStream.fetchTasks(batch: 3, expires: .seconds(30), noWait: true)
            #expect(atOnce.isEmpty)
            #expect(ContinuousClock.now - started < .seconds(10))
            started = ContinuousClock.now
            let afterExpiry = try await jetStream.fetchTasks(batch: 3, expires: .seconds(1))
            #expect(afterExpiry.isEmpty)
            let elapsed = ContinuousClock.now - started
            #expect(elapsed >= .milliseconds(900))
            #expect(elapsed < .seconds(6))
            #expect(jetStream.client.subscriptionCount == 0)
        }
    }

    @Test(
        "nak: redelivered at once with delivery count 2; nak with a delay: only after the delay",
        .timeLimit(.minutes(2)))
    func nakRedelivers() async throws {
        try await Support.withWorkQueue { jetStream in
            try await jetStream.publish("task", to: "tasks.edge-1")
            let first = try #require(try await jetStream.fetchTasks().first)
            #expect(first.metadata.deliveryCount == 1)
            try first.nak()
            let second = try #require(try await jetStream.fetchTasks().first)
            #expect(second.metadata.deliveryCount == 2)
            #expect(second.metadata.streamSequence == first.metadata.streamSequence)
            #expect(second.metadata.consumerSequence > first.metadata.consumerSequence)
            #expect(try await jetStream.consumerInfo(stream: "TASKS", name: "worker").numRedelivered == 1)

            // Times are taken before each send and after each answer, so they hold on a slow machine too.
            let delay = Duration.seconds(2)
            let naked = ContinuousClock.now
            try await second.sendConfirmed(.nak(delay: delay))
            let early = try await jetStream.fetchTasks(noWait: true)
            if !early.isEmpty { #expect(ContinuousClock.now - naked >= delay, "redelivered before the NAK delay") }
            let later = early.isEmpty ? try await jetStream.fetchTasks(expires: .seconds(10)) : early
            let third = try #require(later.first)
            #expect(ContinuousClock.now - naked >= delay)
            #expect(third.metadata.deliveryCount == 3)
            try await third.ackSync()
        }
    }

    @Test("not acknowledged: redelivered after ack_wait, not before", .timeLimit(.minutes(2)))
    func redeliveredAfterAckWait() async throws {
        let ackWait = Duration.seconds(2)
        try await Support.withWorkQueue(ackWait: ackWait) { jetStream in
            try await jetStream.publish("task", to: "tasks.edge-1")
            // Taken before the delivery and after each answer, so the bounds hold on a slow machine too.
            let fetched = ContinuousClock.now
            let first = try #require(try await jetStream.fetchTasks().first)
            let early = try await jetStream.fetchTasks(noWait: true)
            if !early.isEmpty { #expect(ContinuousClock.now - fetched >= ackWait, "redelivered before ack_wait") }
            let later = early.isEmpty ? try await jetStream.fetchTasks(expires: .seconds(10)) : early
            let again = try #require(later.first)
            #expect(ContinuousClock.now - fetched >= ackWait)
            #expect(again.metadata.deliveryCount == 2)
            #expect(again.metadata.streamSequence == first.metadata.streamSequence)
            try await again.ackSync()
        }
    }

    @Test("in progress: a message worked on past ack_wait is not redelivered", .timeLimit(.minutes(2)))
    func inProgressHoldsRedelivery() async throws {
        let ackWait = Duration.seconds(3)
        try await Support.withWorkQueue(ackWait: ackWait) { jetStream in
            try await jetStream.publish("long task", to: "tasks.edge-1")
            var lastSent = ContinuousClock.now
            let message = try #require(try await jetStream.fetchTasks().first)
            // Twice the ack wait, with an in-progress every 0.5 s. The server can have seen no gap longer than
            // the time from one send to the next confirmation: track the longest.
            var longestGap = Duration.zero
            let until = ContinuousClock.now + ackWait * 2
            while ContinuousClock.now < until {
                try await Task.sleep(for: .milliseconds(500))
                let sent = ContinuousClock.now
                try await message.sendConfirmed(.inProgress)
                longestGap = max(longestGap, ContinuousClock.now - lastSent)
                lastSent = sent
            }
            let redelivered = try await jetStream.fetchTasks(noWait: true)
            let info = try await jetStream.consumerInfo(stream: "TASKS", name: "worker")
            longestGap = max(longestGap, ContinuousClock.now - lastSent)
            try #require(
                longestGap < ackWait,
                "this test process stalled for \(longestGap), longer than ack_wait: in-progress cannot be judged")
            #expect(redelivered.isEmpty)
            #expect(info.numRedelivered == 0)
            #expect(info.numAckPending == 1)
            try await message.ackSync()
            try await eventually(timeout: .seconds(30), "the message leaving the work queue") {
                try await jetStream.taskCount() == 0
            }
        }
    }

    @Test("term: never redelivered, and gone from the work queue", .timeLimit(.minutes(2)))
    func termStopsRedelivery() async throws {
        try await Support.withWorkQueue(ackWait: .seconds(1)) { jetStream in
            try await jetStream.publish("poison", to: "tasks.edge-1")
            let message = try #require(try await jetStream.fetchTasks().first)
            try await message.sendConfirmed(.term)
            #expect(try await jetStream.fetchTasks(expires: .milliseconds(2500)).isEmpty)
            try await eventually(timeout: .seconds(30), "the terminated message leaving the work queue") {
                try await jetStream.taskCount() == 0
            }
        }
    }

    /// nats-server 2.9 stops delivering a message after max_deliver deliveries but leaves it in a work-queue
    /// stream (no consumer will ever get it, nothing removes it). Terminating it with the last delivery's ack
    /// subject, even after its ack wait, removes it: what the runner does with a task that failed for good.
    @Test(
        "max_deliver reached: no more deliveries, the message stays in the work queue until terminated",
        .timeLimit(.minutes(2)))
    func maxDeliverLeavesMessage() async throws {
        try await Support.withWorkQueue(ackWait: .seconds(1), maxDeliver: 2) { jetStream in
            try await jetStream.publish("task", to: "tasks.edge-1")
            let first = try #require(try await jetStream.fetchTasks().first)
            let last = try #require(try await jetStream.fetchTasks(expires: .seconds(5)).first)
            #expect(first.metadata.deliveryCount == 1)
            #expect(last.metadata.deliveryCount == 2)
            #expect(try await jetStream.fetchTasks(expires: .milliseconds(2500)).isEmpty)
            #expect(try await jetStream.taskCount() == 1)
            let info = try await jetStream.consumerInfo(stream: "TASKS", name: "worker")
            #expect(info.numPending == 0)
            #expect(info.numAckPending == 0)

            try await last.sendConfirmed(.term)
            try await eventually(timeout: .seconds(30), "the terminated message leaving the work queue") {
                try await jetStream.taskCount() == 0
            }
        }
    }

    @Test(
        "pull refusals: 409 Exceeded MaxWaiting, and 409 Consumer Deleted for a waiting fetch",
        .timeLimit(.minutes(2)))
    func pullRejected() async throws {
        try await Support.withServer { server in
            try await Support.withJetStream(server.url) { jetStream in
                try await jetStream.createStream(
                    StreamConfig(name: "TASKS", subjects: ["tasks.>"], retention: .workQueue, storage: .memory))
                try await jetStream.createConsumer(
                    stream: "TASKS", ConsumerConfig(durableName: "worker", ackPolicy: .explicit, maxWaiting: 1))
                let waiting = Task { try await jetStream.fetchTasks(expires: .seconds(20)) }
                try await eventually(timeout: .seconds(30), "the first pull request waiting at the server") {
                    try await jetStream.consumerInfo(stream: "TASKS", name: "worker").numWaiting == 1
                }
                let tooMany = await #expect(throws: JetStreamError.self) {
                    try await jetStream.fetchTasks(expires: .seconds(5))
                }
                #expect(tooMany == .pullRejected)
                #expect(tooMany?.code == 409)
                #expect(tooMany?.serverDescription == "Exceeded MaxWaiting")

                try await jetStream.deleteConsumer(stream: "TASKS", name: "worker")
                let deleted = await #expect(throws: JetStreamError.self) { try await waiting.value }
                #expect(deleted == .pullRejected)
                #expect(deleted?.serverDescription == "Consumer Deleted")
                #expect(jetStream.client.subscriptionCount == 0)
            }
        }
    }

    @Test(
        "a fetch on a consumer that does not exist times out with a clear error, bounded by expires plus timeout",
        .timeLimit(.minutes(2)))
    func fetchMissingConsumerTimesOut() async throws {
        try await Support.withServer { server in
            try await Support.withJetStream(server.url, timeout: .seconds(1)) { jetStream in
                try await jetStream.createStream(StreamConfig(name: "TASKS", subjects: ["tasks.>"], storage: .memory))
                let started = ContinuousClock.now
                let error = await #expect(throws: JetStreamError.self) {
                    try await jetStream.fetch(stream: "TASKS", consumer: "ghost", expires: .seconds(1))
                }
                let elapsed = ContinuousClock.now - started
                #expect(error == .timeout)
                #expect(error?.description.contains("ghost") == true)
                #expect(elapsed >= .milliseconds(1900))
                #expect(elapsed < .seconds(8))
                #expect(jetStream.client.subscriptionCount == 0)
            }
        }
    }

    @Test("a cancelled fetch ends promptly and leaves no subscription behind", .timeLimit(.minutes(2)))
    func cancelledFetch() async throws {
        try await Support.withWorkQueue { jetStream in
            let fetch = Task { try await jetStream.fetchTasks(expires: .seconds(60)) }
            try await eventually(timeout: .seconds(30), "the fetch subscribed") {
                jetStream.client.subscriptionCount == 1
            }
            let cancelled = ContinuousClock.now
            fetch.cancel()
            await #expect(throws: CancellationError.self) { try await fetch.value }
            #expect(ContinuousClock.now - cancelled < .seconds(5))
            #expect(jetStream.client.subscriptionCount == 0)
        }
    }

    // MARK: The server

    @Test(
        "without JetStream on the server: account info says not enabled, publish finds no stream",
        .timeLimit(.minutes(2)))
    func jetStreamDisabled() async throws {
        try await Support.withServer(jetStream: false) { server in
            try await Support.withJetStream(server.url) { jetStream in
                let error = await #expect(throws: JetStreamError.self) { try await jetStream.accountInfo() }
                #expect(error == .notEnabled)
                #expect(error?.description.contains("JetStream is not enabled") == true)
                await #expect(throws: JetStreamError.noStreamForSubject) {
                    try await jetStream.publish("x", to: "tasks.a")
                }
                await #expect(throws: JetStreamError.notEnabled) {
                    try await jetStream.fetch(stream: "TASKS", consumer: "worker", noWait: true)
                }
            }
        }
    }

    @Test("account info with JetStream enabled", .timeLimit(.minutes(2)))
    func accountInfo() async throws {
        try await Support.withWorkQueue { jetStream in
            let info = try await jetStream.accountInfo()
            #expect(info.streams == 1)
            #expect(info.consumers == 1)
        }
    }

    @Test(
        "a server restart on the same port and store keeps the messages; the client reconnects and fetches",
        .timeLimit(.minutes(2)))
    func restartKeepsMessages() async throws {
        let directory = try TemporaryDirectory("jetstream-restart")
        let server = try await NATSServerProcess.start(jetStream: true, in: directory)
        do {
            let restarted = try await Support.withJetStream(server.url) { jetStream in
                try await jetStream.createStream(
                    StreamConfig(name: "TASKS", subjects: ["tasks.>"], retention: .workQueue, storage: .file))
                try await jetStream.createConsumer(
                    stream: "TASKS", ConsumerConfig(durableName: "worker", ackPolicy: .explicit))
                try await jetStream.publish("before 1", to: "tasks.a", messageID: "b1")
                try await jetStream.publish("before 2", to: "tasks.a", messageID: "b2")

                let restarted = try await server.restart()
                do {
                    // The same client: it notices, reconnects and JetStream answers again.
                    try await eventually(timeout: .seconds(20), "JetStream answering after the restart") {
                        (try? await jetStream.taskCount()) == 2
                    }
                    let messages = try await jetStream.fetchTasks(batch: 2)
                    #expect(messages.map(\.text) == ["before 1", "before 2"])
                    #expect(messages.map(\.messageID) == ["b1", "b2"])
                    for message in messages { try await message.ackSync() }
                    let after = try await jetStream.publish("after", to: "tasks.a", messageID: "a1")
                    #expect(after.sequence == 3)
                    try await eventually(timeout: .seconds(30), "only the new message left") {
                        try await jetStream.taskCount() == 1
                    }
                } catch {
                    await restarted.stop()
                    throw error
                }
                return restarted
            }
            await restarted.shutdown()
        } catch {
            await server.stop()
            directory.remove()
            throw error
        }
    }
}
