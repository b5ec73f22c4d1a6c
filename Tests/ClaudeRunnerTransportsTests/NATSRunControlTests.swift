import ClaudeRunner
import ClaudeRunnerClient
import ClaudeRunnerTesting
import ClaudeRunnerTransports
import Foundation
import Logging
import NATS
import NIOCore
import NIOFoundationCompat
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The run-control endpoints (`runs.list`, `runs.get`, `runs.cancel`, `runs.usage`, `runs.events`) of an
/// in-process runner with a ledger, against a real `nats-server`, through the client library and raw requests.
@Suite("run control over NATS", .timeLimit(.minutes(5)))
struct NATSRunControlTests {
    static let edge = "edge-rc"
    static func subject(_ name: String) -> String { "edges.\(edge).claude-runner.\(name)" }

    /// A runner named `name` with its ledger, serving NATS on `natsURL` while `body` runs.
    static func withRunner<T: Sendable>(
        _ fixture: RunnerFixture, natsURL: String, name: String = "runner-a",
        _ body: @escaping @Sendable (RunnerService) async throws -> T
    ) async throws -> T {
        try await NATSIntegrationTests.withRunner(fixture, natsURL: natsURL, edge: edge, ledgerRunnerName: name, body)
    }

    /// A client that gathers list and usage answers for longer than the default second: the machine may be busy.
    static func client(_ url: String) -> NATSRunnerClient {
        var client = NATSRunnerClient(
            url: url, credentialsFile: nil, edgeID: edge, timeout: .seconds(60), connectTimeout: .seconds(30))
        client.gatherWindow = .seconds(3)
        return client
    }

    /// ``client(_:)`` for runs that exist: the runner that has the run gets longer than the default 2 s to
    /// answer (on a loaded machine it can take that long); only a run that is not found costs the wait.
    static func patientClient(_ url: String) -> NATSRunnerClient {
        var client = client(url)
        client.findTimeout = .seconds(15)
        return client
    }

    /// `body` (a list or usage request), asked again while no runner answers within the gather window: with
    /// the whole suite on two cores the one runner can miss a window. Any other failure is thrown at once.
    static func gathered<T>(_ body: () async throws -> T) async throws -> T {
        let deadline = ContinuousClock.now + .seconds(45)
        while true {
            do {
                return try await body()
            } catch let failure as RunControlFailure
                where failure.description.hasPrefix("no runner of edge ") && ContinuousClock.now < deadline
            {
                continue
            }
        }
    }

    /// The replies to one request (the endpoints are in no queue group): up to 30 s for the first `expecting`
    /// of them (a liveness bound: the machine may be busy with the whole suite), then every other reply that
    /// arrives within `settle` after that.
    /// - Parameter subject: The full subject, when it is not `runs.<name>` of this suite's edge.
    static func replies(
        _ client: NATSClient, _ name: String, _ body: String, headers: NATSHeaders? = nil, subject: String? = nil,
        expecting: Int = 1, settle: Duration = .seconds(2)
    ) async throws -> [NATSMessage] {
        let inbox = NATSClient.newInbox()
        let subscription = try client.subscribe(to: inbox)
        try client.publish(
            ByteBuffer(string: body), to: subject ?? Self.subject(name), replyTo: inbox, headers: headers)
        let started = ContinuousClock.now
        // When the expected replies were all in (`started` when none is expected).
        final class Completion: Sendable { let at = Mutex<ContinuousClock.Instant?>(nil) }
        let complete = Completion()
        if expecting == 0 { complete.at.withLock { $0 = started } }
        return await withTaskGroup(of: [NATSMessage]?.self) { group in
            group.addTask {
                while true {
                    let now = ContinuousClock.now
                    if let done = complete.at.withLock({ $0 }), now >= done + settle { break }
                    if now >= started + .seconds(30) { break }
                    try? await Task.sleep(for: .milliseconds(50))
                }
                subscription.unsubscribe()
                return nil
            }
            group.addTask {
                var replies: [NATSMessage] = []
                for await message in subscription {
                    replies.append(message)
                    if replies.count == expecting { complete.at.withLock { $0 = .now } }
                }
                return replies
            }
            var collected: [NATSMessage] = []
            for await replies in group { if let replies { collected = replies } }
            return collected
        }
    }

