import ClaudeRunner
import ClaudeRunnerTesting
import ClaudeRunnerTransports
import Foundation
import Logging
import NATS
import NIOCore
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Durable issue tasks on JetStream with real processes only: one `nats-server -js`, several runner
/// binaries with the same edge id, the fake GitHub, a slow fake claude.
@Suite("durable issue tasks on JetStream", .serialized, .timeLimit(.minutes(5)))
struct JetStreamTaskTests {
    static let repo = "acme/widgets"
    static let edge = "edge-js"

    struct Cluster: Sendable {
        let nats: NATSServerProcess
        let github: FakeGitHub
        let git: GitFixture
        let runners: [(fixture: RunnerFixture, process: RunningProcess)]
        let root: TemporaryDirectory
        /// Each runner's HTTP port, when the cluster serves HTTP too.
        let httpPorts: [Int]

        /// Sends `run-issue` for issue `number` through NATS (any runner of the edge takes the request).
        func trigger(_ number: Int) async throws -> RunResult {
            let output = try await request(number)
            guard output.exit == .exited(0) else {
                throw Command.Failure(description: "run-issue \(number) failed: \(output.standardError)")
            }
            return RunResult(id: "", output: output.standardOutput)
        }

        /// The client's exit, output and error output for `run-issue` on issue `number`, whatever the answer.
        func request(_ number: Int) async throws -> Command.Output {
            try await Command.output(
                Binaries.client,
                [
                    "--transport", "nats", "--nats-url", nats.url, "--edge-id", JetStreamTaskTests.edge, "--event",
                    "issue", "--repo", git.remote, "--issue-number", "\(number)",
                ])
        }

        func finalComments(_ number: Int) async -> [String] {
            await github.comments(repo: JetStreamTaskTests.repo, number: number).filter {
                $0.hasPrefix("claude-runner finished this task.") || $0.hasPrefix("claude-runner failed to complete")
            }
        }

        var callCounts: [Int] { runners.map(\.fixture.claude.callCount) }

        func stop() async {
            for runner in runners { await runner.process.stop() }
        }
    }

    static func config(
        githubURL: String, name: String, work: String, ackWait: String = "5s", maxDeliver: Int = 3
    ) -> String {
        """
        workDir: \(work)
        github:
          baseURL: \(githubURL)
          token: ghp_jetstream_0123456789
        issue:
          progressInterval: 0
          requireChanges: false
        limits:
          maxConcurrentRuns: 1
        nats:
          jetstream: true
          ackWait: \(ackWait)
          maxDeliver: \(maxDeliver)
          runnerName: \(name)

        """
    }

    /// `count` runners on one JetStream server; each with its own config directory, workDir and fake claude.
    /// - Parameter prepare: Runs once the server, the fake GitHub and the repository are there, before the
    ///   first runner starts (to make the stream or the consumer as someone else would).
    func withCluster(
        runners count: Int, issues: [Int], claude: [String: String], ackWait: String = "5s", maxDeliver: Int = 3,
        http: Bool = false,
        prepare: (@Sendable (NATSServerProcess, FakeGitHub, GitFixture) async throws -> Void)? = nil,
        _ body: @escaping @Sendable (Cluster) async throws -> Void
    ) async throws {
        let nats = try await NATSServerProcess.start(jetStream: true)
        defer { Task { await nats.shutdown() } }
        let github = FakeGitHub()
        for number in issues {
            await github.setIssue(
                repo: Self.repo, number: number, body: IssueLabels.marker, labels: IssueLabels.required)
        }
        let root = try TemporaryDirectory("jetstream")
        defer { root.remove() }
        let git = try await GitFixture.make(in: root.appending("remotes"))
        try await github.serve { url in
            try await prepare?(nats, github, git)
            var runners: [(RunnerFixture, RunningProcess)] = []
            var ports: [Int] = []
            for index in 0..<count {
                let fixture = try RunnerFixture("js-\(index)", claudeBehaviour: claude)
                let path = try fixture.writeConfigFile(
                    Self.config(
                        githubURL: url, name: "runner-\(index)", work: fixture.directory.appending("work"),
                        ackWait: ackWait, maxDeliver: maxDeliver))
                try "\(Self.edge)\n".write(toFile: path + "/id", atomically: true, encoding: .utf8)
                var arguments = ["--path", path]
                if http {
                    let port = try freeLoopbackPort()
                    ports.append(port)
                    arguments += ["--http", "--http-addr", "127.0.0.1:\(port)"]
                }
                let process = RunningProcess(
                    Binaries.server, arguments,
                    environment: ["PATH": fixture.pathWithFakeClaude, "NATS_URL": nats.url, "GITHUB_TOKEN": nil])
                try await process.waitFor("taking durable issue tasks")
                runners.append((fixture, process))
            }
            let cluster = Cluster(
                nats: nats, github: github, git: git, runners: runners, root: root, httpPorts: ports)
            do {
                try await body(cluster)
            } catch {
                await cluster.stop()
                for runner in runners { runner.0.directory.remove() }
                throw error
            }
            await cluster.stop()
            for runner in runners { runner.0.directory.remove() }
        }
    }

