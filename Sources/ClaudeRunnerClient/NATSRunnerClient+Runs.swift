import ClaudeRunner
import Foundation
import NATS
import NIOCore
import NIOFoundationCompat

/// Run control over NATS: every runner of the edge receives each request (spec section 11).
///
/// `list` and `usage` gather the replies that arrive within ``NATSRunnerClient/gatherWindow`` and merge
/// them; `get`, `cancel` and `events` wait up to ``NATSRunnerClient/findTimeout`` for the one runner that has
/// the run, then report `run not found: <id>`.
extension NATSRunnerClient: RunControlClient {
    public func listRuns(_ query: RunQuery) async throws -> RunList {
        struct Reply: Decodable {
            var runner: String?
            var runs: [RunRecord]
        }
        let replies = try await withConnection { client in
            try await gather(client, "runs.list", Self.jsonObject(query.parameters), within: gatherWindow)
        }
        var runs: [RunRecord] = []
        var warnings: [String] = []
        var answered = false
        for reply in replies {
            if let error = Self.serviceError(reply) {
                warnings.append(error)
                continue
            }
            do {
                let list = try JSONDecoder().decode(Reply.self, from: Data(buffer: reply.payload))
                runs += list.runs.map { record in
                    var record = record
                    record.runner = record.runner ?? list.runner
                    return record
                }
                answered = true
            } catch {
                warnings.append("a runner's reply is not a run list: \(error)")
            }
        }
        guard answered else { throw RunControlFailure(warnings.first ?? noAnswer("runs.list")) }
        runs.sort { $0.id > $1.id }
        return RunList(runs: Array(runs.prefix(query.limit)), warnings: warnings)
    }

    public func runRecord(_ id: String) async throws -> RunRecord {
        let reply = try await withConnection { client in try await find(client, "runs.get", id: id) }
        return try Self.record(reply)
    }

    public func cancelRun(_ id: String) async throws {
        _ = try await withConnection { client in try await find(client, "runs.cancel", id: id) }
    }

    public func usage(_ query: UsageQuery) async throws -> UsageSummary {
        struct Runner: Decodable { var runner: String? }
        let replies = try await withConnection { client in
            try await gather(client, "runs.usage", Self.jsonObject(query.parameters), within: gatherWindow)
        }
        var reports: [UsageReport] = []
        var runners: [String] = []
        var warnings: [String] = []
        for reply in replies {
            if let error = Self.serviceError(reply) {
                warnings.append(error)
                continue
            }
            let data = Data(buffer: reply.payload)
            do {
                reports.append(try JSONDecoder().decode(UsageReport.self, from: data))
                if let name = try? JSONDecoder().decode(Runner.self, from: data).runner { runners.append(name) }
            } catch {
                warnings.append("a runner's reply is not a usage report: \(error)")
            }
        }
        guard let merged = UsageReport.merging(reports) else {
            throw RunControlFailure(warnings.first ?? noAnswer("runs.usage"))
        }
        return UsageSummary(report: merged, runners: runners.sorted(), warnings: warnings)
    }

