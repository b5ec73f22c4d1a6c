import ClaudeRunner
import ClaudeRunnerTesting
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite("git command deadlines", .timeLimit(.minutes(2)))
struct GitCommandDeadlineTests {
    let git = Git(allowedProtocols: ["http"], redactor: Redactor(), terminationGrace: .seconds(1), timeout: .seconds(1))

    @Test("a clone from a peer that accepts and never answers ends at the deadline, naming the command")
    func cloneTimesOut() async throws {
        let (descriptor, port) = try silentLoopbackListener()
        defer { close(descriptor) }
        try await TemporaryDirectory.with("git-deadline") { directory in
            let started = ContinuousClock.now
            let failure = try await #require(throws: Git.Failure.self) {
                try await git.clone(
                    source: "http://127.0.0.1:\(port)/acme/widgets.git", into: directory.appending("ws"), ref: nil,
                    shallow: true, logger: RunnerFixture.logger)
            }
            #expect(failure.description == "git clone timed out after 1s")
            #expect(failure.timedOut)
            // Generous: the test process shares two cores with every other suite, but a hung remote never ends.
            #expect(ContinuousClock.now - started < .seconds(45))
            let leftovers = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
            let stillRunning = leftovers.filter { $0.allSatisfy(\.isNumber) }.filter { pid in
                let cmdline = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") ?? Data()
                return String(decoding: cmdline, as: UTF8.self).contains("127.0.0.1:\(port)")
            }
            #expect(stillRunning.isEmpty)
        }
    }

    @Test("a caller that is cancelled gets CancellationError at once, not a timeout")
    func cancellation() async throws {
        let (descriptor, port) = try silentLoopbackListener()
        defer { close(descriptor) }
        let slow = Git(
            allowedProtocols: ["http"], redactor: Redactor(), terminationGrace: .seconds(1), timeout: .seconds(600))
        try await TemporaryDirectory.with("git-cancel") { directory in
            let clone = Task {
                try await slow.clone(
                    source: "http://127.0.0.1:\(port)/acme/widgets.git", into: directory.appending("ws"), ref: nil,
                    shallow: true, logger: RunnerFixture.logger)
            }
            try await Task.sleep(for: .milliseconds(300))
            let cancelled = ContinuousClock.now
            clone.cancel()
            await #expect(throws: CancellationError.self) { try await clone.value }
            // Long before the 10 minute deadline.
            #expect(ContinuousClock.now - cancelled < .seconds(45))
        }
    }
}
