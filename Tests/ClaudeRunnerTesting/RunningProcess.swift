import ClaudeRunner
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A long-running process under test (the `claude-runner` daemon): started in the background, its output
/// collected, signalled and awaited by the test.
public final class RunningProcess: Sendable {
    private let task: Task<ProcessExit, any Error>
    private let collector: OutputCollector
    private let pidBox = PIDBox()

    public init(_ executable: String, _ arguments: [String], environment: [String: String?] = [:]) {
        let collector = OutputCollector(limit: 8 << 20)
        let pidBox = pidBox
        self.collector = collector
        self.task = Task {
            // Reaped: its pid may be another process's from now on, and is never signalled again.
            defer { pidBox.end() }
            return try await ChildProcess.run(
                ProcessSpec(executable: executable, arguments: arguments, environment: environment),
                onStart: { pidBox.set($0) }
            ) { collector.record($0) }
        }
    }

    public var standardError: String { get async { collector.standardError.text } }
    public var standardOutput: String { get async { collector.standardOutput.text } }

    /// Waits until stderr contains `text`.
    /// A liveness bound: a debug build starting beside the whole suite on two cores can take seconds. A timeout
    /// names the process's state (or that it ended) and the end of its log.
    public func waitFor(_ text: String, timeout: Duration = .seconds(60)) async throws {
        do {
            // Its output is all collected once it has ended: then it is not coming.
            try await eventually(timeout: timeout, "\"\(text)\" in the process's log") {
                await self.standardError.contains(text) || self.pidBox.hasEnded
            }
        } catch let failure as Command.Failure {
            let state = pidBox.hasEnded ? "it has ended" : pidBox.value.map(processState) ?? "not started yet"
            throw Command.Failure(
                description: "\(failure.description) after \(timeout) (\(state)); stderr: "
                    + "\(await standardError.suffix(2000))")
        }
        guard await standardError.contains(text) else {
            throw Command.Failure(
                description: "the process ended without \"\(text)\" in its log; stderr: "
                    + "\(await standardError.suffix(2000))")
        }
    }

    /// Sends `signal` to the process. The pid is known once its start has been reported, which on a loaded
    /// machine can come after the process has begun its work: this waits for it (up to a minute) rather than
    /// sending nothing.
    public func signal(_ signal: Int32) async {
        let deadline = ContinuousClock.now + .seconds(60)
        while pidBox.value == nil, !pidBox.hasEnded, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
        pidBox.signal(signal)
    }

    /// How the process ended (waits for it).
    public var exit: ProcessExit { get async throws { try await task.value } }

    /// Whether it has ended.
    public var hasExited: Bool {
        if pidBox.hasEnded { return true }
        guard let pid = pidBox.value else { return false }
        return !processIsAlive(pid)
    }

    /// Stops the process if it is still running (end of a test).
    public func stop() async {
        await signal(SIGKILL)
        _ = try? await task.value
    }
}

private final class PIDBox: @unchecked Sendable {
    // A single value behind a lock.
    private let lock = NSLock()
    private var stored: Int32?
    private var ended = false
    func set(_ value: Int32) { lock.withLock { stored = value } }
    var value: Int32? { lock.withLock { stored } }
    var hasEnded: Bool { lock.withLock { ended } }
    func end() { lock.withLock { ended = true } }

    /// Sends `signal` to the process unless it has been reaped (a test that stops a server twice, or one that
    /// has died, must not hit whatever process got its pid since).
    func signal(_ signal: Int32) {
        lock.withLock {
            if !ended, let pid = stored { _ = kill(pid, signal) }
        }
    }
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
public func freeLoopbackPort() throws -> Int {
    let (descriptor, port) = try boundLoopbackSocket()
    close(descriptor)
    return port
}

/// A socket listening on 127.0.0.1 that never accepts: the kernel completes TCP handshakes and then
/// nothing answers (a stalled peer). Close the descriptor when done.
public func silentLoopbackListener() throws -> (descriptor: Int32, port: Int) {
    let (descriptor, port) = try boundLoopbackSocket()
    guard listen(descriptor, 8) == 0 else {
        close(descriptor)
        throw Command.Failure(description: "listen() failed")
    }
    return (descriptor, port)
}

private func boundLoopbackSocket() throws -> (Int32, Int) {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard descriptor >= 0 else { throw Command.Failure(description: "socket() failed") }
    var address = loopbackAddress(port: 0)
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
            bind(descriptor, pointer, length) == 0 && getsockname(descriptor, pointer, &length) == 0
        }
    }
    guard bound else {
        close(descriptor)
        throw Command.Failure(description: "bind() failed")
    }
    return (descriptor, Int(UInt16(bigEndian: address.sin_port)))
}

/// Opens a TCP connection to 127.0.0.1:`port` and closes it at once (with a reset): whether the connect
/// succeeded within 100 ms (a listener whose backlog is full drops the handshake, and the kernel would retry
/// for seconds).
public func connectAndClose(port: Int) -> Bool {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard descriptor >= 0 else { return false }
    defer { close(descriptor) }
    var limit = timeval(tv_sec: 0, tv_usec: 100_000)
    _ = setsockopt(descriptor, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
    // Closed with a reset: no TIME_WAIT left behind to use up ports when this is called in a loop.
    var reset = linger(l_onoff: 1, l_linger: 0)
    _ = setsockopt(descriptor, SOL_SOCKET, SO_LINGER, &reset, socklen_t(MemoryLayout<linger>.size))
    var address = loopbackAddress(port: port)
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
        }
    }
}

/// 127.0.0.1:`port` as the socket calls take it.
private func loopbackAddress(port: Int) -> sockaddr_in {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = UInt16(port).bigEndian
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    return address
}
