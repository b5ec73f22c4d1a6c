import Foundation
import Logging
import Synchronization

/// Where a run came from.
public enum RunTransport: String, Sendable, Codable {
    case http, nats, cli
}

/// What kind of run it is: a plain prompt, a pull-request review (a run with `base_ref` or `pr_number`),
/// or a GitHub issue attempt.
public enum RunKind: String, Sendable, Codable, CaseIterable {
    case run, review, issue

    /// The kind of a plain or review run request.
    public static func of(baseRef: String?, prNumber: Int?) -> RunKind {
        (baseRef?.isEmpty == false || (prNumber ?? 0) != 0) ? .review : .run
    }
}

/// The one path every run takes, whatever its kind or transport: it waits for a run slot (sending
/// `queued`), starts Claude (``ClaudeProcess``, which parses its events and sends the progress), builds
/// the Result and sends it as the last event, and can be cancelled by id while it goes. Plain runs,
/// reviews and issue attempts all go through one of these, so whatever hooks in here (recording,
/// metrics, cancel) applies to every run once.
public final class RunExecution: Sendable {
    public let id: String
    public let kind: RunKind
    public let transport: RunTransport
    public let progress: RunProgress
    let service: RunnerService
    let recorder: RunRecorder?
    private let state = Mutex(State())

    struct State {
        var cancelRequested = false
        var superseded = false
        var ownershipInDoubt = false
        var cancel: (@Sendable () -> Void)?
        var status: RunStatus = .queued
    }

    /// - Parameter record: The run's ledger record as it begins (`queued`); its id is the run id.
    init(record: RunRecord, service: RunnerService) {
        self.id = record.id
        self.kind = record.kind
        self.transport = record.transport
        let progress = RunProgress(runID: record.id)
        self.progress = progress
        self.service = service
        var record = record
        record.runner = record.runner ?? service.runnerName
        self.recorder = service.ledger.map {
            RunRecorder(ledger: $0, record: record, progress: progress)
        }
    }

    /// The run becomes active (it can be followed and cancelled by id), enters the ledger as `queued`, and
    /// its transcript starts.
    public func begin() {
        service.activeRuns.add(self)
        recorder?.queued()
    }

    /// The run's record now (`nil` without a ledger).
    public var record: RunRecord? { recorder?.current }

    /// Where the run is now.
    public var status: RunStatus { state.withLock { $0.status } }

    /// Whether ``cancel()`` was called.
    public var cancelRequested: Bool { state.withLock { $0.cancelRequested } }

    /// What a run stopped before its end is: `cancelled` when ``cancel()`` asked for it (a caller or an
    /// operator), `interrupted` otherwise (the runner is stopping).
    public var stoppedStatus: RunStatus { cancelRequested ? .cancelled : .interrupted }

    /// Asks the run to stop: its process group is ended as on a timeout and it ends `cancelled`.
    /// - Returns: `false` when the run had already ended.
    @discardableResult
    public func cancel() -> Bool {
        let cancel: (@Sendable () -> Void)? = state.withLock { state in
            guard !state.status.isFinal else { return nil }
            state.cancelRequested = true
            return state.cancel
        }
        guard let cancel else { return false }
        cancel()
        return true
    }

    /// A durable task's acknowledgements lapsed for longer than the ack wait: another runner may have been
    /// given the task, so the run checks before it reports (and while it edits its tracking comment).
    public func markOwnershipInDoubt() {
        state.withLock { $0.ownershipInDoubt = true }
    }

    public var ownershipInDoubt: Bool { state.withLock { $0.ownershipInDoubt } }

    /// Whether ``supersede()`` stopped the run.
    public var superseded: Bool { state.withLock { $0.superseded } }

    /// Stops the run because another delivery of its task took over: its process group is ended and it ends
    /// `interrupted`, reporting nothing. - Returns: `false` when the run had already ended.
    @discardableResult
    public func supersede() -> Bool {
        let cancel: (@Sendable () -> Void)? = state.withLock { state in
            guard !state.status.isFinal else { return nil }
            state.superseded = true
            return state.cancel
        }
        guard let cancel else { return false }
        cancel()
        return true
    }