    static func json(_ message: NATSMessage) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(buffer: message.payload)) as? [String: Any])
    }

    static func code(_ message: NATSMessage) -> String? { message.headers?["Nats-Service-Error-Code"] }
    static func error(_ message: NATSMessage) -> String? { message.headers?["Nats-Service-Error"] }

    @Test("list with filters and limit, get, usage; an unknown id gets no reply (run not found); bad bodies are 400")
    func listGetUsage() async throws {
        let server = try await NATSServerProcess.start()
        defer { Task { await server.shutdown() } }
        let fixture = try RunnerFixture("rc-list", claudeBehaviour: ["STREAM_JSON": "1", "OUTPUT": "listed"])
        defer { fixture.directory.remove() }
        try await Self.withRunner(fixture, natsURL: server.url) { _ in
            let runs = Self.client(server.url)
            var ids: [String] = []
            for index in 0..<3 {
                ids.append(try await runs.send(.run(RunRequest(prompt: "prompt \(index)"))).id)
            }

            let all = try await Self.gathered { try await runs.listRuns(try RunQuery()) }
            #expect(all.runs.map(\.id) == ids.reversed())
            #expect(all.runs.allSatisfy { $0.runner == "runner-a" && $0.status == .completed && $0.transport == .nats })
            #expect(all.warnings.isEmpty)
            let two = try await Self.gathered { try await runs.listRuns(try RunQuery(limit: 2)) }
            #expect(two.runs.map(\.id) == Array(ids.reversed().prefix(2)))
            #expect(try await Self.gathered { try await runs.listRuns(try RunQuery(status: .failed)) }.runs.isEmpty)
            let before = try await Self.gathered { try await runs.listRuns(try RunQuery(kind: .run, before: ids[2])) }
            #expect(before.runs.map(\.id) == [ids[1], ids[0]])

            let record = try await runs.runRecord(ids[1])
            #expect(record.id == ids[1])
            #expect(record.status == .completed)
            #expect(record.costUSD == 0.01)
            #expect(record.runner == "runner-a")

            let summary = try await Self.gathered { try await runs.usage(try UsageQuery(parameters: ["by": "kind"])) }
            #expect(summary.report.by == .kind)
            #expect(summary.report.total.runs == 3)
            #expect(abs(summary.report.total.costUSD - 0.03) < 1e-9)
            #expect(summary.runners == ["runner-a"])

            let unknown = ULID().description
            let started = ContinuousClock.now
            let notFound = try await #require(throws: RunControlFailure.self) { try await runs.runRecord(unknown) }
            #expect(notFound.description == "run not found: \(unknown)")
            #expect(ContinuousClock.now - started >= .seconds(2), "reported before the 2 s wait was over")

            try await NATSIntegrationTests.withClient(server.url) { client in
                // Scatter-gather replies name the runner, and so does each record.
                let list = try #require(try await Self.replies(client, "runs.list", "").first)
                let listJSON = try Self.json(list)
                #expect(listJSON["runner"] as? String == "runner-a")
                let records = try #require(listJSON["runs"] as? [[String: Any]])
                #expect(records.count == 3)
                #expect(records.allSatisfy { $0["runner"] as? String == "runner-a" })
                let usage = try #require(try await Self.replies(client, "runs.usage", #"{"since":"7d"}"#).first)
                let usageJSON = try Self.json(usage)
                #expect(usageJSON["runner"] as? String == "runner-a")
                #expect((usageJSON["total"] as? [String: Any])?["runs"] as? Int == 3)

                // Only the runner that has a run answers: nobody has this one.
                #expect(try await Self.replies(client, "runs.get", #"{"id":"\#(unknown)"}"#, expecting: 0).isEmpty)
                #expect(try await Self.replies(client, "runs.cancel", #"{"id":"\#(unknown)"}"#, expecting: 0).isEmpty)

                let badLimit = try #require(try await Self.replies(client, "runs.list", #"{"limit":0}"#).first)
                #expect(Self.code(badLimit) == "400")
                #expect(Self.error(badLimit) == #"invalid limit "0": must be between 1 and 500"#)
                let badStatus = try #require(try await Self.replies(client, "runs.list", #"{"status":"gone"}"#).first)
                #expect(Self.code(badStatus) == "400")
                #expect(Self.error(badStatus)?.hasPrefix(#"invalid status "gone": must be one of"#) == true)
                let badBy = try #require(try await Self.replies(client, "runs.usage", #"{"by":"colour"}"#).first)
                #expect(Self.code(badBy) == "400")
                let badID = try #require(try await Self.replies(client, "runs.get", #"{"id":"nope"}"#).first)
                #expect(Self.code(badID) == "400")
                #expect(Self.error(badID)?.hasPrefix(#"invalid run id "nope""#) == true)
                let noID = try #require(try await Self.replies(client, "runs.cancel", "{}").first)
                #expect(Self.code(noID) == "400")
                #expect(Self.error(noID) == #"field "id" is required"#)
                let array = try #require(try await Self.replies(client, "runs.get", "[1]").first)
                #expect(Self.code(array) == "400")
                #expect(Self.error(array) == "request body must be a JSON object")
            }
        }
        await server.shutdown()
    }

    @Test("$SRV.INFO lists the run-control endpoints without a queue group, the run endpoints in q")
    func discovery() async throws {
        let server = try await NATSServerProcess.start()
        defer { Task { await server.shutdown() } }
        let fixture = try RunnerFixture("rc-info")
        defer { fixture.directory.remove() }
        try await Self.withRunner(fixture, natsURL: server.url) { _ in
            try await NATSIntegrationTests.withClient(server.url) { client in
                let info = try await client.request(ByteBuffer(), to: "$SRV.INFO.claude-runner", timeout: .seconds(30))
                let endpoints = try #require(try Self.json(info)["endpoints"] as? [[String: Any]])
                var groups: [String: String] = [:]
                for endpoint in endpoints {
                    let subject = try #require(endpoint["subject"] as? String)
                    groups[subject] = endpoint["queue_group"] as? String ?? "none"
                }
                #expect(
                    groups == [
                        Self.subject("run"): "q", Self.subject("run-issue"): "q", Self.subject("cleanup-issue"): "q",
                        Self.subject("runs.list"): "none", Self.subject("runs.get"): "none",
                        Self.subject("runs.cancel"): "none", Self.subject("runs.usage"): "none",
                        Self.subject("runs.events"): "none",
                    ])
                #expect(endpoints.allSatisfy { ($0["name"] as? String)?.contains(".") == false })
            }
        }
        await server.shutdown()
    }

    @Test("cancel a running run: a cancelling reply, the run ends cancelled and its claude is gone; again: 409")
    func cancelRunning() async throws {
        let server = try await NATSServerProcess.start()
        defer { Task { await server.shutdown() } }
        let fixture = try RunnerFixture("rc-cancel", claudeBehaviour: ["OUTPUT": "never", "DELAY": "60"])
        defer { fixture.directory.remove() }
        try await Self.withRunner(fixture, natsURL: server.url) { runner in
            let runs = Self.patientClient(server.url)
            let run = Task { try await runs.send(.run(RunRequest(prompt: "slow"))) }
            try await fixture.claude.waitUntilStarted()
            let claude = try #require(fixture.claude.processID)
            let running = try await Self.gathered { try await runs.listRuns(try RunQuery(status: .running)) }.runs
            let id = try #require(running.first?.id)
            #expect(running.count == 1)

            try await NATSIntegrationTests.withClient(server.url) { client in
                let replies = try await Self.replies(client, "runs.cancel", #"{"id":"\#(id)"}"#)
                #expect(replies.count == 1)
                let reply = try #require(replies.first)
                #expect(Self.code(reply) == nil)
                let json = try Self.json(reply)
                #expect(json["id"] as? String == id)
                #expect(json["status"] as? String == "cancelling")
                #expect(json["runner"] as? String == "runner-a")
            }
            let result = try await within(.seconds(30), "the cancelled run's Result") { try await run.value }
            // Claude printed no events (plain-text mode): the Result has no status, its error says why.
            #expect(result.error?.hasPrefix("cancelled") == true, "\(result)")
            try await eventually(timeout: .seconds(30), "the cancelled run's claude to be gone") {
                !processIsAlive(claude)
            }
            try await eventually(timeout: .seconds(30), "the run to leave the active runs") {
                runner.activeRuns[id] == nil
            }
            #expect(try await runs.runRecord(id).status == .cancelled)

            let again = try await #require(throws: RunControlFailure.self) { try await runs.cancelRun(id) }
            #expect(again.description == "run \(id) has already ended: cancelled")
            try await NATSIntegrationTests.withClient(server.url) { client in
                let conflict = try #require(try await Self.replies(client, "runs.cancel", #"{"id":"\#(id)"}"#).first)
                #expect(Self.code(conflict) == "409")
            }
        }
        await server.shutdown()
    }

    @Test("a caller that has not seen its run's id yet cancels it by its progress subject")
    func cancelByProgressSubject() async throws {
        let server = try await NATSServerProcess.start()
        defer { Task { await server.shutdown() } }
        let fixture = try RunnerFixture("rc-cancel-inbox", claudeBehaviour: ["OUTPUT": "never", "DELAY": "60"])
        defer { fixture.directory.remove() }
        try await Self.withRunner(fixture, natsURL: server.url) { runner in
            try await NATSIntegrationTests.withClient(server.url) { client in
                let progress = NATSClient.newInbox()
                let replyInbox = NATSClient.newInbox()
                let reply = try client.subscribe(to: replyInbox)
                try client.publish(
                    ByteBuffer(string: #"{"prompt":"slow"}"#), to: Self.subject("run"), replyTo: replyInbox,
                    headers: ["Claude-Runner-Progress": progress])
                try await fixture.claude.waitUntilStarted()
                let claude = try #require(fixture.claude.processID)

                // Another subject names no run of this runner: no reply.
                #expect(
                    try await Self.replies(
                        client, "runs.cancel", #"{"progress":"\#(NATSClient.newInbox())"}"#, expecting: 0
                    ).isEmpty)
                let cancelled = try #require(
                    try await Self.replies(client, "runs.cancel", #"{"progress":"\#(progress)"}"#).first)
                let id = try #require(try Self.json(cancelled)["id"] as? String)
                #expect(ULID.isValid(id))

                let result: RunResult? = try await within(.seconds(30), "the cancelled run's reply") {
                    for await message in reply {
                        return try JSONDecoder().decode(RunResult.self, from: Data(buffer: message.payload))
                    }
                    return nil
                }
                #expect(result?.id == id)
                #expect(result?.error?.hasPrefix("cancelled") == true, "\(String(describing: result))")
                try await eventually(timeout: .seconds(30), "the cancelled run's claude to be gone") {
                    !processIsAlive(claude)
                }
                try await eventually(timeout: .seconds(30), "the run to end") { runner.activeRuns[id] == nil }
                #expect(try await runner.runRecord(id).status == .cancelled)
            }
        }
        await server.shutdown()
    }

    @Test("events: a live run followed to its end, then the same from the transcript; the progress header is required")
    func events() async throws {
        let server = try await NATSServerProcess.start()
        defer { Task { await server.shutdown() } }
        // Claude holds its events until the test has found the run in the list, however long that takes.
        let release = NSTemporaryDirectory() + "claude-runner-events-release-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: release) }
        let fixture = try ProgressTests.fixture(lineDelay: "0.4", extra: ["RELEASE_FILE": release])
        defer { fixture.directory.remove() }
        try await Self.withRunner(fixture, natsURL: server.url) { _ in
            let runs = Self.patientClient(server.url)
            let run = Task { try await runs.send(.run(RunRequest(prompt: "run the tests"))) }
            try await fixture.claude.waitUntilStarted()
            // Claude waits for the release file: the run is listed as running for as long as this takes.
            let listed = Mutex<String?>(nil)
            try await eventually(timeout: .seconds(60), "the run listed as running") {
                let id = try? await runs.listRuns(try RunQuery(status: .running)).runs.first?.id
                listed.withLock { $0 = id }
                return id != nil
            }
            let id = try #require(listed.withLock { $0 })

            let live = Collected()
            let following = Task {
                try await within(.seconds(60), "following the live run") {
                    try await runs.runEvents(id, follow: true) { live.append($0) }
                }
            }
            try await Task.sleep(for: .milliseconds(300))
            FileManager.default.createFile(atPath: release, contents: nil)
            try await following.value
            let expected = ["started", "tool", "tool", "denied", "text", "result"]
            #expect(live.events.map(\.type) == expected)
            #expect(live.events.allSatisfy { $0.runID == id })
            guard case .result(let result) = live.events.last?.payload else {
                Issue.record("the last event is not the result")
                return
            }
            #expect(result.output == "All tests pass.")
            #expect(try await run.value.id == id)

            let recorded = Collected()
            try await runs.runEvents(id, follow: false) { recorded.append($0) }
            #expect(recorded.events.map(\.type) == expected)
            // Following a run that has ended gives the transcript and ends too.
            let followedAfter = Collected()
            try await runs.runEvents(id, follow: true) { followedAfter.append($0) }
            #expect(followedAfter.events.map(\.type) == expected)

            try await NATSIntegrationTests.withClient(server.url) { client in
                let body = #"{"id":"\#(id)"}"#
                let missing = try #require(try await Self.replies(client, "runs.events", body).first)
                #expect(Self.code(missing) == "400")
                #expect(Self.error(missing)?.contains("Claude-Runner-Progress header is required") == true)
                let elsewhere = try #require(
                    try await Self.replies(
                        client, "runs.events", body, headers: ["Claude-Runner-Progress": "edges.other.subject"]
                    ).first)
                #expect(Self.code(elsewhere) == "400")
                #expect(Self.error(elsewhere)?.contains("must start with _INBOX.") == true)

                // The reply, once the events are out, is the run's record.
                let inbox = NATSClient.newInbox()
                let events = try client.subscribe(to: inbox)
                let reply = try #require(
                    try await Self.replies(client, "runs.events", body, headers: ["Claude-Runner-Progress": inbox])
                        .first)
                #expect(try Self.json(reply)["status"] as? String == "completed")
                events.unsubscribe()
                var count = 0
                for await _ in events { count += 1 }
                #expect(count == expected.count)
            }
        }
        await server.shutdown()
    }

    @Test("events without follow of a run in progress: the events so far, at once")
    func eventsSoFar() async throws {
        let server = try await NATSServerProcess.start()
        defer { Task { await server.shutdown() } }
        // Claude prints its init and first tool call, then works on without printing anything.
        let file = NSTemporaryDirectory() + "claude-runner-rc-early-\(getpid()).jsonl"
        try Array(ProgressTests.session.prefix(2)).joined(separator: "\n").write(
            toFile: file, atomically: true, encoding: .utf8)
        let fixture = try RunnerFixture("rc-so-far", claudeBehaviour: ["EVENTS_FILE": file, "HANG_AFTER": "60"])
        defer { fixture.directory.remove() }
        try await Self.withRunner(fixture, natsURL: server.url) { runner in
            let runs = Self.patientClient(server.url)
            let run = Task { try await runs.send(.run(RunRequest(prompt: "hang"))) }
            try await fixture.claude.waitUntilStarted()
            let id = try #require(
                try await Self.gathered { try await runs.listRuns(try RunQuery(status: .running)) }.runs.first?.id)
            try await eventually(timeout: .seconds(30), "the tool event") {
                runner.activeRuns[id]?.progress.eventsSoFar.count == 2
            }
            let soFar = Collected()
            try await within(.seconds(20), "the events so far") {
                try await runs.runEvents(id, follow: false) { soFar.append($0) }
            }
            #expect(soFar.events.map(\.type) == ["started", "tool"])
            #expect(runner.activeRuns[id] != nil, "the run ended before the events so far were read")
            try await runs.cancelRun(id)
            #expect(try await run.value.status == "cancelled")
        }
        await server.shutdown()
    }

    @Test("a runner with the ledger off answers list with 404 saying so; a client that times out cancels its run")
    func ledgerOffAndTimeout() async throws {
        let server = try await NATSServerProcess.start()
        defer { Task { await server.shutdown() } }
        var ledgerOff = try RunnerFixture("rc-off", claudeBehaviour: ["OUTPUT": "never", "DELAY": "60"])
        ledgerOff.config.ledger.enabled = false
        let fixture = ledgerOff
        defer { fixture.directory.remove() }
        try await Self.withRunner(fixture, natsURL: server.url) { runner in
            let runs = Self.client(server.url)
            let off = try await #require(throws: RunControlFailure.self) {
                try await Self.gathered { try await runs.listRuns(try RunQuery()) }
            }
            #expect(off.description == "the run ledger is off on this runner (ledger.enabled: false)")
            try await NATSIntegrationTests.withClient(server.url) { client in
                let reply = try #require(try await Self.replies(client, "runs.usage", "").first)
                #expect(Self.code(reply) == "404")
                let get = try #require(
                    try await Self.replies(client, "runs.get", #"{"id":"\#(ULID().description)"}"#).first)
                #expect(Self.code(get) == "404")
            }

            var impatient = runs
            // Long enough for the run to have started on a loaded machine, so that the cancel finds it.
            impatient.timeout = .seconds(8)
            let failure = try await #require(throws: NATSRunnerClient.Failure.self) {
                try await impatient.send(.run(RunRequest(prompt: "slow")))
            }
            #expect(failure.description.hasPrefix("request: no reply within 8s; run "), "\(failure)")
            #expect(failure.description.hasSuffix(" cancelled"), "\(failure)")
            let claude = try #require(fixture.claude.processID)
            try await eventually(timeout: .seconds(30), "the abandoned run's claude to be gone") {
                !processIsAlive(claude)
            }
            try await eventually(timeout: .seconds(30), "the abandoned run to end") { runner.activeRuns.all.isEmpty }
        }
        await server.shutdown()
    }
}

/// Events a callback received.
final class Collected: Sendable {
    private let list = Mutex<[RunEvent]>([])
    func append(_ event: RunEvent) { list.withLock { $0.append(event) } }
    var events: [RunEvent] { list.withLock { $0 } }
}
