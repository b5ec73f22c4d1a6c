import ClaudeRunner
import ClaudeRunnerTesting
import Foundation
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
}
