import ClaudeRunner
import ClaudeRunnerTesting
import Foundation
import Synchronization
import Testing

/// The coordination rules of the mirror cache, with an update that writes files instead of running git.
@Suite("mirror cache coordination", .timeLimit(.minutes(2)))
struct MirrorCacheTests {
    /// Counts calls of an update and lets a test hold them until it says so.
    final class UpdateProbe: Sendable {
        let calls = Mutex(0)
        let running = Mutex(0)
        let maxRunning = Mutex(0)
        let bytes: Int
        let delay: Duration

        init(bytes: Int = 1000, delay: Duration = .milliseconds(300)) {
            self.bytes = bytes
            self.delay = delay
        }

        /// An update that makes the mirror directory with `bytes` in it, after `delay`.
        func perform(_ job: MirrorCache.Job) async throws -> MirrorCache.Update {
            calls.withLock { $0 += 1 }
            let now = running.withLock {
                $0 += 1
                return $0
            }
            maxRunning.withLock { $0 = max($0, now) }
            defer { running.withLock { $0 -= 1 } }
            try await Task.sleep(for: delay)
            let existed = FileManager.default.fileExists(atPath: job.path)
            try FileManager.default.createDirectory(atPath: job.path, withIntermediateDirectories: true)
            try Data(count: bytes).write(to: URL(fileURLWithPath: job.path + "/pack"))
            return .init(created: !existed, defaultBranch: "main")
        }

        var callCount: Int { calls.withLock { $0 } }
    }

    final class RebuildOrder: Sendable {
        let order = Mutex<[String]>([])
        let holding = Mutex(false)
    }

    func cache(_ directory: TemporaryDirectory, maxBytes: Int = 1 << 30) -> MirrorCache {
        MirrorCache(root: directory.appending("mirrors"), maxBytes: maxBytes, logger: RunnerFixture.logger)
    }

