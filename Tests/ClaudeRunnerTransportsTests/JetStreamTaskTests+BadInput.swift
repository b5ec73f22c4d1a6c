import ClaudeRunner
import ClaudeRunnerTesting
import ClaudeRunnerTransports
import Foundation
import NATS
import NIOCore
import Testing

/// The issue's "Bad input" for durable tasks: a full stream, messages that are not tasks or name a repo that
/// fails validation, a stream someone made with settings that lose tasks, and a redelivery of an attempt
/// that was already reported. Members of ``JetStreamTaskTests``, so they run one at a time with its tests.
extension JetStreamTaskTests {
    /// The stream as claude-runner makes it, with a message limit and `discard new`, as an operator might.
    static func limitedStream(maxMessages: Int64? = nil, maxBytes: Int64? = nil) -> StreamConfig {
        StreamConfig(
            name: JetStreamTaskQueue.streamName, subjects: [JetStreamTaskQueue.streamSubjects],
            retention: .workQueue, storage: .file, maxMessages: maxMessages, maxBytes: maxBytes, discard: .new,
            duplicateWindow: .seconds(120))
    }

    static func occurrences(of text: String, in log: String) -> Int {
        log.components(separatedBy: text).count - 1
    }

    @Test("a full stream: the answer is 503 naming the limit and nothing is claimed; a task that no longer fits")
    func streamFull() async throws {
        try await withCluster(
            runners: 1, issues: [51, 52], claude: ["DELAY": "8", "OUTPUT": "done"],
            prepare: { nats, _, _ in
                try await NATSIntegrationTests.withClient(nats.url) { client in
                    _ = try await JetStream(client: client).createStream(Self.limitedStream(maxMessages: 1))
                }
            }
        ) { cluster in
            _ = try await cluster.trigger(51)
            // Task 51 holds the stream's only place until its final comment is posted.
            let refused = try await cluster.request(52)
            #expect(refused.exit != .exited(0))
            #expect(refused.standardError.contains("service error 503"), "\(refused.standardError)")
            #expect(
                refused.standardError.contains(
                    "the task stream CLAUDE_RUNNER_TASKS is full: 1 of at most 1 messages (max_msgs); "
                        + "nothing was claimed, retry later"), "\(refused.standardError)")
            #expect(await cluster.github.labels(repo: Self.repo, number: 52) == IssueLabels.required)
            #expect(await cluster.github.comments(repo: Self.repo, number: 52).isEmpty)
            #expect(await cluster.github.writes.filter { $0.path.contains("/issues/52") }.isEmpty)

            try await eventually(timeout: .seconds(60), "task 51's final comment") {
                await cluster.finalComments(51).count == 1
            }
            try await eventually(timeout: .seconds(30), "the stream empty") {
                (try? await streamMessages(cluster.nats.url)) == 0
            }
            // Room for messages, but not for this one: the stream refuses it only after the claim, and the
            // claim is reported failed on the issue instead of leaving it claimed with nothing running.
            try await NATSIntegrationTests.withClient(cluster.nats.url) { client in
                _ = try await JetStream(client: client).updateStream(Self.limitedStream(maxBytes: 200))
            }
            let tooBig = try await cluster.request(52)
            #expect(tooBig.exit != .exited(0))
            #expect(tooBig.standardError.contains("service error 503"), "\(tooBig.standardError)")
            #expect(
                tooBig.standardError.contains(
                    "queue the task: the task stream CLAUDE_RUNNER_TASKS is full (maximum bytes exceeded); "
                        + "the claim was reported failed on the issue"), "\(tooBig.standardError)")
            #expect(await cluster.github.labels(repo: Self.repo, number: 52).contains(IssueLabels.failed))
            let comments = await cluster.github.comments(repo: Self.repo, number: 52)
            #expect(comments.last?.hasPrefix("claude-runner could not claim this issue") == true, "\(comments)")
            #expect(comments.last?.contains("maximum bytes exceeded") == true)
            #expect(cluster.callCounts == [1])
            #expect(try await streamMessages(cluster.nats.url) == 0)
        }
    }

    @Test("messages that are not tasks or name a bad repo or run id: terminated with a log line, never redelivered")
    func invalidTasks() async throws {
        try await withCluster(runners: 1, issues: [61], claude: ["OUTPUT": "done"]) { cluster in
            let issue = GitHubIssue(
                number: 61, title: "Add a feature", body: IssueLabels.marker, state: "open", htmlURL: nil,
                labels: IssueLabels.required.map(GitHubIssue.Label.init(name:)))
            func task(repo: String, attemptID: String) throws -> ByteBuffer {
                let message = IssueTaskMessage(
                    request: RunIssueRequest(repo: repo, issueNumber: 61), attemptID: attemptID,
                    claimCommentID: nil, model: nil, modelLabel: nil, issue: issue, transport: .nats,
                    acceptedBy: "someone-else", acceptedAt: "2026-01-01T00:00:00Z")
                return ByteBuffer(data: try JSONEncoder().encode(message))
            }
            let messages = [
                ("bad-json", ByteBuffer(string: "{not json")),
                ("bad-repo", try task(repo: "ext::sh -c touch% /tmp/pwned", attemptID: ULID().description)),
                ("bad-run-id", try task(repo: cluster.git.remote, attemptID: "not-a-run-id")),
            ]
            try await NATSIntegrationTests.withClient(cluster.nats.url) { client in
                let jetStream = JetStream(client: client)
                for (id, body) in messages {
                    _ = try await jetStream.publish(
                        body, to: JetStreamTaskQueue.subject(edgeID: Self.edge), messageID: id)
                }
            }
            let process = cluster.runners[0].process
            try await eventually(timeout: .seconds(30), "three terminated messages") {
                let log = await process.standardError
                return Self.occurrences(of: "a task message that is not a task was terminated", in: log) == 1
                    && Self.occurrences(of: "an invalid task was terminated", in: log) == 2
            }
            // Longer than the ack wait (5 s): a message that was not terminated would come back by now.
            try await Task.sleep(for: .seconds(7))
            let log = await process.standardError
            #expect(Self.occurrences(of: "a task message that is not a task was terminated", in: log) == 1)
            #expect(Self.occurrences(of: "an invalid task was terminated", in: log) == 2)
            #expect(log.contains("protocol ext not allowed"), "\(log)")
            #expect(log.contains("the attempt id is not a run id"))
            #expect(try await streamMessages(cluster.nats.url) == 0)
            #expect(cluster.callCounts == [0])
            #expect(await cluster.github.writes.isEmpty)
            #expect(!FileManager.default.fileExists(atPath: "/tmp/pwned"))
        }
    }

    @Test("a redelivered attempt whose final comment is already posted is only acknowledged: nothing runs again")
    func alreadyReported() async throws {
        let attemptID = ULID().description
        let finalComment = "claude-runner finished this task.\n\n- Run ID: `\(attemptID)`\n\ndone"
        try await withCluster(
            runners: 1, issues: [71], claude: ["OUTPUT": "done"],
            prepare: { nats, github, git in
                // The runner that had the attempt posted its final comment, then died before acknowledging.
                await github.addComment(repo: Self.repo, number: 71, body: finalComment, login: "claude-runner-bot")
                let issue = GitHubIssue(
                    number: 71, title: "Add a feature", body: IssueLabels.marker, state: "open", htmlURL: nil,
                    labels: [])
                let message = IssueTaskMessage(
                    request: RunIssueRequest(repo: git.remote, issueNumber: 71), attemptID: attemptID,
                    claimCommentID: nil, model: nil, modelLabel: nil, issue: issue, transport: .nats,
                    acceptedBy: "runner-gone", acceptedAt: "2026-01-01T00:00:00Z")
                try await NATSIntegrationTests.withClient(nats.url) { client in
                    let jetStream = JetStream(client: client)
                    _ = try await jetStream.createStream(Self.limitedStream())
                    _ = try await jetStream.createConsumer(
                        stream: JetStreamTaskQueue.streamName,
                        ConsumerConfig(
                            durableName: JetStreamTaskQueue.consumerName(edgeID: Self.edge), deliverPolicy: .all,
                            ackPolicy: .explicit, ackWait: .seconds(5), maxDeliver: 3,
                            filterSubject: JetStreamTaskQueue.subject(edgeID: Self.edge), maxAckPending: 1000))
                    _ = try await jetStream.publish(
                        ByteBuffer(data: try JSONEncoder().encode(message)),
                        to: JetStreamTaskQueue.subject(edgeID: Self.edge), messageID: attemptID)
                    // The first delivery, never acknowledged: the next one goes to the runner after the ack wait.
                    let delivered = try await jetStream.fetch(
                        stream: JetStreamTaskQueue.streamName,
                        consumer: JetStreamTaskQueue.consumerName(edgeID: Self.edge), batch: 1, expires: .seconds(5))
                    #expect(delivered.count == 1)
                }
            }
        ) { cluster in
            try await cluster.runners[0].process.waitFor(
                "redelivered task was already reported; acknowledging it", timeout: .seconds(30))
            try await eventually(timeout: .seconds(30), "the stream empty") {
                (try? await streamMessages(cluster.nats.url)) == 0
            }
            #expect(cluster.callCounts == [0])
            #expect(await cluster.github.comments(repo: Self.repo, number: 71) == [finalComment])
            #expect(await cluster.github.writes.isEmpty)
        }
    }

    @Test("start-up: a stream that would drop tasks, or is not a work queue, fails with a message naming it")
    func startupStreamChecks() async throws {
        let js = try await NATSServerProcess.start(jetStream: true)
        defer { Task { await js.shutdown() } }
        let fixture = try RunnerFixture("js-stream-check")
        defer { fixture.directory.remove() }
        let path = try fixture.writeConfigFile(
            Self.config(githubURL: "http://127.0.0.1:9", name: "r", work: fixture.directory.appending("work")))
        try "\(Self.edge)\n".write(toFile: path + "/id", atomically: true, encoding: .utf8)
        let cases: [(StreamConfig, [String])] = [
            (
                StreamConfig(
                    name: JetStreamTaskQueue.streamName, subjects: [JetStreamTaskQueue.streamSubjects],
                    retention: .workQueue, maxMessages: 100, discard: .old),
                ["exists with max_msgs 100 and discard old, which drops tasks nobody has run", "set discard new"]
            ),
            (
                StreamConfig(
                    name: JetStreamTaskQueue.streamName, subjects: [JetStreamTaskQueue.streamSubjects],
                    retention: .workQueue, maxAge: .seconds(3600), discard: .new),
                ["exists with max_age", "remove the age limit"]
            ),
            (
                StreamConfig(
                    name: JetStreamTaskQueue.streamName, subjects: [JetStreamTaskQueue.streamSubjects],
                    retention: .limits),
                ["exists with retention limits, but claude-runner needs workqueue"]
            ),
        ]
        for (stream, expected) in cases {
            try await NATSIntegrationTests.withClient(js.url) { client in
                let jetStream = JetStream(client: client)
                try? await jetStream.deleteStream(JetStreamTaskQueue.streamName)
                _ = try await jetStream.createStream(stream)
            }
            let output = try await Command.output(
                Binaries.server, ["--path", path],
                environment: ["PATH": fixture.pathWithFakeClaude, "NATS_URL": js.url])
            #expect(output.exit == .exited(1))
            for text in expected {
                #expect(output.standardError.contains(text), "\(output.standardError)")
            }
        }
    }
}
