import ClaudeRunner
import ClaudeRunnerTesting
import Foundation
import NATS
import NIOCore
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `claude-runner-client runs|show|logs|cancel|usage` against the real `claude-runner` binary, over HTTP and
/// over NATS with two runners on one edge; and the run form cancelling its NATS run when it is interrupted.
@Suite("run control with the binaries", .timeLimit(.minutes(6)))
struct RunControlBinaryTests {
    struct RunList: Decodable { var runs: [RunRecord] }

    /// A config directory for a NATS runner named `name` on `edge`.
    static func natsConfig(_ fixture: RunnerFixture, edge: String, name: String) throws -> String {
        let path = try fixture.writeConfigFile(
            "workDir: \(fixture.directory.appending("work"))\nnats:\n  runnerName: \(name)\n")
        try "\(edge)\n".write(toFile: path + "/id", atomically: true, encoding: .utf8)
        return path
    }

    static func startRunner(
        _ fixture: RunnerFixture, nats: String, edge: String, name: String
    ) async throws
        -> RunningProcess
    {
        let path = try natsConfig(fixture, edge: edge, name: name)
        let process = RunningProcess(
            Binaries.server, ["--path", path, "--nats", nats], environment: ["PATH": fixture.pathWithFakeClaude])
        try await process.waitFor("NATS service registered")
        return process
    }

    static func client(_ arguments: [String], environment: [String: String?] = [:]) async throws -> Command.Output {
        try await Command.output(Binaries.client, arguments, environment: environment)
    }

    static func lines(_ text: String) -> [String] { text.split(separator: "\n").map(String.init) }

