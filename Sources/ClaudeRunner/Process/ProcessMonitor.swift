import CChildProcess
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// The one thread that reads every child's stdout and stderr, notices when a child exits, and stops process
/// groups (on cancel, on a watchdog's word, SIGKILL after the grace).
///
/// A child is watched through epoll: its two pipes and its pidfd. Output is handed to the child's handler
/// as it is read, on this thread; when the pidfd says the child has exited, its group is killed (the zombie
/// still holds the group id, so no other process can have it), what is left in the pipes is read, and the
/// child is reaped and its waiting task resumed. Every signal and every `waitpid` happens on this thread,
/// so a pid is never signalled after it was reaped. On a kernel without pidfd the exit is polled instead.
///
/// Other threads talk to it through a small inbox (new children, stop requests) and an eventfd that wakes
/// it; a new child wakes it only when it has a deadline earlier than the thread's next timed wake-up, which
/// is never more than a second away.
final class ProcessMonitor: Sendable {
    static let shared = ProcessMonitor()

    /// Makes sure descriptors 0–2 are open (on `/dev/null` when the runner was started without them), so
    /// that a pipe is never one of them; evaluated once, before the first child starts.
    static let ensureStandardDescriptors: Void = {
        for descriptor: Int32 in 0...2 where fcntl(descriptor, F_GETFD) == -1 {
            _ = open("/dev/null", O_RDWR)
        }
    }()

    /// A child to watch, with the runner's ends of its descriptors (the monitor closes them).
    struct Watch: Sendable {
        var pid: Int32
        var processDescriptor: Int32
        var standardOutput: Int32
        var standardError: Int32
        var terminationGrace: Duration
        var watchdog: ProcessWatchdog?
        var onOutput: @Sendable (ProcessOutputEvent) -> Void
        var child: MonitoredChild
    }

    private struct Inbox {
        var added: [(watch: Watch, firstCheck: ContinuousClock.Instant?, stopNow: Bool)] = []
        var stops: [UInt64] = []
        var isEmpty: Bool { added.isEmpty && stops.isEmpty }
    }

    private let epoll: Int32
    private let wakeDescriptor: Int32
    private let inbox = Mutex(Inbox())
    /// When the thread will wake by itself next (within a second), in nanoseconds since ``origin``. A new
    /// child with an earlier deadline wakes it.
    private let plannedWake = Atomic<Int64>(Int64.max)
    private let origin = ContinuousClock.now