    /// First finds the run (`runs.get`), so that an unknown id is reported after the short wait; then asks
    /// its runner for the events (`runs.events` with a progress subject), whose reply comes when they have
    /// all been sent: at once for a run that has ended or without `follow`, else when the run ends.
    public func runEvents(
        _ id: String, follow: Bool, onEvent: @escaping @Sendable (RunEvent) -> Void
    ) async throws {
        try await withConnection { client in
            let record = try Self.record(try await find(client, "runs.get", id: id))
            let following = follow && !record.status.isFinal
            let inbox = NATSClient.newInbox()
            let subscription = try client.subscribe(to: inbox)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    for await message in subscription {
                        if let event = RunEvent.decode(Data(buffer: message.payload)) { onEvent(event) }
                    }
                }
                var body = JSONObjectWriter()
                body.string("id", id)
                body.bool("follow", following)
                // A run lasts at most its runner's run timeout; a day bounds the wait for one that never ends.
                let wait: Duration = following ? .seconds(86_400) : .seconds(120)
                do {
                    _ = try await find(
                        client, "runs.events", body: body.finish(), id: id, headers: [Self.progressHeader: inbox],
                        timeout: wait)
                } catch {
                    subscription.unsubscribe()
                    throw error
                }
                // The events were published before the reply, on the same connection: they are all in.
                subscription.unsubscribe()
                try await group.waitForAll()
            }
        }
    }

    // MARK: Requests every runner receives

    /// Publishes a request to `runs.<name>` and collects the replies that arrive within `window`, or until
    /// `enough` says so.
    /// - Throws: ``RunControlFailure`` when no runner listens on the subject (no responders).
    func gather(
        _ client: NATSClient, _ name: String, _ payload: ByteBuffer, headers: NATSHeaders? = nil,
        within window: Duration, enough: @escaping @Sendable (NATSMessage) -> Bool = { _ in false }
    ) async throws -> [NATSMessage] {
        let inbox = NATSClient.newInbox()
        let subscription = try client.subscribe(to: inbox)
        try client.publish(payload, to: subject(name), replyTo: inbox, headers: headers)
        let (replies, noResponders) = await withTaskGroup(of: ([NATSMessage], Bool)?.self) { group in
            group.addTask {
                // In short slices: a cancelled sleep's timer stays queued until its deadline on this runtime.
                let deadline = ContinuousClock.now + window
                while ContinuousClock.now < deadline, !Task.isCancelled {
                    try? await Task.sleep(until: min(deadline, .now + .seconds(1)), clock: .continuous)
                }
                subscription.unsubscribe()
                return nil
            }
            group.addTask {
                var replies: [NATSMessage] = []
                for await message in subscription {
                    if message.isNoResponders { return ([], true) }
                    replies.append(message)
                    if enough(message) { break }
                }
                return (replies, false)
            }
            defer {
                subscription.unsubscribe()
                group.cancelAll()
            }
            while let next = await group.next() {
                if let next { return next }
            }
            return ([], false)
        }
        if noResponders {
            throw RunControlFailure("no runner serves edge \(edgeID) (nats: no responders on \(subject(name)))")
        }
        return replies
    }

    /// The reply of the one runner that has run `id`: the first reply other than a 404 (a runner without a
    /// ledger says it cannot know), within `timeout`.
    /// - Throws: ``RunControlFailure`` with the runner's error message, or `run not found: <id>` when no
    ///   runner has the run.
    func find(
        _ client: NATSClient, _ name: String, body: ByteBuffer? = nil, id: String, headers: NATSHeaders? = nil,
        timeout: Duration? = nil
    ) async throws -> NATSMessage {
        try RunnerService.checkRunID(id)
        var payload: ByteBuffer
        if let body {
            payload = body
        } else {
            var object = JSONObjectWriter()
            object.string("id", id)
            payload = object.finish()
        }
        let replies = try await gather(
            client, name, payload, headers: headers, within: timeout ?? findTimeout,
            enough: { $0.headers?["Nats-Service-Error-Code"] != "404" })
        if let answer = replies.first(where: { $0.headers?["Nats-Service-Error-Code"] != "404" }) ?? replies.first {
            if let error = Self.serviceError(answer) { throw RunControlFailure(error) }
            return answer
        }
        throw RunControlFailure("run not found: \(id)")
    }

    func noAnswer(_ name: String) -> String {
        "no runner of edge \(edgeID) answered \(subject(name)) within \(Self.describe(gatherWindow))"
    }

    /// The message of an error reply, or `nil` for a reply that is not one.
    static func serviceError(_ reply: NATSMessage) -> String? {
        reply.headers?["Nats-Service-Error"]
    }

    static func record(_ reply: NATSMessage) throws -> RunRecord {
        do {
            return try JSONDecoder().decode(RunRecord.self, from: Data(buffer: reply.payload))
        } catch {
            throw RunControlFailure("the runner's reply is not a run record: \(error)")
        }
    }

    /// A JSON object of string values, keys sorted.
    static func jsonObject(_ parameters: [String: String]) -> ByteBuffer {
        var object = JSONObjectWriter()
        for (key, value) in parameters.sorted(by: { $0.key < $1.key }) { object.string(key, value) }
        return object.finish()
    }
}
