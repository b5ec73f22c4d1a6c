import CChildProcess
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// The one thread that starts every child, reads its stdout and stderr, notices when it exits, and stops
/// process groups (on cancel, on a watchdog's word, SIGKILL after the grace).
///
/// Starting a child here keeps the wait for the child's exec (`cr_spawn`: a fraction of a millisecond, much
/// more on a loaded machine) off the event loops and the task threads, which would otherwise stall every
/// connection on them while it lasts. This thread leaves SIGCHLD unblocked, so that a child's exit signal,
/// at its default action, is dropped as it is raised instead of waking another thread of the runner. A child
/// is then watched through epoll: its two pipes and its pidfd. Output is handed to the child's handler as it
/// is read, on this thread; when the pidfd says the child has exited, its group is killed (the zombie still
/// holds the group id, so no other process can have it), what is left in the pipes is read, and the child is
/// reaped and its waiting task resumed. Every signal and every `waitpid` happens on this thread, so a pid is
/// never signalled after it was reaped. On a kernel without pidfd the exit is polled instead.
///
/// Other threads talk to it through a small inbox (children to start, stop requests) and an eventfd that
/// wakes it.
final class ProcessMonitor: Sendable {
    static let shared = ProcessMonitor()

    /// Makes sure descriptors 0–2 are open (on `/dev/null` when the runner was started without them), so
    /// that a pipe is never one of them; evaluated once, before the first child starts.
    static let ensureStandardDescriptors: Void = {
        for descriptor: Int32 in 0...2 where fcntl(descriptor, F_GETFD) == -1 {
            _ = open("/dev/null", O_RDWR)
        }
    }()

    /// A child to start, and who to tell about it.
    struct Start: Sendable {
        var spec: ProcessSpec
        var onStart: @Sendable (Int32) -> Void
        var onOutput: @Sendable (ProcessOutputEvent) -> Void
        var child: MonitoredChild
    }

    private struct Inbox {
        var starts: [Start] = []
        var stops: [UInt64] = []
        /// Children whose output queue has gone down: their pipes are read again.
        var resumes: [UInt64] = []
    }

    private let epoll: Int32
    private let wakeDescriptor: Int32
    private let inbox = Mutex(Inbox())

    /// How often the watchdog of a child whose output is handled on the thread pool is asked (it sees what
    /// the handler did within that time).
    static let offloadedLook: Duration = .milliseconds(250)
    /// How often the exit of a child without a pidfd is polled.
    static let exitPollInterval: Duration = .milliseconds(20)
    /// The most read from a pipe after its child exited (someone outside the group may hold it open).
    static let maxDrainReads = 32
    static let readSize = 1 << 16
    private static let wakeToken: UInt64 = 0
    /// EPOLLIN.
    private static let readable: UInt32 = 0x001

    private init() {
        epoll = cr_epoll_create()
        wakeDescriptor = cr_eventfd()
        precondition(epoll >= 0 && wakeDescriptor >= 0, "process monitor: epoll or eventfd unavailable")
        _ = cr_epoll_add(epoll, wakeDescriptor, Self.readable, Self.wakeToken)
        let thread = Thread { [self] in
            // The kernel's name of the thread (in `top -H`, `perf`), not only Foundation's.
            cr_name_thread("process-monitor")
            cr_unblock_child_signal()
            var loop = MonitorLoop(monitor: self)
            loop.run()
        }
        thread.name = "process-monitor"
        thread.start()
    }

    /// Starts a child; its ``MonitoredChild`` hears of its end, or of why it could not start.
    func start(_ start: Start) {
        inbox.withLock { $0.starts.append(start) }
        wake()
    }

    /// Stops `child`'s process group: SIGTERM, then SIGKILL after its grace (nothing if it has ended; a child
    /// not started yet is never started).
    func stop(_ child: MonitoredChild) {
        child.requestStop()
        inbox.withLock { $0.stops.append(child.token) }
        wake()
    }