    /// The stream's messages now (through our own JetStream client).
    func streamMessages(_ url: String) async throws -> UInt64 {
        try await NATSIntegrationTests.withClient(url) { client in
            try await JetStream(client: client).streamInfo(JetStreamTaskQueue.streamName).state.messages
        }
    }

    @Test("ten issue tasks over three runners: each run once, exactly one final comment each")
    func tenTasks() async throws {
        let issues = Array(1...10)
        try await withCluster(runners: 3, issues: issues, claude: ["DELAY": "1", "OUTPUT": "done"]) { cluster in
            for number in issues {
                let accepted = try await cluster.trigger(number)
                #expect(accepted.output.hasPrefix("Issue acme/widgets#\(number) accepted"))
            }
            try await eventually(timeout: .seconds(180), "ten final comments") {
                var total = 0
                for number in issues { total += await cluster.finalComments(number).count }
                return total >= 10
            }
            try await Task.sleep(for: .seconds(2))
            for number in issues {
                #expect(await cluster.finalComments(number).count == 1, "issue \(number)")
            }
            #expect(cluster.callCounts.reduce(0, +) == 10, "\(cluster.callCounts)")
            #expect(cluster.callCounts.filter { $0 > 0 }.count >= 2, "the tasks were not shared: \(cluster.callCounts)")
            #expect(try await streamMessages(cluster.nats.url) == 0)
        }
    }

    @Test("a runner killed mid-task: another runner runs it, one final comment, the tracking comment says it moved")
    func killedRunner() async throws {
        try await withCluster(runners: 2, issues: [21], claude: ["DELAY": "12", "OUTPUT": "done"]) { cluster in
            _ = try await cluster.trigger(21)
            // Whichever runner took it: kill it while Claude works.
            let busy = try await within(.seconds(60), "a runner taking the task") {
                while true {
                    if let index = cluster.runners.firstIndex(where: { $0.fixture.claude.wasCalled }) { return index }
                    try await Task.sleep(for: .milliseconds(100))
                }
            }
            let killedAt = ContinuousClock.now
            await cluster.runners[busy].process.signal(SIGKILL)
            if let pid = cluster.runners[busy].fixture.claude.processID { kill(-pid, SIGKILL) }
            try await eventually(timeout: .seconds(120), "the final comment") {
                await cluster.finalComments(21).count >= 1
            }
            try await Task.sleep(for: .seconds(2))
            #expect(await cluster.finalComments(21).count == 1)
            #expect(await cluster.finalComments(21).first?.hasPrefix("claude-runner finished this task.") == true)
            let other = 1 - busy
            #expect(cluster.runners[other].fixture.claude.callCount == 1)
            // About the ack wait (5 s) plus the run (12 s) after the kill.
            #expect(ContinuousClock.now - killedAt < .seconds(100))
            let claimID = try #require(await cluster.github.commentID(repo: Self.repo, number: 21, index: 0))
            let claim = try #require(await cluster.github.comment(id: claimID))
            #expect(claim.contains("This task moved to runner `runner-\(other)` (delivery 2 of 3)"), "\(claim)")
            #expect(try await streamMessages(cluster.nats.url) == 0)
        }
    }