    /// The longest the thread sleeps.
    static let tick: Duration = .seconds(1)
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
            var loop = MonitorLoop(monitor: self)
            loop.run()
        }
        thread.name = "process-monitor"
        thread.start()
    }

    /// Starts watching a child that was just started.
    func watch(_ watch: Watch) {
        let now = ContinuousClock.now
        var firstCheck: ContinuousClock.Instant?
        var stopNow = false
        if let watchdog = watch.watchdog {
            firstCheck = watchdog(now)
            stopNow = firstCheck == nil
        }
        let token = watch.child.token
        // Registered and queued under one lock: the thread, seeing an event for a child it does not know yet,
        // takes the inbox under the same lock and so always finds it there.
        inbox.withLock { inbox in
            let readable = Self.readable
            _ = cr_epoll_add(epoll, watch.standardOutput, readable, token << 2 | Stream.standardOutput.rawValue)
            _ = cr_epoll_add(epoll, watch.standardError, readable, token << 2 | Stream.standardError.rawValue)
            if watch.processDescriptor >= 0 {
                _ = cr_epoll_add(epoll, watch.processDescriptor, readable, token << 2 | Stream.exit.rawValue)
            }
            inbox.added.append((watch, firstCheck, stopNow))
        }
        let soonest = watch.processDescriptor < 0 ? now + Self.exitPollInterval : firstCheck
        if stopNow || soonest.map({ nanoseconds($0) < plannedWake.load(ordering: .sequentiallyConsistent) }) == true {
            wake()
        }
    }

    /// Stops `child`'s process group: SIGTERM, then SIGKILL after its grace (nothing if it has ended).
    func stop(_ child: MonitoredChild) {
        inbox.withLock { $0.stops.append(child.token) }
        wake()
    }

    fileprivate func wake() {
        var one: UInt64 = 1
        _ = write(wakeDescriptor, &one, 8)
    }

    fileprivate func nanoseconds(_ instant: ContinuousClock.Instant) -> Int64 {
        let (seconds, attoseconds) = (instant - origin).components
        let (product, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        return overflow ? (seconds < 0 ? Int64.min : Int64.max) : product &+ attoseconds / 1_000_000_000
    }

    fileprivate enum Stream: UInt64 {
        case standardOutput = 0, standardError = 1, exit = 2
    }

    /// The thread's side: the children it watches, owned by the thread alone.
    private struct MonitorLoop {
        let monitor: ProcessMonitor
        var children: [UInt64: Child] = [:]
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: ProcessMonitor.readSize, alignment: 16)

        /// One child as the thread sees it.
        final class Child {
            let watch: Watch
            var standardOutput: Int32
            var standardError: Int32
            var processDescriptor: Int32
            var nextCheck: ContinuousClock.Instant?
            var killAt: ContinuousClock.Instant?
            var stopping = false

            init(_ watch: Watch, firstCheck: ContinuousClock.Instant?) {
                self.watch = watch
                self.standardOutput = watch.standardOutput
                self.standardError = watch.standardError
                self.processDescriptor = watch.processDescriptor
                self.nextCheck = firstCheck
            }
        }

        mutating func run() {
            var data = [UInt64](repeating: 0, count: 64)
            var events = [UInt32](repeating: 0, count: 64)
            while true {
                let timeout = planWake()
                let count = cr_epoll_wait(monitor.epoll, &data, &events, Int32(data.count), timeout)
                for index in 0..<max(Int(count), 0) {
                    let token = data[index] >> 2
                    if token == ProcessMonitor.wakeToken {
                        var value: UInt64 = 0
                        _ = read(monitor.wakeDescriptor, &value, 8)
                        continue
                    }
                    if children[token] == nil { takeInbox() }
                    guard let child = children[token] else { continue }
                    switch Stream(rawValue: data[index] & 3) {
                    case .standardOutput: readAvailable(child, .standardOutput, draining: false)
                    case .standardError: readAvailable(child, .standardError, draining: false)
                    case .exit: reap(child, waiting: true)
                    case nil: break
                    }
                }
                takeInbox()
                checkTimers(now: .now)
            }
        }

        /// Takes what other threads queued; returns the epoll timeout until the earliest deadline, having
        /// published it (re-reading the inbox once it is published, so no new child can miss it).
        mutating func planWake() -> Int32 {
            while true {
                takeInbox()
                let now = ContinuousClock.now
                var soonest: ContinuousClock.Instant?
                for child in children.values {
                    for deadline in [child.nextCheck, child.killAt].compactMap({ $0 }) {
                        soonest = min(soonest ?? deadline, deadline)
                    }
                    if child.processDescriptor < 0 {
                        let poll = now + ProcessMonitor.exitPollInterval
                        soonest = min(soonest ?? poll, poll)
                    }
                }
                // At least once a second: a new child whose first deadline is further away than that then needs
                // no wake-up of its own.
                let tick = now + ProcessMonitor.tick
                let wakeAt = min(soonest ?? tick, tick)
                monitor.plannedWake.store(monitor.nanoseconds(wakeAt), ordering: .sequentiallyConsistent)
                guard monitor.inbox.withLock({ $0.isEmpty }) else { continue }
                let wait = wakeAt - now
                if wait <= .zero { return 0 }
                let milliseconds = wait.components.seconds * 1000 + wait.components.attoseconds / 1_000_000_000_000_000
                return Int32(clamping: milliseconds + 1)
            }
        }

        mutating func takeInbox() {
            let taken = monitor.inbox.withLock { inbox in
                defer { inbox = Inbox() }
                return inbox
            }
            guard !taken.isEmpty else { return }
            let now = ContinuousClock.now
            for (watch, firstCheck, stopNow) in taken.added {
                let child = Child(watch, firstCheck: firstCheck)
                children[watch.child.token] = child
                if stopNow { beginStop(child, now: now) }
            }
            for token in taken.stops {
                if let child = children[token] { beginStop(child, now: now) }
            }
        }

        func beginStop(_ child: Child, now: ContinuousClock.Instant) {
            guard !child.stopping else { return }
            child.stopping = true
            child.nextCheck = nil
            if child.watch.terminationGrace <= .zero {
                _ = kill(-child.watch.pid, SIGKILL)
            } else {
                _ = kill(-child.watch.pid, SIGTERM)
                child.killAt = now + child.watch.terminationGrace
            }
        }

        mutating func checkTimers(now: ContinuousClock.Instant) {
            for child in Array(children.values) {
                if let killAt = child.killAt, killAt <= now {
                    child.killAt = nil
                    _ = kill(-child.watch.pid, SIGKILL)
                }
                if let check = child.nextCheck, check <= now {
                    child.nextCheck = child.watch.watchdog?(now)
                    if child.nextCheck == nil { beginStop(child, now: now) }
                }
                if child.processDescriptor < 0 { reap(child, waiting: false) }
            }
        }

        /// Reads what `stream` has now (all of it, up to a bound, when `draining` after the exit); closes it at
        /// its end.
        func readAvailable(_ child: Child, _ stream: Stream, draining: Bool) {
            let descriptor = stream == .standardOutput ? child.standardOutput : child.standardError
            guard descriptor >= 0 else { return }
            var reads = 0
            defer { if reads > 0, !draining { askWatchdog(child) } }
            while true {
                let count = read(descriptor, buffer.baseAddress, buffer.count)
                if count > 0 {
                    let chunk = [UInt8](UnsafeRawBufferPointer(rebasing: buffer[..<count]))
                    child.watch.onOutput(stream == .standardOutput ? .standardOutput(chunk) : .standardError(chunk))
                    reads += 1
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

        /// After output, the watchdog looks again (output can end an idle wait or bring Claude's result).
        func askWatchdog(_ child: Child) {
            guard let watchdog = child.watch.watchdog, !child.stopping else { return }
            let now = ContinuousClock.now
            child.nextCheck = watchdog(now)
            if child.nextCheck == nil { beginStop(child, now: now) }
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
            let pid = child.watch.pid
            var status: Int32 = 0
            var reaped: pid_t = 0
            if waiting {
                // The zombie keeps the group id taken until it is reaped: nothing else can be in that group.
                _ = kill(-pid, SIGKILL)
                repeat { reaped = waitpid(pid, &status, 0) } while reaped < 0 && errno == EINTR
            } else {
                repeat { reaped = waitpid(pid, &status, WNOHANG) } while reaped < 0 && errno == EINTR
                guard reaped != 0 else { return }
                _ = kill(-pid, SIGKILL)
            }
            readAvailable(child, .standardOutput, draining: true)
            readAvailable(child, .standardError, draining: true)
            closeStream(.standardOutput, of: child)
            closeStream(.standardError, of: child)
            closeStream(.exit, of: child)
            children[child.watch.child.token] = nil
            let exit: ProcessExit
            if reaped == pid {
                exit = status & 0x7f == 0 ? .exited((status >> 8) & 0xff) : .signaled(status & 0x7f)
            } else {
                // Reaped by someone else (a foreign `waitpid(-1)`): the status is gone.
                exit = .exited(-1)
            }
            child.watch.child.ended(exit)
        }
    }
}