    /// A paused child's queued output has been taken: read its pipes again.
    fileprivate func resume(_ token: UInt64) {
        inbox.withLock { $0.resumes.append(token) }
        wake()
    }

    private func wake() {
        var one: UInt64 = 1
        _ = write(wakeDescriptor, &one, 8)
    }

    fileprivate enum Stream: UInt64 {
        case standardOutput = 0, standardError = 1, exit = 2

        /// The epoll key of this descriptor of the child `token` (the stream in the low two bits).
        func key(_ token: UInt64) -> UInt64 { token << 2 | rawValue }
    }

    /// The thread's side: the children it watches, owned by the thread alone.
    private struct MonitorLoop {
        let monitor: ProcessMonitor
        var children: [UInt64: Child] = [:]
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: ProcessMonitor.readSize, alignment: 16)

        /// One running child as the thread sees it, with the runner's ends of its descriptors.
        final class Child {
            let start: Start
            let pid: Int32
            var standardOutput: Int32
            var standardError: Int32
            var processDescriptor: Int32
            var nextCheck: ContinuousClock.Instant?
            /// When the watchdog of a child whose handler runs elsewhere is next asked, whatever else happens.
            var nextLook = ContinuousClock.now
            var killAt: ContinuousClock.Instant?
            var stopping = false
            /// Output still handed to the handler on this thread, before it goes to ``delivery``.
            var inlineBytesLeft = OutputDelivery.inlineBytes
            let delivery: OutputDelivery
            /// Its pipes are not read until the queued output goes down.
            var paused = false

            init(_ start: Start, _ started: ChildProcess.Started, monitor: ProcessMonitor) {
                self.start = start
                self.pid = started.pid
                self.standardOutput = started.standardOutput
                self.standardError = started.standardError
                self.processDescriptor = started.processDescriptor
                let token = start.child.token
                self.delivery = OutputDelivery(child: start.child, onOutput: start.onOutput) { [monitor] in
                    monitor.resume(token)
                }
            }

            var token: UInt64 { start.child.token }
        }

        mutating func run() {
            var data = [UInt64](repeating: 0, count: 64)
            var events = [UInt32](repeating: 0, count: 64)
            while true {
                takeInbox()
                let count = cr_epoll_wait(monitor.epoll, &data, &events, Int32(data.count), timeout(now: .now))
                // Never expected (the set and its buffers are the thread's own): not a hot loop if it happens.
                if count < 0 { usleep(10_000) }
                for index in 0..<max(Int(count), 0) {
                    let token = data[index] >> 2
                    if token == ProcessMonitor.wakeToken {
                        var value: UInt64 = 0
                        _ = read(monitor.wakeDescriptor, &value, 8)
                        continue
                    }
                    // A child reaped earlier in this batch can still have an event in it.
                    guard let child = children[token] else { continue }
                    switch Stream(rawValue: data[index] & 3) {
                    case .standardOutput: readAvailable(child, .standardOutput, draining: false)
                    case .standardError: readAvailable(child, .standardError, draining: false)
                    case .exit: reap(child, waiting: true)
                    case nil: break
                    }
                }
                checkTimers(now: .now)
            }
        }

        /// The epoll timeout until the earliest deadline of a child (-1: none).
        func timeout(now: ContinuousClock.Instant) -> Int32 {
            var soonest: ContinuousClock.Instant?
            for child in children.values {
                for deadline in [child.nextCheck, child.killAt].compactMap({ $0 }) {
                    soonest = min(soonest ?? deadline, deadline)
                }
                if child.processDescriptor < 0 {
                    let poll = now + ProcessMonitor.exitPollInterval
                    soonest = min(soonest ?? poll, poll)
                }
                // Its handler runs elsewhere now: the watchdog sees what it did within a quarter second.
                if child.inlineBytesLeft <= 0, child.start.spec.watchdog != nil, !child.stopping {
                    soonest = min(soonest ?? child.nextLook, child.nextLook)
                }
            }
            guard let soonest else { return -1 }
            let wait = soonest - now
            if wait <= .zero { return 0 }
            let milliseconds = wait.components.seconds * 1000 + wait.components.attoseconds / 1_000_000_000_000_000
            return Int32(clamping: milliseconds + 1)
        }

