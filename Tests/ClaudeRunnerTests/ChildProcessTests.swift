import ClaudeRunner
import ClaudeRunnerTesting
import Foundation
import Synchronization
import Testing

@Suite("running child processes", .timeLimit(.minutes(3)))
struct ChildProcessTests {
    @Test("stdin is /dev/null: a child that reads stdin sees end-of-file at once")
    func stdinIsDevNull() async throws {
        let collector = OutputCollector(limit: 1024)
        let exit = try await ChildProcess.run(ProcessSpec(executable: "cat", arguments: [])) {
            collector.record($0)
        }
        #expect(exit == .exited(0))
        #expect(collector.standardOutput.totalCount == 0)
    }

    // How much memory a 50 MB run takes is a figure for a benchmark, not for a unit test that shares its
    // process with the rest of a parallel suite; this test checks what is bounded: the bytes kept.
    @Test("stdout and stderr are read concurrently: 50 MB on each cannot deadlock; only the cap's worth is kept")
    func largeOutput() async throws {
        let collector = OutputCollector(limit: 1 << 20)
        let script = "head -c 52428800 /dev/zero; head -c 52428800 /dev/zero >&2; echo done >&2"
        let exit = try await ChildProcess.run(ProcessSpec(executable: "sh", arguments: ["-c", script])) {
            collector.record($0)
        }
        #expect(exit == .exited(0))
        let stdout = collector.standardOutput
        let stderr = collector.standardError
        #expect(stdout.totalCount == 52_428_800)
        #expect(stdout.bytes.count == 1 << 20)
        #expect(stdout.isTruncated)
        #expect(stdout.bytes.allSatisfy { $0 == 0 })
        #expect(stderr.totalCount == 52_428_805)
        #expect(stderr.bytes.count == 1 << 20)
        #expect(stderr.isTruncated)
    }

    @Test("exit statuses and signals are described as Go's os/exec does")
    func exitDescriptions() async throws {
        let exit = try await ChildProcess.run(ProcessSpec(executable: "sh", arguments: ["-c", "exit 3"])) { _ in }
        #expect(exit == .exited(3))
        #expect(exit.description == "exit status 3")
        let killed = try await ChildProcess.run(ProcessSpec(executable: "sh", arguments: ["-c", "kill -9 $$"])) { _ in }
        #expect(killed.description == "signal: killed")
    }