    @Test(
        "a runner frozen beyond the ack wait: the task moves, and the thawed runner stops without a second final comment"
    )
    func frozenRunner() async throws {
        try await withCluster(runners: 2, issues: [22], claude: ["DELAY": "12", "OUTPUT": "done"]) { cluster in
            _ = try await cluster.trigger(22)
            let busy = try await within(.seconds(60), "a runner taking the task") {
                while true {
                    if let index = cluster.runners.firstIndex(where: { $0.fixture.claude.wasCalled }) { return index }
                    try await Task.sleep(for: .milliseconds(100))
                }
            }
            let other = 1 - busy
            // Frozen, it sends no acknowledgements (as when NATS is out of reach); its Claude goes on.
            await cluster.runners[busy].process.signal(SIGSTOP)
            do {
                try await eventually(timeout: .seconds(60), "the task redelivered to the other runner") {
                    cluster.runners[other].fixture.claude.wasCalled
                }
            } catch {
                await cluster.runners[busy].process.signal(SIGCONT)
                throw error
            }
            await cluster.runners[busy].process.signal(SIGCONT)
            try await cluster.runners[busy].process.waitFor("another runner has its task", timeout: .seconds(60))
            try await eventually(timeout: .seconds(120), "the final comment") {
                await cluster.finalComments(22).count >= 1
            }
            try await Task.sleep(for: .seconds(3))
            #expect(await cluster.finalComments(22).count == 1)
            #expect(await cluster.finalComments(22).first?.hasPrefix("claude-runner finished this task.") == true)
            let claimID = try #require(await cluster.github.commentID(repo: Self.repo, number: 22, index: 0))
            let claim = try #require(await cluster.github.comment(id: claimID))
            #expect(claim.contains("This task moved to runner `runner-\(other)` (delivery 2 of 3)"), "\(claim)")
            #expect(try await streamMessages(cluster.nats.url) == 0)
        }
    }