        mutating func takeInbox() {
            let taken = monitor.inbox.withLock { inbox in
                defer { inbox = Inbox() }
                return inbox
            }
            for start in taken.starts { launch(start) }
            let now = ContinuousClock.now
            for token in taken.stops {
                if let child = children[token] { beginStop(child, now: now) }
            }
            for token in taken.resumes {
                if let child = children[token], child.paused { setPaused(child, false) }
            }
        }

        /// Stops or starts reading `child`'s pipes (they stay registered).
        func setPaused(_ child: Child, _ paused: Bool) {
            child.paused = paused
            let events = paused ? 0 : ProcessMonitor.readable
            for (descriptor, stream) in [
                (child.standardOutput, Stream.standardOutput), (child.standardError, .standardError),
            ]
            where descriptor >= 0 {
                _ = cr_epoll_modify(monitor.epoll, descriptor, events, stream.key(child.token))
            }
        }

        /// Starts a child and watches it; a launch error, or a stop that came first, ends it at once.
        mutating func launch(_ start: Start) {
            guard !start.child.stopRequested else {
                start.child.ended(.failure(CancellationError()))
                return
            }
            let started: ChildProcess.Started
            do {
                started = try ChildProcess.spawn(start.spec)
            } catch {
                start.child.ended(.failure(error))
                return
            }
            start.onStart(started.pid)
            let child = Child(start, started, monitor: monitor)
            children[child.token] = child
            let readable = ProcessMonitor.readable
            _ = cr_epoll_add(monitor.epoll, child.standardOutput, readable, Stream.standardOutput.key(child.token))
            _ = cr_epoll_add(monitor.epoll, child.standardError, readable, Stream.standardError.key(child.token))
            if child.processDescriptor >= 0,
                cr_epoll_add(monitor.epoll, child.processDescriptor, readable, Stream.exit.key(child.token)) != 0
            {
                // Not watched, so polled: its exit is seen either way.
                closeStream(.exit, of: child)
            }
            askWatchdog(child)
            // Asked to stop while it was being started: its stop request found nothing to stop.
            if start.child.stopRequested { beginStop(child, now: .now) }
        }

        func beginStop(_ child: Child, now: ContinuousClock.Instant) {
            guard !child.stopping else { return }
            child.stopping = true
            child.nextCheck = nil
            let grace = child.start.spec.terminationGrace
            if grace <= .zero {
                _ = kill(-child.pid, SIGKILL)
            } else {
                _ = kill(-child.pid, SIGTERM)
                child.killAt = now + grace
            }
        }

        mutating func checkTimers(now: ContinuousClock.Instant) {
            for child in Array(children.values) {
                if let killAt = child.killAt, killAt <= now {
                    child.killAt = nil
                    _ = kill(-child.pid, SIGKILL)
                }
                if let check = child.nextCheck, check <= now {
                    child.nextCheck = child.start.spec.watchdog?(now)
                    if child.nextCheck == nil { beginStop(child, now: now) }
                }
                if child.inlineBytesLeft <= 0, child.nextLook <= now {
                    child.nextLook = now + ProcessMonitor.offloadedLook
                    askWatchdog(child)
                }
                if child.processDescriptor < 0 { reap(child, waiting: false) }
            }
        }

        /// The watchdog looks again: as the child starts, and after output (which can end an idle wait or
        /// bring Claude's result).
        func askWatchdog(_ child: Child) {
            guard let watchdog = child.start.spec.watchdog, !child.stopping else { return }
            let now = ContinuousClock.now
            child.nextCheck = watchdog(now)
            if child.nextCheck == nil { beginStop(child, now: now) }
        }