    @Test("the child inherits no descriptor but 0, 1 and 2, no ignored or blocked signal, and its own directory")
    func cleanStart() async throws {
        // A descriptor of the runner's without close-on-exec, and a signal the runner ignores, as the service
        // lifecycle's signal handling does with SIGTERM and SIGINT.
        let leaked = open("/dev/null", O_RDONLY)
        defer { close(leaked) }
        let previous = signal(SIGUSR2, SIG_IGN)
        defer { signal(SIGUSR2, previous) }
        let collector = OutputCollector(limit: 1 << 16)
        // `ls` lists the shell's descriptors from outside it (a glob in the shell would open one of its own);
        // the shell reads its own signal masks with a builtin, because a shell that forks blocks every signal
        // for a moment around the fork, which a child reading them could see.
        let script = #"""
            ls /proc/$$/fd
            while read -r name value; do case $name in SigIgn:|SigBlk:) printf '%s\t%s\n' "$name" "$value";; esac; done < /proc/$$/status
            pwd -P
            """#
        let exit = try await ChildProcess.run(
            ProcessSpec(executable: "sh", arguments: ["-c", script], workingDirectory: "/tmp")
        ) { collector.record($0) }
        #expect(exit == .exited(0))
        let lines = collector.standardOutput.text.split(separator: "\n").map(String.init)
        #expect(Array(lines.prefix(3)) == ["0", "1", "2"], "\(lines)")
        #expect(lines.count == 6, "\(lines)")
        // Signals 1 to 31; above them glibc keeps two for itself, which no program can change.
        func standardSignals(_ line: String) -> UInt64? {
            UInt64(line.split(separator: "\t").last ?? "", radix: 16).map { $0 & 0x7FFF_FFFF }
        }
        #expect(lines.first { $0.hasPrefix("SigIgn") }.flatMap(standardSignals) == 0, "\(lines)")
        #expect(lines.first { $0.hasPrefix("SigBlk") }.flatMap(standardSignals) == 0, "\(lines)")
        #expect(lines.last == "/tmp")
    }

    @Test("a child whose pipe is held by a process outside its group still ends once it has exited")
    func pipeHeldOutsideTheGroup() async throws {
        let collector = OutputCollector(limit: 1 << 16)
        let started = ContinuousClock.now
        // `setsid` takes the sleep out of the child's group, so killing the group cannot close its stdout.
        let script = "setsid sleep 30 & echo $!; echo started"
        let exit = try await ChildProcess.run(ProcessSpec(executable: "sh", arguments: ["-c", script])) {
            collector.record($0)
        }
        #expect(exit == .exited(0))
        #expect(ContinuousClock.now - started < .seconds(20))
        let lines = collector.standardOutput.text.split(separator: "\n")
        #expect(lines.last == "started")
        if let first = lines.first, let sleeper = Int32(first) { _ = kill(sleeper, SIGKILL) }
    }

    @Test("a missing executable is a launch error naming it")
    func missingExecutable() async throws {
        let error = try await #require(throws: ChildProcess.LaunchError.self) {
            try await ChildProcess.run(ProcessSpec(executable: "no-such-claude-binary", arguments: [])) { _ in }
        }
        #expect(error.description.contains("no-such-claude-binary"))
    }

    @Test("an executable whose #! interpreter is missing is a launch error in Go's words, not \"not found\"")
    func missingInterpreter() async throws {
        try await TemporaryDirectory.with("interpreter") { directory in
            let script = directory.path + "/orphan-script"
            try "#!/no/such/interpreter\necho never\n".write(toFile: script, atomically: true, encoding: .utf8)
            chmod(script, 0o755)
            let error = try await #require(throws: ChildProcess.LaunchError.self) {
                try await ChildProcess.run(ProcessSpec(executable: script, arguments: [])) { _ in }
            }
            #expect(error.description == "fork/exec \(script): no such file or directory")
        }
    }

    @Test("cancelling the run ends the whole process group, even a child that ignores SIGTERM")
    func cancellationKillsGroup() async throws {
        try await TemporaryDirectory.with("cancel") { directory in
            let claude = try FakeClaude(in: directory.path, ["DELAY": "60", "IGNORE_TERM": "1", "SPAWN_CHILD": "1"])
            let spec = ProcessSpec(
                executable: claude.executable, arguments: ["-p", "x"], terminationGrace: .milliseconds(500))
            let run = Task { try await ChildProcess.run(spec) { _ in } }
            try await claude.waitUntilStarted()
            try await eventually("child pid") { claude.childProcessID != nil }
            let pid = try #require(claude.processID)
            let child = try #require(claude.childProcessID)
            #expect(processIsAlive(pid))
            #expect(processIsAlive(child))
            let started = ContinuousClock.now
            run.cancel()
            await #expect(throws: CancellationError.self) { try await run.value }
            // The fake sleeps 60 s: well under that means the grace period and SIGKILL ended it, not its own end.
            #expect(ContinuousClock.now - started < .seconds(30))
            try await eventually("processes gone") { !processIsAlive(pid) && !processIsAlive(child) }
        }
    }

    @Test("what a finished child leaves running in its group is killed")
    func stragglersKilled() async throws {
        try await TemporaryDirectory.with("straggler") { directory in
            let claude = try FakeClaude(in: directory.path, ["SPAWN_CHILD": "1"])
            let exit = try await ChildProcess.run(ProcessSpec(executable: claude.executable, arguments: [])) { _ in }
            #expect(exit == .exited(0))
            let child = try #require(claude.childProcessID)
            try await eventually("background child gone") { !processIsAlive(child) }
        }
    }

    @Test("a watchdog is asked again after output: an idle limit stops a child only once it has gone quiet")
    func watchdogAfterOutput() async throws {
        let collector = OutputCollector(limit: 1 << 16)
        let stoppedAt = LockedBox<ContinuousClock.Instant?>(nil)
        // Generous: each line's `sleep` is a process start, which takes long on a loaded machine.
        let idle: Duration = .seconds(3)
        // Ten lines 200 ms apart (each well within the idle limit), then silence.
        let script = "for i in 1 2 3 4 5 6 7 8 9 10; do echo $i; sleep 0.2; done; sleep 60"
        let spec = ProcessSpec(
            executable: "sh", arguments: ["-c", script], terminationGrace: .milliseconds(300),
            watchdog: { now in
                let quietSince = collector.lastActivity
                guard now - quietSince < idle else {
                    stoppedAt.value = now
                    return nil
                }
                return quietSince + idle
            })
        let started = ContinuousClock.now
        let exit = try await ChildProcess.run(spec) { collector.record($0) }
        #expect(exit == .signaled(SIGTERM))
        #expect(collector.standardOutput.text == (1...10).map { "\($0)\n" }.joined())
        let stopped = try #require(stoppedAt.value)
        // Stopped after the last line, not within the first two seconds of output.
        #expect(stopped - started >= .seconds(2))
        #expect(ContinuousClock.now - started < .seconds(30))
    }

    @Test("a child that closes its stdout and goes on is waited for, and its own exit status reported")
    func closedOutputThenExit() async throws {
        let collector = OutputCollector(limit: 1 << 16)
        let script = "echo before; exec 1>&-; sleep 0.5; echo after >&2; exit 7"
        let exit = try await ChildProcess.run(ProcessSpec(executable: "sh", arguments: ["-c", script])) {
            collector.record($0)
        }
        #expect(exit == .exited(7))
        #expect(collector.standardOutput.text == "before\n")
        #expect(collector.standardError.text == "after\n")
    }

    @Test("many children at once: each gets exactly its own output and exit status")
    func manyChildren() async throws {
        let results = try await withThrowingTaskGroup(of: (Int, ProcessExit, String, String).self) { group in
            for n in 0..<24 {
                group.addTask {
                    let collector = OutputCollector(limit: 1 << 20)
                    // Enough output to take several reads, on both streams.
                    let script =
                        "i=0; while [ $i -lt 300 ]; do echo \"$1 line $i\"; i=$((i+1)); done; echo \"$1 done\" >&2; exit $(($1 % 5))"
                    let exit = try await ChildProcess.run(
                        ProcessSpec(executable: "sh", arguments: ["-c", script, "sh", String(n)])
                    ) { collector.record($0) }
                    return (n, exit, collector.standardOutput.text, collector.standardError.text)
                }
            }
            var results: [(Int, ProcessExit, String, String)] = []
            for try await result in group { results.append(result) }
            return results
        }
        #expect(results.count == 24)
        for (n, exit, output, errors) in results {
            #expect(exit == .exited(Int32(n % 5)))
            #expect(output == (0..<300).map { "\(n) line \($0)\n" }.joined())
            #expect(errors == "\(n) done\n")
        }
    }

    @Test(
        "a relative executable path is the runner's, not the working directory's; PATH given to the child is searched")
    func executableLookup() async throws {
        try await TemporaryDirectory.with("lookup") { directory in
            let bin = directory.path + "/bin"
            try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
            let tool = bin + "/only-here"
            try "#!/bin/sh\necho found $0\n".write(toFile: tool, atomically: true, encoding: .utf8)
            chmod(tool, 0o755)
            let collector = OutputCollector(limit: 1 << 16)
            let exit = try await ChildProcess.run(
                ProcessSpec(
                    executable: "only-here", arguments: [], workingDirectory: "/",
                    environment: ["PATH": bin + ":/usr/bin:/bin"])
            ) { collector.record($0) }
            #expect(exit == .exited(0))
            #expect(collector.standardOutput.text == "found \(tool)\n")
            // Not on the runner's own PATH.
            await #expect(throws: ChildProcess.LaunchError.self) {
                try await ChildProcess.run(ProcessSpec(executable: "only-here", arguments: [])) { _ in }
            }
            let relative = relativePath(to: tool)
            #expect(!relative.hasPrefix("/"))
            let fromRunner = OutputCollector(limit: 1 << 16)
            let ran = try await ChildProcess.run(
                ProcessSpec(executable: relative, arguments: [], workingDirectory: "/")
            ) { fromRunner.record($0) }
            #expect(ran == .exited(0))
            #expect(fromRunner.standardOutput.text.hasSuffix("/only-here\n"))
        }
    }

    @Test("a slow output handler slows its own child (the pipe fills), never another child, and loses nothing")
    func slowHandler() async throws {
        try await TemporaryDirectory.with("slow-handler") { directory in
            let written = directory.path + "/written"
            let total = 8 << 20
            // Once past 1 MiB the handler (by then on the thread pool) is held until the test lets it go.
            let held = HeldHandler()
            defer { held.release() }
            // How much the handler had been handed when the child's last write returned: with reading paused
            // while more than 1 MiB waits, the child cannot get ahead of its handler by much more than that.
            let state = Mutex((received: 0, receivedWhenWritten: -1, otherChunks: 0))
            let expected = [UInt8](repeating: UInt8(ascii: "a"), count: 1 << 16)
            let script = "head -c \(total) /dev/zero | tr '\\0' 'a'; : > \"$0\""
            let slow = Task {
                try await ChildProcess.run(ProcessSpec(executable: "sh", arguments: ["-c", script, written])) { event in
                    guard case .standardOutput(let bytes) = event else { return }
                    let seen = access(written, F_OK) == 0
                    let received = state.withLock { state in
                        if seen, state.receivedWhenWritten < 0 { state.receivedWhenWritten = state.received }
                        state.received += bytes.count
                        if bytes.count > expected.count || memcmp(bytes, expected, bytes.count) != 0 {
                            state.otherChunks += 1
                        }
                        return state.received
                    }
                    if received > 1 << 20 { held.wait() }
                }
            }
            try await eventually(timeout: .seconds(30), "the slow child's handler to be held") { held.isHolding }

            // Another child starts, prints and ends while that handler is held.
            let quick = OutputCollector(limit: 1024)
            let quickExit = try await ChildProcess.run(ProcessSpec(executable: "echo", arguments: ["quick"])) {
                quick.record($0)
            }
            #expect(quickExit == .exited(0))
            #expect(quick.standardOutput.text == "quick\n")
            #expect(!held.gaveUp, "the quick child only ended once the held handler gave up waiting")
            // The held child cannot write all of its output: its pipe is no longer read.
            try await Task.sleep(for: .seconds(1))
            #expect(access(written, F_OK) != 0, "the child wrote everything while its handler was held")

            held.release()
            #expect(try await slow.value == .exited(0))
            let end = state.withLock { $0 }
            #expect(end.received == total)
            #expect(end.otherChunks == 0, "output that is not what the child printed")
            // -1: the handler had it all before the child was done (a child slower than the handler).
            let handedWhenWritten = end.receivedWhenWritten < 0 ? total : end.receivedWhenWritten
            #expect(handedWhenWritten >= total - (3 << 20), "handed \(handedWhenWritten) bytes when all was written")
        }
    }

    @Test("a working directory that does not exist is a launch error naming it, and nothing runs")
    func missingWorkingDirectory() async throws {
        let error = try await #require(throws: ChildProcess.LaunchError.self) {
            try await ChildProcess.run(
                ProcessSpec(executable: "sh", arguments: ["-c", "exit 0"], workingDirectory: "/no/such/dir")
            ) { _ in }
        }
        #expect(error.description.contains("cannot change to directory /no/such/dir"))
    }
}

/// A path to `target` relative to the current directory (through `..` as needed).
private func relativePath(to target: String) -> String {
    let here = FileManager.default.currentDirectoryPath.split(separator: "/")
    let there = target.split(separator: "/")
    var common = 0
    while common < min(here.count, there.count), here[common] == there[common] { common += 1 }
    return (Array(repeating: "..", count: here.count - common) + there[common...].map(String.init)).joined(
        separator: "/")
}

/// A value the watchdog (on the process monitor's thread) and the test share.
private final class LockedBox<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    var value: Value {
        get { mutex.withLock { $0 } }
        set { mutex.withLock { $0 = newValue } }
    }
}

/// An output handler's wait, held until released (at most 30 s, so that a failing test never keeps a thread of
/// the shared pool for ever).
private final class HeldHandler: Sendable {
    private let state = Mutex((holding: false, released: false, gaveUp: false))

    var isHolding: Bool { state.withLock { $0.holding } }
    var gaveUp: Bool { state.withLock { $0.gaveUp } }

    func wait() {
        let deadline = ContinuousClock.now + .seconds(30)
        state.withLock { $0.holding = true }
        // Given up once: never again (the output left must not take another 30 s a chunk).
        while !state.withLock({ $0.released || $0.gaveUp }) {
            guard ContinuousClock.now < deadline else {
                state.withLock { $0.gaveUp = true }
                return
            }
            usleep(1000)
        }
    }

    func release() {
        state.withLock { $0.released = true }
    }
}