    @Test("concurrent runs of one repo share one update; each gets the mirror")
    func sharedUpdate() async throws {
        try await TemporaryDirectory.with("mirror-cache") { directory in
            let cache = cache(directory)
            try cache.prepareRoot()
            let probe = UpdateProbe()
            let name = MirrorName(cloneSource: "https://example.com/acme/widgets.git")
            let paths = try await withThrowingTaskGroup(of: String.self) { group in
                for _ in 0..<6 {
                    group.addTask {
                        try await cache.withLease(
                            name, identity: "https://example.com/acme/widgets.git", kind: .refresh,
                            perform: probe.perform
                        ) {
                            lease in
                            #expect(lease.update.created)
                            return lease.path
                        }
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(probe.callCount == 1)
            #expect(Set(paths) == [cache.path(for: name)])
            // The next run fetches again (one update per run, not per process).
            _ = try await cache.withLease(
                name, identity: "https://example.com/acme/widgets.git", kind: .refresh, perform: probe.perform
            ) { $0.path }
            #expect(probe.callCount == 2)
        }
    }

    @Test("different credentials for one mirror do not share an update")
    func credentialsDoNotShare() async throws {
        try await TemporaryDirectory.with("mirror-cache") { directory in
            let cache = cache(directory)
            try cache.prepareRoot()
            let probe = UpdateProbe()
            let name = MirrorName(cloneSource: "https://example.com/acme/widgets.git")
            try await withThrowingTaskGroup(of: Void.self) { group in
                for identity in ["https://example.com/acme/widgets.git", "https://u:p@example.com/acme/widgets.git"] {
                    group.addTask {
                        _ = try await cache.withLease(name, identity: identity, kind: .refresh, perform: probe.perform)
                        { $0.path }
                    }
                }
                try await group.waitForAll()
            }
            #expect(probe.callCount == 2)
            // One at a time for one mirror.
            #expect(probe.maxRunning.withLock { $0 } == 1)
        }
    }

    @Test("different repos update in parallel")
    func parallelRepos() async throws {
        try await TemporaryDirectory.with("mirror-cache") { directory in
            let cache = cache(directory)
            try cache.prepareRoot()
            // Long enough that the three overlap however late a loaded machine starts one of them.
            let probe = UpdateProbe(delay: .seconds(3))
            try await withThrowingTaskGroup(of: Void.self) { group in
                for repo in ["a", "b", "c"] {
                    group.addTask {
                        let source = "https://example.com/acme/\(repo).git"
                        _ = try await cache.withLease(
                            MirrorName(cloneSource: source), identity: source, kind: .refresh, perform: probe.perform
                        ) { $0.path }
                    }
                }
                try await group.waitForAll()
            }
            #expect(probe.maxRunning.withLock { $0 } == 3)
        }
    }

    @Test("least recently used mirrors go beyond maxBytes; one with a lease out never does")
    func eviction() async throws {
        try await TemporaryDirectory.with("mirror-cache") { directory in
            // Room for two mirrors of 1000 bytes.
            let cache = cache(directory, maxBytes: 2500)
            try cache.prepareRoot()
            let probe = UpdateProbe(bytes: 1000, delay: .milliseconds(10))
            func use(_ repo: String, while body: @Sendable () async throws -> Void = {}) async throws {
                let source = "https://example.com/acme/\(repo).git"
                _ = try await cache.withLease(
                    MirrorName(cloneSource: source), identity: source, kind: .refresh, perform: probe.perform
                ) { lease in try await body() }
            }
            func exists(_ repo: String) -> Bool {
                FileManager.default.fileExists(
                    atPath: cache.path(for: MirrorName(cloneSource: "https://example.com/acme/\(repo).git")))
            }
            try await use("a")
            try await use("b")
            try await use("a")
            try await use("c")
            // b was used least recently.
            #expect(exists("a") && !exists("b") && exists("c"))
            #expect(await cache.totalBytes() == 2000)

            // While a holds a lease, d and e come and go: a stays, however old.
            let tiny = MirrorCache(root: directory.appending("mirrors"), maxBytes: 1, logger: RunnerFixture.logger)
            let source = "https://example.com/acme/a.git"
            try await tiny.withLease(
                MirrorName(cloneSource: source), identity: source, kind: .refresh, perform: probe.perform
            ) { _ in
                for repo in ["d", "e"] {
                    let other = "https://example.com/acme/\(repo).git"
                    _ = try await tiny.withLease(
                        MirrorName(cloneSource: other), identity: other, kind: .refresh, perform: probe.perform
                    ) { $0.path }
                }
                #expect(exists("a"))
                #expect(!exists("d"))
            }
            // Released and over the limit: gone.
            #expect(!exists("a"))
        }
    }

    @Test("a mirror held while a warm workspace is cloned from it is never evicted, nor rebuilt; released, it goes")
    func holdBlocksEviction() async throws {
        try await TemporaryDirectory.with("mirror-cache") { directory in
            let probe = UpdateProbe(bytes: 1000, delay: .milliseconds(10))
            let a = "https://example.com/acme/a.git"
            let name = MirrorName(cloneSource: a)
            // Made by a cache with room for it; then a cache with room for nothing takes over the root.
            let roomy = cache(directory)
            try roomy.prepareRoot()
            _ = try await roomy.withLease(name, identity: a, kind: .refresh, perform: probe.perform) { $0.path }
            let tiny = cache(directory, maxBytes: 1)
            let path = tiny.path(for: name)
            #expect(await tiny.hold(MirrorName(cloneSource: "https://example.com/acme/missing.git")) == nil)
            let hold = try #require(await tiny.hold(name))
            #expect(hold.path == path)
            // Another repo comes and goes, and a's own refresh runs, while a is held: a stays.
            let d = "https://example.com/acme/d.git"
            _ = try await tiny.withLease(
                MirrorName(cloneSource: d), identity: d, kind: .refresh, perform: probe.perform
            ) { $0.path }
            _ = try await tiny.withLease(name, identity: a, kind: .refresh, perform: probe.perform) { $0.path }
            #expect(FileManager.default.fileExists(atPath: path))
            #expect(!FileManager.default.fileExists(atPath: tiny.path(for: MirrorName(cloneSource: d))))
            // A rebuild asked for meanwhile waits for the hold.
            let rebuilt = Mutex(false)
            let rebuild = Task {
                try await tiny.withLease(name, identity: a, kind: .rebuild, perform: probe.perform) { _ in
                    rebuilt.withLock { $0 = true }
                }
            }
            try await Task.sleep(for: .milliseconds(300))
            #expect(!rebuilt.withLock { $0 })
            #expect(probe.callCount == 3)
            #expect(FileManager.default.fileExists(atPath: path))
            await tiny.release(hold)
            try await rebuild.value
            #expect(probe.callCount == 4)
            // Nothing holds it any more and it is over the limit: gone.
            #expect(!FileManager.default.fileExists(atPath: path))
            #expect(await tiny.totalBytes() == 0)
        }
    }

    @Test("a rebuild waits until no lease is out; runs that arrive meanwhile wait for it")
    func rebuildWaitsForLeases() async throws {
        try await TemporaryDirectory.with("mirror-cache") { directory in
            let cache = cache(directory)
            try cache.prepareRoot()
            let probe = UpdateProbe(delay: .milliseconds(10))
            let source = "https://example.com/acme/widgets.git"
            let name = MirrorName(cloneSource: source)
            let state = RebuildOrder()
            let holder = Task {
                try await cache.withLease(name, identity: source, kind: .refresh, perform: probe.perform) { _ in
                    state.holding.withLock { $0 = true }
                    try await Task.sleep(for: .milliseconds(300))
                    state.order.withLock { $0.append("lease released") }
                }
            }
            try await eventually(timeout: .seconds(30), "the first lease") { state.holding.withLock { $0 } }
            let rebuild = Task {
                try await cache.withLease(name, identity: source, kind: .rebuild, perform: probe.perform) { _ in
                    state.order.withLock { $0.append("rebuilt") }
                }
            }
            try await holder.value
            try await rebuild.value
            #expect(probe.callCount == 2)
            #expect(state.order.withLock { $0 } == ["lease released", "rebuilt"])
        }
    }

    @Test("a run cancelled while it waits for a shared update leaves at once; the others still get the mirror")
    func cancelledWaiter() async throws {
        try await TemporaryDirectory.with("mirror-cache") { directory in
            let cache = cache(directory)
            try cache.prepareRoot()
            let probe = UpdateProbe(delay: .seconds(5))
            let source = "https://example.com/acme/widgets.git"
            let name = MirrorName(cloneSource: source)
            let patient = Task {
                try await cache.withLease(name, identity: source, kind: .refresh, perform: probe.perform) { $0.path }
            }
            let impatient = Task {
                try await cache.withLease(name, identity: source, kind: .refresh, perform: probe.perform) { $0.path }
            }
            // Both wait for the one update once it runs (on a loaded machine that can take a moment).
            try await eventually(timeout: .seconds(30), "the shared update") { probe.running.withLock { $0 } == 1 }
            try await Task.sleep(for: .milliseconds(100))
            impatient.cancel()
            await #expect(throws: CancellationError.self) { try await impatient.value }
            // It left while the shared update was still going (it takes 5 s), not when it ended.
            #expect(probe.running.withLock { $0 } == 1)
            #expect(try await patient.value == cache.path(for: name))
            #expect(probe.callCount == 1)
        }
    }

    @Test("the mirror root must be a real, writable directory")
    func unusableRoot() throws {
        try TemporaryDirectory.withSync { directory in
            let target = directory.appending("elsewhere")
            try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
            let link = directory.appending("link")
            try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: target)
            let linked = MirrorCache(root: link, maxBytes: 1, logger: RunnerFixture.logger)
            #expect(throws: MirrorCache.Unavailable.self) { try linked.prepareRoot() }

            let file = directory.appending("file")
            try Data("x".utf8).write(to: URL(fileURLWithPath: file))
            let underFile = MirrorCache(root: file + "/mirrors", maxBytes: 1, logger: RunnerFixture.logger)
            do {
                try underFile.prepareRoot()
                Issue.record("a mirror root under a regular file was accepted")
            } catch let error as MirrorCache.Unavailable {
                #expect(error.description.contains("cannot create git.mirrorDir"))
            }
        }
    }
}
