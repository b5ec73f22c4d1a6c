import Foundation
import Logging

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// The bare mirrors under `git.mirrorDir`: who may update one, who is cloning from one, and which ones go
/// when the cache is over its size.
///
/// Per mirror, updates run one at a time, and a run that asks while an update with the same clone source is
/// in flight waits for that one instead of starting another (so concurrent runs of one repo share a single
/// fetch); different mirrors proceed in parallel. A run holds a ``Lease`` from the end of its update until
/// its workspace has been cloned; a mirror with a lease out, or an update in flight or waiting, is never
/// removed. A rebuild (remove and make again) waits until no lease is out, and runs that arrive meanwhile
/// wait for it. The updates themselves (git commands, files) are the caller's `perform` closure; this type
/// only coordinates them.
///
/// One runner process owns a mirror directory; two processes sharing one are not coordinated.
public actor MirrorCache {
    /// What a run asks of a mirror before it clones from it.
    public enum UpdateKind: Sendable {
        /// Fetch from upstream into the existing mirror (made first when missing).
        case refresh
        /// Remove the mirror and make it again (the last one failed).
        case rebuild
    }

    /// One update for `perform` to carry out.
    public struct Job: Sendable {
        /// The mirror's directory (may not exist yet).
        public let path: String
        public let kind: UpdateKind
        /// No workspace is being cloned from the mirror, and none will start before this update ends: safe
        /// for work that rewrites the object store (gc).
        public let exclusive: Bool
    }

    /// What an update found.
    public struct Update: Sendable {
        /// The mirror was made by this update rather than brought up to date.
        public var created: Bool
        /// The branch upstream's `HEAD` names, when it names one.
        public var defaultBranch: String?

        public init(created: Bool, defaultBranch: String?) {
            self.created = created
            self.defaultBranch = defaultBranch
        }
    }

    /// A mirror that is up to date and will not be removed until the lease is released.
    public struct Lease: Sendable {
        public let path: String
        public let update: Update
        let key: String
    }

    /// A mirror held as it is, without an update: it will not be rebuilt, repacked or removed until released.
    public struct Hold: Sendable {
        public let path: String
        let key: String
    }

    /// Why a run cannot use the cache at all (it then clones directly).
    public struct Unavailable: Error, Sendable, CustomStringConvertible {
        public let description: String
    }

    public let root: String
    public let maxBytes: Int
    private let logger: Logger
    private var entries: [String: Entry] = [:]
    /// Bytes and last use of the mirrors on disk, measured once and then kept up to date.
    private var sizes: [String: Int]?
    private var lastUsed: [String: Date] = [:]
    private var nextID = 0

    /// The name of the file in each mirror holding its normalised clone source; its modification time is the
    /// mirror's last use.
    public static let stampFile = "claude-runner-source"

    public init(root: String, maxBytes: Int, logger: Logger) {
        self.root = root
        self.maxBytes = maxBytes
        self.logger = logger
    }

    /// The mirror directory of `name`.
    public nonisolated func path(for name: MirrorName) -> String {
        (root as NSString).appendingPathComponent(name.directoryName)
    }

    /// Makes sure the mirror root is a real, writable directory (created when missing).
    /// - Throws: ``Unavailable`` naming the problem: a symbolic link (never followed), not a directory, cannot
    ///   be created, not writable (a read-only disk).
    public nonisolated func prepareRoot() throws(Unavailable) {
        var info = stat()
        if lstat(root, &info) == 0 {
            if (info.st_mode & S_IFMT) == S_IFLNK {
                throw Unavailable(description: "git.mirrorDir \(root) is a symbolic link; it is not followed")
            }
            guard (info.st_mode & S_IFMT) == S_IFDIR else {
                throw Unavailable(description: "git.mirrorDir \(root) is not a directory")
            }
        } else {
            do {
                try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
            } catch {
                throw Unavailable(description: "cannot create git.mirrorDir \(root): \(Self.reason(error))")
            }
        }
        guard access(root, W_OK) == 0 else {
            throw Unavailable(
                description: "git.mirrorDir \(root) is not writable: \(String(cString: strerror(errno)))")
        }
    }

    /// Brings the mirror `name` up to date (joining an update already in flight for the same source), runs
    /// `body` with it, and releases it, whatever happens.
    ///
    /// - Parameters:
    ///   - identity: The exact clone source (credentials included): only runs with the same one share an
    ///     update, so a run never gets a mirror fetched with credentials it did not give.
    ///   - perform: Carries out an update; it runs once for every run that shares it.
    /// - Throws: What `perform` or `body` threw; `CancellationError` when the caller is cancelled while
    ///   waiting (the shared update goes on for the others, or is stopped when nobody waits for it any more).
    public nonisolated func withLease<T: Sendable>(
        _ name: MirrorName, identity: String, kind: UpdateKind,
        perform: @escaping @Sendable (Job) async throws -> Update,
        _ body: (Lease) async throws -> T
    ) async throws -> T {
        let lease = try await acquire(name, identity: identity, kind: kind, perform: perform)
        do {
            let value = try await body(lease)
            await release(lease)
            return value
        } catch {
            await release(lease)
            throw error
        }
    }

    /// Holds the mirror `name` as it is now, so that a workspace can be cloned from it while an update runs
    /// (fetches only add objects and move refs; what could break a clone — a rebuild, gc, eviction — waits
    /// for the hold to be released with ``release(_:)``).
    /// - Returns: `nil` when the mirror does not exist or a rebuild of it is running or waiting.
    public func hold(_ name: MirrorName) -> Hold? {
        let key = name.directoryName
        let path = (root as NSString).appendingPathComponent(key)
        var entry = entries[key] ?? Entry()
        guard !entry.updates.contains(where: { $0.kind == .rebuild }), FileManager.default.fileExists(atPath: path)
        else { return nil }
        entry.leases += 1
        entries[key] = entry
        lastUsed[key] = Date()
        return Hold(path: path, key: key)
    }

    /// Ends a ``hold(_:)``.
    public func release(_ hold: Hold) {
        release(key: hold.key)
    }

    /// The total size of the mirrors now (measured on first use).
    public func totalBytes() -> Int {
        measuredSizes().values.reduce(0, +)
    }

    /// Measures the mirrors on disk (removing leftovers of interrupted creations), evicts beyond
    /// ``maxBytes`` and sets the `claude_runner_mirror_bytes` gauge: for start-up.
    public func measure() {
        evictIfNeeded()
    }

    // MARK: Coordination

    private struct Entry {
        /// Runs cloning from the mirror now.
        var leases = 0
        /// The update in flight (first, when it has a task) and those waiting to run, in order.
        var updates: [PendingUpdate] = []

        var isIdle: Bool { leases == 0 && updates.isEmpty }
    }

    /// An update and the runs waiting for it. Lives only inside the actor.
    private final class PendingUpdate {
        let id: Int
        let identity: String
        let kind: UpdateKind
        let perform: @Sendable (Job) async throws -> Update
        var waiters: [Int: CheckedContinuation<Lease, any Error>] = [:]
        var task: Task<Void, Never>?

        init(id: Int, identity: String, kind: UpdateKind, perform: @escaping @Sendable (Job) async throws -> Update) {
            self.id = id
            self.identity = identity
            self.kind = kind
            self.perform = perform
        }
    }

    private func acquire(
        _ name: MirrorName, identity: String, kind: UpdateKind,
        perform: @escaping @Sendable (Job) async throws -> Update
    ) async throws -> Lease {
        let key = name.directoryName
        var entry = entries[key] ?? Entry()
        let update: PendingUpdate
        if let shared = entry.updates.first(where: { candidate in
            candidate.identity == identity && (candidate.kind == .rebuild || kind == .refresh)
                // A running update that nobody waits for any more is being stopped.
                && !(candidate.task != nil && candidate.waiters.isEmpty)
        }) {
            update = shared
        } else {
            update = PendingUpdate(id: makeID(), identity: identity, kind: kind, perform: perform)
            entry.updates.append(update)
        }
        entries[key] = entry
        lastUsed[key] = Date()
        let waiterID = makeID()
        let updateID = update.id
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                update.waiters[waiterID] = continuation
                startNext(key)
            }
        } onCancel: {
            Task { await self.cancelWaiter(key: key, updateID: updateID, waiterID: waiterID) }
        }
    }

    private func release(_ lease: Lease) {
        release(key: lease.key)
    }

    private func release(key: String) {
        guard var entry = entries[key] else { return }
        entry.leases -= 1
        entries[key] = entry
        lastUsed[key] = Date()
        startNext(key)
        evictIfNeeded()
    }

    /// Starts the first waiting update of `key` when nothing runs for it and, for a rebuild, no lease is out.
    private func startNext(_ key: String) {
        guard var entry = entries[key] else { return }
        // Updates everyone stopped waiting for before they began are dropped.
        entry.updates.removeAll { $0.task == nil && $0.waiters.isEmpty }
        entries[key] = entry.isIdle ? nil : entry
        guard let next = entry.updates.first, next.task == nil else { return }
        if next.kind == .rebuild, entry.leases > 0 { return }
        let job = Job(
            path: (root as NSString).appendingPathComponent(key), kind: next.kind, exclusive: entry.leases == 0)
        let perform = next.perform
        let id = next.id
        next.task = Task {
            let result: Result<Update, any Error>
            do {
                result = .success(try await perform(job))
            } catch {
                result = .failure(error)
            }
            self.finish(key: key, updateID: id, result)
        }
    }

    private func finish(key: String, updateID: Int, _ result: Result<Update, any Error>) {
        guard var entry = entries[key], let index = entry.updates.firstIndex(where: { $0.id == updateID }) else {
            return
        }
        let update = entry.updates.remove(at: index)
        switch result {
        case .success(let value):
            entry.leases += update.waiters.count
            entries[key] = entry
            for continuation in update.waiters.values {
                continuation.resume(
                    returning: Lease(path: (root as NSString).appendingPathComponent(key), update: value, key: key))
            }
        case .failure(let error):
            entries[key] = entry
            for continuation in update.waiters.values { continuation.resume(throwing: error) }
        }
        update.waiters.removeAll()
        if sizes != nil {
            let path = (root as NSString).appendingPathComponent(key)
            sizes?[key] = FileManager.default.fileExists(atPath: path) ? Self.size(of: path) : nil
        }
        startNext(key)
        evictIfNeeded()
    }

    private func cancelWaiter(key: String, updateID: Int, waiterID: Int) {
        guard let entry = entries[key], let update = entry.updates.first(where: { $0.id == updateID }),
            let continuation = update.waiters.removeValue(forKey: waiterID)
        else { return }
        continuation.resume(throwing: CancellationError())
        if update.waiters.isEmpty {
            // Nobody needs this update any more: stop its git (the task ends through `finish`), or drop it.
            update.task?.cancel()
            startNext(key)
        }
    }

    private func makeID() -> Int {
        nextID += 1
        return nextID
    }

    // MARK: Eviction

    /// Removes least recently used mirrors, never one in use, until the total is within ``maxBytes``; sets
    /// the `claude_runner_mirror_bytes` gauge.
    private func evictIfNeeded() {
        var sizes = measuredSizes()
        var total = sizes.values.reduce(0, +)
        if total > maxBytes {
            let candidates = sizes.keys.filter { entries[$0] == nil }.sorted {
                (lastUsed[$0] ?? .distantPast, $0) < (lastUsed[$1] ?? .distantPast, $1)
            }
            for key in candidates where total > maxBytes {
                let path = (root as NSString).appendingPathComponent(key)
                do {
                    try FileManager.default.removeItem(atPath: path)
                } catch {
                    logger.warning(
                        "cannot remove mirror", metadata: ["mirror": "\(key)", "error": "\(Self.reason(error))"])
                    continue
                }
                total -= sizes[key] ?? 0
                logger.info(
                    "mirror evicted",
                    metadata: [
                        "mirror": "\(key)", "bytes": "\(sizes[key] ?? 0)", "git.mirror_max_bytes": "\(maxBytes)",
                    ])
                sizes[key] = nil
                lastUsed[key] = nil
            }
            self.sizes = sizes
        }
        RunMetrics.mirrorBytes(total)
    }

    /// The mirrors on disk and their sizes; measured once, then updated as mirrors change. A leftover of a
    /// creation that nobody is running (a crash) is removed on the way.
    private func measuredSizes() -> [String: Int] {
        if let sizes { return sizes }
        var sizes: [String: Int] = [:]
        for name in (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? [] {
            let path = (root as NSString).appendingPathComponent(name)
            var info = stat()
            guard lstat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else { continue }
            if name.hasSuffix(MirrorStaging.suffix) {
                let key = String(name.dropLast(MirrorStaging.suffix.count))
                if entries[key] == nil { try? FileManager.default.removeItem(atPath: path) }
                continue
            }
            guard name.hasSuffix(".git") else { continue }
            sizes[name] = Self.size(of: path)
            if lastUsed[name] == nil {
                let stampPath = (path as NSString).appendingPathComponent(Self.stampFile)
                let modified = [stampPath, path].lazy.compactMap {
                    (try? FileManager.default.attributesOfItem(atPath: $0))?[.modificationDate] as? Date
                }.first
                lastUsed[name] = modified ?? .distantPast
            }
        }
        self.sizes = sizes
        return sizes
    }

    /// Bytes in the files under `path`, not following symbolic links; 0 for a missing path.
    static func size(of path: String) -> Int {
        var info = stat()
        guard lstat(path, &info) == 0 else { return 0 }
        guard (info.st_mode & S_IFMT) == S_IFDIR else { return Int(info.st_size) }
        var total = 0
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: path) else { return 0 }
        for name in names {
            total += size(of: (path as NSString).appendingPathComponent(name))
        }
        return total
    }

    static func reason(_ error: any Error) -> String {
        let nsError = error as NSError
        if let underlying = nsError.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain
        {
            return String(cString: strerror(Int32(underlying.code)))
        }
        return nsError.localizedDescription
    }
}

/// Where a mirror is made before it is renamed into place, so that a half-made mirror is never used.
enum MirrorStaging {
    static let suffix = ".new"

    static func path(for mirror: String) -> String { mirror + suffix }
}