        /// Reads what `stream` has now (all of it, up to a bound, when `draining` after the exit); closes it at
        /// its end.
        func readAvailable(_ child: Child, _ stream: Stream, draining: Bool) {
            let descriptor = stream == .standardOutput ? child.standardOutput : child.standardError
            guard descriptor >= 0 else { return }
            var reads = 0
            // Output handled here can end an idle wait or bring Claude's result; output handed to the pool is
            // seen by the watchdog's regular look (the handler has not run yet).
            defer { if reads > 0, !draining, child.inlineBytesLeft > 0 { askWatchdog(child) } }
            while true {
                let count = read(descriptor, buffer.baseAddress, buffer.count)
                if count > 0 {
                    let chunk = [UInt8](UnsafeRawBufferPointer(rebasing: buffer[..<count]))
                    let event: ProcessOutputEvent =
                        stream == .standardOutput ? .standardOutput(chunk) : .standardError(chunk)
                    reads += 1
                    if child.inlineBytesLeft >= count {
                        child.inlineBytesLeft -= count
                        child.start.onOutput(event)
                    } else {
                        child.inlineBytesLeft = 0
                        if child.delivery.enqueue(event, size: count, draining: draining) {
                            setPaused(child, true)
                            return
                        }
                    }
                    // Level-triggered: what is left is reported again, after the other children had their turn.
                    if reads >= (draining ? ProcessMonitor.maxDrainReads : 16) { return }
                    continue
                }
                if count < 0, errno == EINTR { continue }
                if count < 0, errno == EAGAIN, !draining { return }
                // End of file, an error, or (draining) nothing more for now: this stream is done.
                closeStream(stream, of: child)
                return
            }
        }

        func closeStream(_ stream: Stream, of child: Child) {
            let descriptor: Int32
            switch stream {
            case .standardOutput:
                descriptor = child.standardOutput
                child.standardOutput = -1
            case .standardError:
                descriptor = child.standardError
                child.standardError = -1
            case .exit:
                descriptor = child.processDescriptor
                child.processDescriptor = -1
            }
            guard descriptor >= 0 else { return }
            _ = cr_epoll_delete(monitor.epoll, descriptor)
            _ = close(descriptor)
        }

        /// The child has exited (`waiting`: its pidfd said so), or may have (polled without a pidfd): its group
        /// is killed, its pipes read to their end and closed, and it is reaped.
        mutating func reap(_ child: Child, waiting: Bool) {
            var status: Int32 = 0
            var reaped: pid_t = 0
            if waiting {
                // The zombie keeps the group id taken until it is reaped: nothing else can be in that group.
                _ = kill(-child.pid, SIGKILL)
                repeat { reaped = waitpid(child.pid, &status, 0) } while reaped < 0 && errno == EINTR
            } else {
                // Looked at without reaping, so that the group is killed while its id is still ours.
                let exited = cr_has_exited(child.pid)
                guard exited != 0 else { return }
                if exited == 1 { _ = kill(-child.pid, SIGKILL) }
                repeat { reaped = waitpid(child.pid, &status, 0) } while reaped < 0 && errno == EINTR
            }
            readAvailable(child, .standardOutput, draining: true)
            readAvailable(child, .standardError, draining: true)
            closeStream(.standardOutput, of: child)
            closeStream(.standardError, of: child)
            closeStream(.exit, of: child)
            children[child.token] = nil
            let exit: ProcessExit
            if reaped == child.pid {
                exit = status & 0x7f == 0 ? .exited((status >> 8) & 0xff) : .signaled(status & 0x7f)
            } else {
                // Reaped by someone else (a foreign `waitpid(-1)`): the status is gone.
                exit = .exited(-1)
            }
            child.delivery.finish(.success(exit))
        }
    }
}