    /// The executor a run's own task prefers: the one its transport runs its handlers on (the HTTP
    /// transport's event loop), so that the run does not hop to Swift's shared pool and back; `nil` (NATS,
    /// `run-issue`) is that pool.
    @TaskLocal public static var preferredExecutor: (any TaskExecutor)?

    /// Runs `body` so that ``cancel()`` can stop it, registered as an active run for its length.
    /// Cancelling the calling task (a client that went away, shutdown) cancels `body` too.
    func cancellable<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let task = Task(executorPreference: Self.preferredExecutor) { try await body() }
        let alreadyCancelled: Bool = state.withLock { state in
            state.cancel = { task.cancel() }
            return state.cancelRequested || state.superseded
        }
        if alreadyCancelled { task.cancel() }
        return try await withTaskCancellationHandler {
            try await task.value
        } onCancel: {
            task.cancel()
        }
    }

    /// Holds a run slot for `body`, sending `queued` with the run's place in line when it has to wait.
    func withSlot<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        try await service.slots.withSlot(
            onWait: { [progress] position in progress.emit(.queued(position: position)) }
        ) {
            state.withLock { $0.status = .running }
            recorder?.running()
            return try await body()
        }
    }

    /// Starts Claude and reads it to the end; the one place a run's `claude` process is started.
    func runClaude(
        _ invocation: ClaudeInvocation, in directory: String, paths: HostPaths, logger: Logger,
        onStart: @escaping @Sendable (Int32) -> Void = { _ in }
    ) async throws -> ClaudeOutcome {
        var outcome = try await service.claude.run(
            invocation, in: directory, paths: paths, progress: progress, logger: logger, onStart: onStart)
        if outcome.status == .cancelled, !cancelRequested {
            // Not stopped by ``cancel()`` (a caller, an operator): the runner is stopping.
            outcome.status = .interrupted
            outcome.error = "interrupted: the runner stopped before Claude finished"
        }
        return outcome
    }

    /// Ends the run with its Result: the last event, the final status, the metrics, the ledger record.
    /// - Parameter change: Fills the record's fields only the caller knows (a pull request, the workspace).
    func finish(
        _ result: RunResult, status: RunStatus, exitCode: Int32? = nil,
        change: (inout RunRecord) -> Void = { _ in }
    ) {
        state.withLock { $0.status = status }
        progress.emit(.result(result))
        RunMetrics.runFinished(
            kind: kind, status: status, duration: ContinuousClock.now - progress.startedAt, costUSD: result.costUSD,
            usage: result.usage)
        if let cost = result.costUSD { service.budget.add(cost) }
        recorder?.finished(result, status: status, exitCode: exitCode, change: change)
        endTranscript()
    }

    /// Ends a run whose request failed after it began (a failed clone, a full queue).
    func fail(_ message: String, status: RunStatus = .failed) {
        state.withLock { $0.status = status }
        progress.emit(.error(message))
        RunMetrics.runFinished(
            kind: kind, status: status, duration: ContinuousClock.now - progress.startedAt, costUSD: nil, usage: nil)
        recorder?.finished(RunResult(id: id, output: "", error: message), status: status, exitCode: nil) { _ in }
        endTranscript()
    }

    /// The transcript is complete (and the record final) before the run stops being active, so that a
    /// follower always finds the run one way or the other.
    private func endTranscript() {
        defer { service.activeRuns.remove(id) }
        recorder?.transcript.finishLater()
    }
}

/// The runs in progress, by id, for cancelling and following them.
public final class ActiveRuns: Sendable {
    private let runs = Mutex<[String: RunExecution]>([:])

    public init() {}

    func add(_ run: RunExecution) { runs.withLock { $0[run.id] = run } }
    func remove(_ id: String) { _ = runs.withLock { $0.removeValue(forKey: id) } }

    public subscript(id: String) -> RunExecution? { runs.withLock { $0[id] } }

    public var all: [RunExecution] { runs.withLock { Array($0.values) } }
}