    @Test("run-issue over HTTP on a runner with JetStream on goes through the stream: queued, run once, acknowledged")
    func httpThroughStream() async throws {
        try await withCluster(runners: 2, issues: [23], claude: ["DELAY": "1", "OUTPUT": "done"], http: true) {
            cluster in
            let answer = try await LedgerAPITests.post(
                "http://127.0.0.1:\(cluster.httpPorts[0])/api/run-issue",
                #"{"repo": "\#(cluster.git.remote)", "issue_number": 23}"#, token: nil)
            #expect(answer.status == 200, "\(answer.body)")
            #expect(answer.body.contains("Issue acme/widgets#23 accepted"), "\(answer.body)")
            try await cluster.runners[0].process.waitFor("issue task queued")
            try await eventually(timeout: .seconds(120), "the final comment") {
                await cluster.finalComments(23).count >= 1
            }
            try await Task.sleep(for: .seconds(2))
            #expect(await cluster.finalComments(23).count == 1)
            #expect(cluster.callCounts.reduce(0, +) == 1, "\(cluster.callCounts)")
            #expect(try await streamMessages(cluster.nats.url) == 0)
        }
    }

    @Test("the NATS server restarted mid-task: the store keeps the task, the run goes on, one final comment")
    func natsRestart() async throws {
        try await withCluster(runners: 1, issues: [31], claude: ["DELAY": "10", "OUTPUT": "done"]) { cluster in
            _ = try await cluster.trigger(31)
            try await cluster.runners[0].fixture.claude.waitUntilStarted(timeout: .seconds(60))
            await cluster.nats.stop()
            try await Task.sleep(for: .seconds(2))
            let restarted = try await cluster.nats.restart()
            defer { Task { await restarted.shutdown() } }
            try await eventually(timeout: .seconds(120), "the final comment") {
                await cluster.finalComments(31).count >= 1
            }
            try await Task.sleep(for: .seconds(7))
            #expect(await cluster.finalComments(31).count == 1)
            #expect(cluster.runners[0].fixture.claude.callCount == 1)
            try await eventually(timeout: .seconds(30), "the stream empty") {
                (try? await streamMessages(restarted.url)) == 0
            }
        }
    }

    @Test("a task that fails: one failure comment, the message gone from the stream; a duplicate publish runs once")
    func failingAndDuplicate() async throws {
        try await withCluster(runners: 1, issues: [41], claude: ["EXIT": "1", "STDERR": "boom"], maxDeliver: 2) {
            cluster in
            _ = try await cluster.trigger(41)
            try await eventually(timeout: .seconds(60), "the failure comment") {
                await cluster.finalComments(41).count >= 1
            }
            try await Task.sleep(for: .seconds(7))
            #expect(await cluster.finalComments(41).count == 1)
            #expect(await cluster.finalComments(41).first?.contains("boom") == true)
            #expect(try await streamMessages(cluster.nats.url) == 0)

            // The same attempt published twice is stored once.
            try await NATSIntegrationTests.withClient(cluster.nats.url) { client in
                let jetStream = JetStream(client: client)
                let body = ByteBuffer(string: #"{"not":"a task"}"#)
                let first = try await jetStream.publish(
                    body, to: JetStreamTaskQueue.subject(edgeID: Self.edge), messageID: "dup-1")
                let second = try await jetStream.publish(
                    body, to: JetStreamTaskQueue.subject(edgeID: Self.edge), messageID: "dup-1")
                #expect(!first.duplicate)
                #expect(second.duplicate)
            }
            // ... and a message that is not a task is terminated, never redelivered for ever.
            try await cluster.runners[0].process.waitFor("a task message that is not a task was terminated")
            try await eventually(timeout: .seconds(30), "the stream empty") {
                (try? await streamMessages(cluster.nats.url)) == 0
            }
        }
    }

    @Test("start-up: no JetStream on the server, or a consumer made with other settings, fails with a clear message")
    func startupChecks() async throws {
        let plain = try await NATSServerProcess.start()
        defer { Task { await plain.shutdown() } }
        let fixture = try RunnerFixture("js-startup")
        defer { fixture.directory.remove() }
        let path = try fixture.writeConfigFile(
            Self.config(githubURL: "http://127.0.0.1:9", name: "r", work: fixture.directory.appending("work")))
        try "\(Self.edge)\n".write(toFile: path + "/id", atomically: true, encoding: .utf8)
        let noJetStream = try await Command.output(
            Binaries.server, ["--path", path], environment: ["PATH": fixture.pathWithFakeClaude, "NATS_URL": plain.url])
        #expect(noJetStream.exit == .exited(1))
        #expect(noJetStream.standardError.contains("the NATS server has no JetStream"), "\(noJetStream.standardError)")

        let js = try await NATSServerProcess.start(jetStream: true)
        defer { Task { await js.shutdown() } }
        try await NATSIntegrationTests.withClient(js.url) { client in
            let jetStream = JetStream(client: client)
            _ = try await jetStream.createStream(
                StreamConfig(
                    name: JetStreamTaskQueue.streamName, subjects: [JetStreamTaskQueue.streamSubjects],
                    retention: .workQueue, storage: .file))
            _ = try await jetStream.createConsumer(
                stream: JetStreamTaskQueue.streamName,
                ConsumerConfig(
                    durableName: JetStreamTaskQueue.consumerName(edgeID: Self.edge), ackPolicy: .explicit,
                    ackWait: .seconds(30), maxDeliver: 3, filterSubject: JetStreamTaskQueue.subject(edgeID: Self.edge)))
        }
        let mismatch = try await Command.output(
            Binaries.server, ["--path", path], environment: ["PATH": fixture.pathWithFakeClaude, "NATS_URL": js.url])
        #expect(mismatch.exit == .exited(1))
        #expect(mismatch.standardError.contains("exists with ack_wait"), "\(mismatch.standardError)")
        #expect(mismatch.standardError.contains("nats.ackWait"))
    }
}
