import AsyncHTTPClient
import ClaudeRunner
import ClaudeRunnerTesting
import Foundation
import NIOCore
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The run ledger and run control through the runner binary: records, the HTTP API, crashes, corruption,
/// the daily budget, health and metrics.
@Suite("run ledger and run control", .timeLimit(.minutes(4)))
struct LedgerAPITests {
    static let token = "ledger-api-token-0123456789"

    static func get(
        _ url: String, token: String? = LedgerAPITests.token, accept: String? = nil
    ) async throws -> RunnerServer.Response {
        var request = HTTPClientRequest(url: url)
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let accept { request.headers.add(name: "Accept", value: accept) }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(60))
        let body = try await response.body.collect(upTo: 16 << 20)
        return .init(
            status: Int(response.status.code), headers: response.headers.map { ($0.name, $0.value) },
            body: String(buffer: body))
    }

    static func post(
        _ url: String, _ body: String = "", token: String? = LedgerAPITests.token
    ) async throws -> RunnerServer.Response {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        request.body = .bytes(ByteBuffer(string: body))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(120))
        let collected = try await response.body.collect(upTo: 16 << 20)
        return .init(
            status: Int(response.status.code), headers: response.headers.map { ($0.name, $0.value) },
            body: String(buffer: collected))
    }

    static func json(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    static let yaml = "http:\n  tokens: [\(token)]\n"

    @Test("every run is recorded; the API lists, shows, replays and sums them; bad parameters are named")
    func recordsAndAPI() async throws {
        let fixture = try ProgressTests.fixture()
        defer { fixture.directory.remove() }
        let server = try await fixture.startServer(yaml: Self.yaml)
        defer { Task { await server.process.stop() } }
        let base = server.endpoint
        let first = try await Self.post(base + "/api/run", #"{"prompt":"go","event":"push"}"#)
        #expect(first.status == 200)
        let id = try first.result().id
        _ = try await Self.post(base + "/api/run", #"{"prompt":"again"}"#)

        // Authentication, as for the run routes.
        #expect(try await Self.get(base + "/api/runs", token: nil).status == 401)
        #expect(try await Self.get(base + "/api/usage", token: "wrong").status == 401)

        let list = try await Self.get(base + "/api/runs?limit=1")
        #expect(list.status == 200)
        let runs = try #require(try Self.json(list.body)["runs"] as? [[String: Any]])
        #expect(runs.count == 1)
        #expect((runs[0]["id"] as? String).map(ULID.isValid) == true)
        let older = try await Self.get(base + "/api/runs?before=\(runs[0]["id"] as? String ?? "")")
        #expect((try Self.json(older.body)["runs"] as? [[String: Any]])?.first?["id"] as? String == id)

        let shown = try Self.json(try await Self.get(base + "/api/runs/\(id)").body)
        #expect(shown["status"] as? String == "completed")
        #expect(shown["kind"] as? String == "run")
        #expect(shown["transport"] as? String == "http")
        #expect(shown["event"] as? String == "push")
        #expect(shown["session_id"] as? String == "sess-1")
        #expect(shown["cost_usd"] as? Double == 0.0162)
        #expect(shown["num_turns"] as? Int == 2)
        #expect(shown["permission_denials"] as? Int == 1)
        #expect((shown["usage"] as? [String: Any])?["input_tokens"] as? Int == 120)
        #expect(shown["exit_code"] as? Int == 0)
        #expect(shown["prompt"] == nil)
        #expect(shown["runner"] as? String != nil)

        let events = try await Self.get(base + "/api/runs/\(id)/events")
        let types = events.body.split(separator: "\n").compactMap { RunEvent.decode(Data($0.utf8))?.type }
        #expect(types == ["started", "tool", "tool", "denied", "text", "result"])
        let sse = try await Self.get(base + "/api/runs/\(id)/events", accept: "text/event-stream")
        #expect(sse.body.hasPrefix("event: started\ndata: {"))

        let usage = try Self.json(try await Self.get(base + "/api/usage?since=1h&by=kind").body)
        #expect(usage["by"] as? String == "kind")
        let total = try #require(usage["total"] as? [String: Any])
        #expect(total["runs"] as? Int == 2)
        #expect(abs((total["cost_usd"] as? Double ?? 0) - 0.0324) < 1e-9)
        #expect(total["input_tokens"] as? Int == 240)

        for (query, name) in [
            ("runs?limit=0", "limit"), ("runs?limit=100000", "limit"), ("runs?before=garbage", "before"),
            ("runs?status=nothing", "status"), ("usage?since=yesterday", "since"), ("usage?by=nothing", "by"),
        ] {
            let bad = try await Self.get(base + "/api/" + query)
            #expect(bad.status == 400, "\(query)")
            #expect(bad.errorMessage?.contains(name) == true, "\(query): \(bad.body)")
        }
        let unknown = try await Self.get(base + "/api/runs/01ZZZZZZZZZZZZZZZZZZZZZZZZ")
        #expect(unknown.status == 404)
        #expect(unknown.body == #"{"error":"run not found: 01ZZZZZZZZZZZZZZZZZZZZZZZZ"}"#)
        #expect(try await Self.get(base + "/api/runs/not-an-id").status == 400)
        let finished = try await Self.post(base + "/api/runs/\(id)/cancel")
        #expect(finished.status == 409)
        #expect(finished.errorMessage == "run \(id) has already ended: completed")
    }

    @Test("cancel: 202, the process group ends, the run is cancelled; two cancels at once are both answered")
    func cancel() async throws {
        let fixture = try RunnerFixture("cancel", claudeBehaviour: ["DELAY": "120", "SPAWN_CHILD": "1"])
        defer { fixture.directory.remove() }
        let server = try await fixture.startServer(yaml: Self.yaml)
        defer { Task { await server.process.stop() } }
        let base = server.endpoint
        let run = Task { try await Self.post(base + "/api/run", #"{"prompt":"long"}"#) }
        try await fixture.claude.waitUntilStarted()
        try await eventually("the fake's child") { fixture.claude.childProcessID != nil }
        let list = try Self.json(try await Self.get(base + "/api/runs").body)
        let id = try #require((list["runs"] as? [[String: Any]])?.first?["id"] as? String)
        #expect((list["runs"] as? [[String: Any]])?.first?["status"] as? String == "running")
        async let a = Self.post(base + "/api/runs/\(id)/cancel")
        async let b = Self.post(base + "/api/runs/\(id)/cancel")
        let (first, second) = try await (a, b)
        #expect([first.status, second.status].contains(202))
        #expect([first.status, second.status].allSatisfy { $0 == 202 || $0 == 409 })
        if first.status == 202 { #expect(first.body == #"{"id":"\#(id)","status":"cancelling"}"#) }
        let result = try await run.value.result()
        #expect(result.error?.hasPrefix("cancelled") == true, "\(result)")
        let pid = try #require(fixture.claude.processID)
        let child = try #require(fixture.claude.childProcessID)
        try await eventually(timeout: .seconds(30), "claude's group gone") {
            !processIsAlive(pid) && !processIsAlive(child)
        }
        let shown = try Self.json(try await Self.get(base + "/api/runs/\(id)").body)
        #expect(shown["status"] as? String == "cancelled")
    }

    @Test("kill -9 mid-run: the record survives and the next start marks the run interrupted")
    func killedRunner() async throws {
        let fixture = try RunnerFixture("killed", claudeBehaviour: ["DELAY": "120"])
        defer { fixture.directory.remove() }
        let server = try await fixture.startServer(yaml: Self.yaml)
        let base = server.endpoint
        let run = Task { try? await Self.post(base + "/api/run", #"{"prompt":"long"}"#) }
        try await fixture.claude.waitUntilStarted()
        let list = try Self.json(try await Self.get(base + "/api/runs").body)
        let id = try #require((list["runs"] as? [[String: Any]])?.first?["id"] as? String)
        await server.process.signal(SIGKILL)
        _ = try? await server.process.exit
        _ = await run.value
        let restarted = try await fixture.startServer(yaml: Self.yaml)
        defer { Task { await restarted.process.stop() } }
        let shown = try Self.json(try await Self.get(restarted.endpoint + "/api/runs/\(id)").body)
        #expect(shown["status"] as? String == "interrupted")
        #expect(shown["ended_at"] != nil)
        #expect(
            await restarted.process.standardError.contains(
                "marked runs a previous runner left unfinished as interrupted"))
        if let pid = fixture.claude.processID { kill(pid, SIGKILL) }
    }

    @Test("a corrupt runs.db is moved aside and replaced; the runner serves and says so")
    func corruptLedger() async throws {
        let fixture = try RunnerFixture("corrupt")
        defer { fixture.directory.remove() }
        let path = try fixture.writeConfigFile(Self.yaml)
        try Data(repeating: 0x42, count: 4096).write(to: URL(fileURLWithPath: path + "/runs.db"))
        let server = try await fixture.startServer(yaml: Self.yaml)
        defer { Task { await server.process.stop() } }
        #expect(try await Self.post(server.endpoint + "/api/run", #"{"prompt":"x"}"#).status == 200)
        let list = try Self.json(try await Self.get(server.endpoint + "/api/runs").body)
        #expect((list["runs"] as? [[String: Any]])?.count == 1)
        let entries = try FileManager.default.contentsOfDirectory(atPath: path)
        #expect(entries.contains { $0.hasPrefix("runs.db.corrupt-") }, "\(entries)")
        let log = await server.process.standardError
        #expect(log.contains("runs.db.corrupt-"))
        let ready = try await Self.get(server.endpoint + "/readyz", token: nil)
        #expect(ready.status == 200)
        #expect(ready.body.contains(#""ledger":{"ok":true}"#))
    }

    @Test("ledger.enabled false: no runs.db, the run-control routes answer 404, runs still run")
    func ledgerOff() async throws {
        let fixture = try RunnerFixture("off")
        defer { fixture.directory.remove() }
        let server = try await fixture.startServer(yaml: Self.yaml + "ledger:\n  enabled: false\n")
        defer { Task { await server.process.stop() } }
        #expect(try await Self.post(server.endpoint + "/api/run", #"{"prompt":"x"}"#).status == 200)
        let list = try await Self.get(server.endpoint + "/api/runs")
        #expect(list.status == 404)
        #expect(list.errorMessage?.contains("ledger.enabled: false") == true)
        #expect(try await Self.get(server.endpoint + "/api/usage").status == 404)
        #expect(!FileManager.default.fileExists(atPath: server.path + "/runs.db"))
    }

    @Test("the daily budget: once spent, new runs get 429 with Retry-After; issue runs are refused before a claim")
    func dailyBudget() async throws {
        let github = FakeGitHub()
        await github.setIssue(repo: "acme/widgets", number: 7, body: IssueLabels.marker, labels: IssueLabels.required)
        try await github.serve { url in
            let fixture = try ProgressTests.fixture()
            defer { fixture.directory.remove() }
            let yaml =
                Self.yaml
                + "limits:\n  dailyBudgetUSD: 0.01\ngithub:\n  baseURL: \(url)\n  token: ghp_budget_0123456789\n"
            let server = try await fixture.startServer(yaml: yaml)
            defer { Task { await server.process.stop() } }
            #expect(try await Self.post(server.endpoint + "/api/run", #"{"prompt":"spend"}"#).status == 200)
            let refused = try await Self.post(server.endpoint + "/api/run", #"{"prompt":"more"}"#)
            #expect(refused.status == 429)
            #expect(refused.errorMessage?.contains("daily budget") == true)
            let retryAfter = try #require(refused.header("Retry-After").flatMap(Int.init))
            #expect(retryAfter > 0 && retryAfter <= 86_400)
            let issue = try await Self.post(
                server.endpoint + "/api/run-issue", #"{"repo":"acme/widgets","issue_number":7}"#)
            #expect(issue.status == 429)
            #expect(await github.writes.isEmpty)
            // A restart reads today's cost from the ledger: still refused.
            await server.process.stop()
            let again = try await fixture.startServer(yaml: yaml)
            defer { Task { await again.process.stop() } }
            #expect(try await Self.post(again.endpoint + "/api/run", #"{"prompt":"more"}"#).status == 429)
        }
    }

    @Test("health, readiness and Prometheus metrics from the real /metrics text")
    func healthAndMetrics() async throws {
        let fixture = try ProgressTests.fixture()
        defer { fixture.directory.remove() }
        let server = try await fixture.startServer(yaml: Self.yaml)
        defer { Task { await server.process.stop() } }
        let health = try await Self.get(server.endpoint + "/healthz", token: nil)
        #expect(health.status == 200)
        #expect(health.body == #"{"status":"ok"}"#)
        let ready = try await Self.get(server.endpoint + "/readyz", token: nil)
        #expect(ready.status == 200, "\(ready.body)")
        let checks = try #require(try Self.json(ready.body)["checks"] as? [String: [String: Any]])
        #expect(Set(checks.keys) == ["claude", "work_dir", "ledger"])
        #expect(checks.values.allSatisfy { $0["ok"] as? Bool == true })
        #expect(!ready.body.contains(fixture.directory.path))
        #expect(try await Self.get(server.endpoint + "/metrics", token: nil).status == 401)

        _ = try await Self.post(server.endpoint + "/api/run", #"{"prompt":"go"}"#)
        let metrics = try await Self.get(server.endpoint + "/metrics")
        #expect(metrics.status == 200)
        let samples = Dictionary(
            metrics.body.split(separator: "\n").filter { !$0.hasPrefix("#") }.compactMap { line -> (String, Double)? in
                let parts = line.split(separator: " ")
                guard parts.count == 2, let value = Double(parts[1]) else { return nil }
                return (String(parts[0]), value)
            }, uniquingKeysWith: { $1 })
        #expect(samples[#"claude_runner_runs_total{kind="run",status="completed"}"#] == 1)
        #expect(samples[#"claude_runner_cost_usd_total{kind="run"}"#] == 0.0162)
        #expect(samples[#"claude_runner_tokens_total{kind="run",type="input"}"#] == 120)
        #expect(samples[#"claude_runner_tokens_total{kind="run",type="cache_read"}"#] == 7)
        #expect(samples[#"claude_runner_run_duration_seconds_count{kind="run"}"#] == 1)
        #expect(samples["claude_runner_runs_in_flight"] == 0)
        #expect(samples["claude_runner_runs_queued"] == 0)
        #expect(samples["claude_runner_nats_connected"] == 0)
        #expect(samples["claude_runner_nats_reconnects_total"] == 0)
    }
}