    @Test("two runners on one edge: runs spread over both; runs, show, logs, cancel and usage reach the right one")
    func twoRunnersOneEdge() async throws {
        let nats = try await NATSServerProcess.start()
        defer { Task { await nats.shutdown() } }
        let a = try RunnerFixture("pair-a", claudeBehaviour: ["STREAM_JSON": "1", "OUTPUT": "from a"])
        let b = try RunnerFixture("pair-b", claudeBehaviour: ["STREAM_JSON": "1", "OUTPUT": "from b"])
        defer {
            a.directory.remove()
            b.directory.remove()
        }
        let edge = "edge-pair"
        let runnerA = try await Self.startRunner(a, nats: nats.url, edge: edge, name: "runner-a")
        defer { Task { await runnerA.stop() } }
        let runnerB = try await Self.startRunner(b, nats: nats.url, edge: edge, name: "runner-b")
        defer { Task { await runnerB.stop() } }
        let via = ["--edge-id", edge, "--nats-url", nats.url]
        // Run-control commands wait longer than the default second for the runners: the machine may be busy.
        let control = via + ["--nats-wait", "3s"]

        // The queue group spreads runs at random: send until each runner has done two.
        var sent = 0
        while sent < 40, a.claude.callCount < 2 || b.claude.callCount < 2 {
            let output = try await Self.client(via + ["--prompt", "p\(sent)"])
            #expect(output.exit == .exited(0), "\(output.standardError)")
            #expect(["from a", "from b"].contains(output.standardOutput))
            sent += 1
        }
        #expect(a.claude.callCount >= 2 && b.claude.callCount >= 2, "the runs did not spread over both runners")

        let listed = try await Self.client(["runs", "--json", "--limit", "500"] + control)
        #expect(listed.exit == .exited(0), "\(listed.standardError)")
        let runs = try JSONDecoder().decode(RunList.self, from: Data(listed.standardOutput.utf8)).runs
        #expect(runs.count == sent)
        #expect(runs.map(\.id) == runs.map(\.id).sorted(by: >))
        #expect(runs.filter { $0.runner == "runner-a" }.count == a.claude.callCount)
        #expect(runs.filter { $0.runner == "runner-b" }.count == b.claude.callCount)
        #expect(runs.allSatisfy { $0.status == .completed && $0.transport == .nats })

        let table = try await Self.client(["runs"] + control)
        let rows = Self.lines(table.standardOutput)
        #expect(rows.count == sent + 1)
        #expect(rows.first?.hasPrefix("ID ") == true)
        #expect(rows.first?.contains("RUNNER") == true)
        #expect(rows.dropFirst().contains { $0.hasSuffix("runner-a") })
        #expect(rows.dropFirst().contains { $0.hasSuffix("runner-b") })
        let newest = try await Self.client(["runs", "--json", "--limit", "3"] + control)
        let newestRuns = try JSONDecoder().decode(RunList.self, from: Data(newest.standardOutput.utf8)).runs
        #expect(newestRuns.map(\.id) == Array(runs.prefix(3).map(\.id)))

        let onB = try #require(runs.first { $0.runner == "runner-b" })
        let show = try await Self.client(["show", onB.id] + control)
        #expect(show.exit == .exited(0), "\(show.standardError)")
        #expect(Self.lines(show.standardOutput).contains { $0.hasPrefix("runner:") && $0.hasSuffix(" runner-b") })
        #expect(Self.lines(show.standardOutput).contains { $0.hasPrefix("status:") && $0.hasSuffix(" completed") })
        let shown = try await Self.client(["show", onB.id, "--json"] + control)
        let record = try JSONDecoder().decode(RunRecord.self, from: Data(shown.standardOutput.utf8))
        #expect(record.id == onB.id)
        #expect(record.runner == "runner-b")
        #expect(record.costUSD == 0.01)

        let logs = try await Self.client(["logs", onB.id] + control)
        #expect(logs.exit == .exited(0), "\(logs.standardError)")
        let logLines = Self.lines(logs.standardOutput)
        #expect(logLines.count == 3)
        #expect(logLines.first?.contains("started") == true)
        #expect(logLines.last?.hasSuffix("done  $0.0100") == true)

        let usage = try await Self.client(["usage", "--json"] + control)
        #expect(usage.exit == .exited(0), "\(usage.standardError)")
        let report = try JSONDecoder().decode(UsageReport.self, from: Data(usage.standardOutput.utf8))
        #expect(report.total.runs == sent)
        #expect(abs(report.total.costUSD - Double(sent) * 0.01) < 1e-9)
        let usageTable = try await Self.client(["usage", "--by", "kind"] + control)
        #expect(usageTable.standardOutput.contains("runners: runner-a, runner-b"))
        #expect(Self.lines(usageTable.standardOutput).contains { $0.hasPrefix("run ") && $0.contains("$") })
        #expect(Self.lines(usageTable.standardOutput).last?.hasPrefix("TOTAL  \(sent) ") == true)

        // On the wire: list and usage get one reply per runner, each naming it; get and cancel of b's run
        // get exactly one reply, from b (a stays silent).
        let onA = try #require(runs.first { $0.runner == "runner-a" })
        try await NATSIntegrationTests.withClient(nats.url) { client in
            func subject(_ name: String) -> String { "edges.\(edge).claude-runner.\(name)" }
            func replies(_ name: String, _ body: String, expecting: Int) async throws -> [[String: Any]] {
                let messages = try await NATSRunControlTests.replies(
                    client, name, body, subject: subject(name), expecting: expecting)
                return try messages.map { message in
                    #expect(
                        message.headers?["Nats-Service-Error-Code"] == nil,
                        "\(message.headers?["Nats-Service-Error"] ?? "")")
                    return try NATSRunControlTests.json(message)
                }
            }
            let lists = try await replies("runs.list", #"{"limit": 500}"#, expecting: 2)
            #expect(Set(lists.compactMap { $0["runner"] as? String }) == ["runner-a", "runner-b"])
            #expect(lists.count == 2)
            let usages = try await replies("runs.usage", #"{"by": "kind"}"#, expecting: 2)
            #expect(usages.compactMap { $0["runner"] as? String }.sorted() == ["runner-a", "runner-b"])
            for owned in [onA, onB] {
                let got = try await replies("runs.get", #"{"id": "\#(owned.id)"}"#, expecting: 1)
                #expect(got.count == 1)
                #expect(got.first?["runner"] as? String == owned.runner)
                #expect(got.first?["id"] as? String == owned.id)
            }
            let conflicts = try await NATSRunControlTests.replies(
                client, "runs.cancel", #"{"id": "\#(onA.id)"}"#, subject: subject("runs.cancel"))
            #expect(conflicts.count == 1)
            #expect(conflicts.first?.headers?["Nats-Service-Error-Code"] == "409")
            #expect(conflicts.first?.headers?["Nats-Service-Error"] == "run \(onA.id) has already ended: completed")
        }

        let finished = try await Self.client(["cancel", onB.id] + control)
        #expect(finished.exit == .exited(1))
        #expect(finished.standardError == "claude-runner-client: run \(onB.id) has already ended: completed\n")
        let unknown = ULID().description
        let missing = try await Self.client(["show", unknown] + via)
        #expect(missing.exit == .exited(1))
        #expect(missing.standardError == "claude-runner-client: run not found: \(unknown)\n")

        // A run that lands on b is followed and cancelled through the edge.
        // Runner b's claude turns slow: it prints its init event, then works on without printing (as the
        // real CLI does in stream-json mode), so the run's Result knows it was cancelled.
        let initFile = b.directory.appending("init.jsonl")
        try ProgressTests.session[0].write(toFile: initFile, atomically: true, encoding: .utf8)
        _ = try FakeClaude(in: b.directory.appending("fake"), ["EVENTS_FILE": initFile, "HANG_AFTER": "60"])
        var slow: RunningProcess?
        for attempt in 0..<20 where slow == nil {
            let before = b.claude.callCount
            let process = RunningProcess(Binaries.client, via + ["--prompt", "slow \(attempt)"])
            try await eventually(timeout: .seconds(30), "the run to land on a runner") {
                b.claude.callCount > before || process.hasExited
            }
            if b.claude.callCount > before {
                slow = process
            } else {
                _ = try await process.exit
            }
        }
        let slowClient = try #require(slow, "no run landed on runner b")
        try await b.claude.waitUntilStarted()
        let slowClaude = try #require(b.claude.processID)
        let running = try await Self.client(["runs", "--status", "running", "--json"] + control)
        let live = try JSONDecoder().decode(RunList.self, from: Data(running.standardOutput.utf8)).runs
        #expect(live.count == 1)
        let liveRun = try #require(live.first)
        #expect(liveRun.runner == "runner-b")

        let follower = RunningProcess(Binaries.client, ["logs", liveRun.id, "--follow"] + control)
        try await eventually(timeout: .seconds(30), "the follower to print the started event") {
            await follower.standardOutput.contains("started")
        }
        let cancel = try await Self.client(["cancel", liveRun.id] + control)
        #expect(cancel.exit == .exited(0), "\(cancel.standardError)")
        #expect(cancel.standardOutput == "cancelling run \(liveRun.id)\n")
        #expect(try await within(.seconds(30), "the slow client") { try await slowClient.exit } == .exited(1))
        #expect(try await within(.seconds(30), "the follower") { try await follower.exit } == .exited(0))
        #expect(Self.lines(await follower.standardOutput).last?.hasSuffix("  cancelled") == true)
        try await eventually(timeout: .seconds(30), "the cancelled run's claude to be gone") {
            !processIsAlive(slowClaude)
        }
        let after = try await Self.client(["show", liveRun.id, "--json"] + control)
        let cancelled = try JSONDecoder().decode(RunRecord.self, from: Data(after.standardOutput.utf8))
        #expect(cancelled.status == .cancelled)
        #expect(cancelled.runner == "runner-b")

        await runnerA.stop()
        await runnerB.stop()
        await nats.shutdown()
    }

    @Test("a NATS client interrupted by SIGTERM or SIGINT, or out of time, cancels its run: claude is gone in seconds")
    func clientCancelsItsRun() async throws {
        let nats = try await NATSServerProcess.start()
        defer { Task { await nats.shutdown() } }
        let fixture = try RunnerFixture("client-cancel", claudeBehaviour: ["OUTPUT": "never", "DELAY": "120"])
        defer { fixture.directory.remove() }
        let edge = "edge-cancel"
        let runner = try await Self.startRunner(fixture, nats: nats.url, edge: edge, name: "solo")
        defer { Task { await runner.stop() } }
        let via = ["--edge-id", edge, "--nats-url", nats.url]

        for (index, signal) in [(SIGTERM, "SIGTERM"), (SIGINT, "SIGINT")].enumerated() {
            let before = fixture.claude.callCount
            let client = RunningProcess(Binaries.client, via + ["--prompt", "slow \(index)"])
            try await eventually(timeout: .seconds(30), "claude to start") { fixture.claude.callCount > before }
            try await eventually(timeout: .seconds(30), "claude to record its pid") {
                fixture.claude.processID.map(processIsAlive) == true
            }
            let claude = try #require(fixture.claude.processID)
            await client.signal(signal.0)
            #expect(try await within(.seconds(60), "the interrupted client") { try await client.exit } == .exited(1))
            let message = await client.standardError
            #expect(message.hasPrefix("claude-runner-client: interrupted by \(signal.1); run "), "\(message)")
            #expect(message.hasSuffix(" cancelled\n"), "\(message)")
            try await eventually(timeout: .seconds(30), "the abandoned run's claude to be gone") {
                !processIsAlive(claude)
            }
        }

        let before = fixture.claude.callCount
        let started = ContinuousClock.now
        let impatient = try await Self.client(via + ["--prompt", "too slow", "--timeout", "8s"])
        #expect(ContinuousClock.now - started < .seconds(60))
        #expect(impatient.exit == .exited(1))
        #expect(impatient.standardError.hasPrefix("claude-runner-client: request: no reply within 8s; run "))
        #expect(impatient.standardError.hasSuffix(" cancelled\n"), "\(impatient.standardError)")
        #expect(fixture.claude.callCount == before + 1)
        let claude = try #require(fixture.claude.processID)
        try await eventually(timeout: .seconds(30), "the timed-out run's claude to be gone") {
            !processIsAlive(claude)
        }

        let listed = try await Self.client(["runs", "--json", "--nats-wait", "3s"] + via)
        let runs = try JSONDecoder().decode(RunList.self, from: Data(listed.standardOutput.utf8)).runs
        #expect(runs.count == 3)
        #expect(runs.allSatisfy { $0.status == .cancelled && $0.runner == "solo" }, "\(runs.map(\.status))")
        await runner.stop()
        await nats.shutdown()
    }

    @Test("an HTTP client interrupted by SIGINT closes its connection and so cancels its run")
    func httpClientInterrupted() async throws {
        let fixture = try RunnerFixture("http-interrupted", claudeBehaviour: ["OUTPUT": "never", "DELAY": "120"])
        defer { fixture.directory.remove() }
        let server = try await fixture.startServer()
        defer { Task { await server.process.stop() } }
        let via = ["--transport", "http", "--endpoint", server.endpoint]

        let client = RunningProcess(Binaries.client, via + ["--prompt", "slow"])
        try await fixture.claude.waitUntilStarted()
        let claude = try #require(fixture.claude.processID)
        await client.signal(SIGINT)
        _ = try await within(.seconds(60), "the interrupted client") { try await client.exit }
        try await eventually(timeout: .seconds(15), "the abandoned run's claude to be gone") {
            !processIsAlive(claude)
        }
        try await eventually(timeout: .seconds(30), "the run to be recorded cancelled") {
            let listed = try? await Self.client(["runs", "--json"] + via)
            let runs = listed.flatMap { try? JSONDecoder().decode(RunList.self, from: Data($0.standardOutput.utf8)) }
            return runs?.runs.count == 1 && runs?.runs.first?.status == .cancelled
        }
        await server.process.stop()
    }

    @Test("the subcommands over HTTP: table and JSON, bearer token, errors; the flag-only run form unchanged")
    func overHTTP() async throws {
        let fixture = try RunnerFixture("http-rc", claudeBehaviour: ["STREAM_JSON": "1", "OUTPUT": "over http"])
        defer { fixture.directory.remove() }
        let token = "rc-token-0123456789"
        let server = try await fixture.startServer(
            yaml: "nats:\n  runnerName: http-runner\nhttp:\n  tokens:\n    - \(token)\n")
        defer { Task { await server.process.stop() } }
        let tokenFile = fixture.directory.appending("token")
        try "# the runner's token\n\(token)\n".write(toFile: tokenFile, atomically: true, encoding: .utf8)
        let via = ["--transport", "http", "--endpoint", server.endpoint, "--token-file", tokenFile]

        let first = try await Self.client(via + ["--prompt", "one"])
        #expect(first.exit == .exited(0), "\(first.standardError)")
        #expect(first.standardOutput == "over http")
        let second = try await Self.client(
            ["run", "--prompt", "two", "--json"],
            environment: [
                "TRANSPORT": "http", "ENDPOINT": server.endpoint,
                "CLAUDE_RUNNER_TOKEN": token,
            ])
        #expect(second.exit == .exited(0), "\(second.standardError)")
        let secondID = try JSONDecoder().decode(RunResult.self, from: Data(second.standardOutput.utf8)).id

        let table = try await Self.client(["runs"] + via)
        #expect(table.exit == .exited(0), "\(table.standardError)")
        let rows = Self.lines(table.standardOutput)
        #expect(rows.count == 3)
        #expect(
            rows.first?.split(separator: " ", omittingEmptySubsequences: true).prefix(4) == [
                "ID", "KIND", "STATUS", "REPO",
            ])
        #expect(rows[1].hasPrefix(secondID + "  run   completed  –"))
        #expect(rows.dropFirst().allSatisfy { $0.contains("$0.0100") && $0.hasSuffix("http-runner") })

        let listed = try await Self.client(["runs", "--json"] + via)
        let runs = try JSONDecoder().decode(RunList.self, from: Data(listed.standardOutput.utf8)).runs
        #expect(runs.count == 2)
        #expect(runs.first?.id == secondID)
        #expect(runs.allSatisfy { $0.transport == .http && $0.runner == "http-runner" })
        let failed = try await Self.client(["runs", "--status", "failed", "--json"] + via)
        #expect(failed.standardOutput == #"{"runs":[]}"# + "\n")
        let badLimit = try await Self.client(["runs", "--limit", "0"] + via)
        #expect(badLimit.exit == .exited(1))
        #expect(badLimit.standardError == "claude-runner-client: invalid limit \"0\": must be between 1 and 500\n")
        let noToken = try await Self.client(["runs", "--transport", "http", "--endpoint", server.endpoint])
        #expect(noToken.exit == .exited(1))
        #expect(noToken.standardError.hasPrefix("claude-runner-client: "))

        let show = try await Self.client(["show", secondID] + via)
        let idLine = try #require(Self.lines(show.standardOutput).first)
        #expect(idLine.hasPrefix("id:") && idLine.hasSuffix(" \(secondID)"), "\(show.standardOutput)")
        #expect(Self.lines(show.standardOutput).contains { $0.hasPrefix("transport:") && $0.hasSuffix(" http") })
        let shown = try await Self.client(["show", secondID, "--json"] + via)
        #expect(try JSONDecoder().decode(RunRecord.self, from: Data(shown.standardOutput.utf8)).status == .completed)

        let logs = try await Self.client(["logs", secondID] + via)
        let logLines = Self.lines(logs.standardOutput)
        #expect(logLines.count == 3, "\(logs.standardOutput)")
        #expect(logLines.first?.hasSuffix("started  session fake-session") == true)
        #expect(logLines.dropFirst().first?.hasSuffix("text  working") == true)
        #expect(logLines.last?.hasSuffix("done  $0.0100") == true)
        let followed = try await Self.client(["logs", secondID, "--follow"] + via)
        #expect(followed.standardOutput == logs.standardOutput)
        let ndjson = try await Self.client(["logs", secondID, "--json"] + via)
        let types = Self.lines(ndjson.standardOutput).compactMap { RunEvent.decode(Data($0.utf8))?.type }
        #expect(types == ["started", "text", "result"])

        let usage = try await Self.client(["usage", "--since", "1d", "--json"] + via)
        let report = try JSONDecoder().decode(UsageReport.self, from: Data(usage.standardOutput.utf8))
        #expect(report.total.runs == 2)
        #expect(report.by == .repo)
        let byKind = try await Self.client(["usage", "--by", "kind"] + via)
        let usageRows = Self.lines(byKind.standardOutput)
        #expect(usageRows.first?.hasPrefix("since ") == true)
        #expect(usageRows.contains { $0.hasPrefix("KIND   RUNS  COST") })
        #expect(usageRows.last?.hasPrefix("TOTAL  2     $0.0200") == true, "\(byKind.standardOutput)")
        let badSince = try await Self.client(["usage", "--since", "yesterday"] + via)
        #expect(badSince.exit == .exited(1))
        #expect(badSince.standardError.contains(#"invalid since "yesterday""#))

        let cancel = try await Self.client(["cancel", secondID] + via)
        #expect(cancel.exit == .exited(1))
        #expect(cancel.standardError == "claude-runner-client: run \(secondID) has already ended: completed\n")
        let unknown = ULID().description
        let missing = try await Self.client(["logs", unknown] + via)
        #expect(missing.exit == .exited(1))
        #expect(missing.standardError == "claude-runner-client: run not found: \(unknown)\n")
        let malformed = try await Self.client(["show", "not-a-run"] + via)
        #expect(malformed.exit == .exited(1))
        #expect(malformed.standardError.contains(#"invalid run id "not-a-run""#))
        await server.process.stop()
    }
}
