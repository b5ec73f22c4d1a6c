import NIOCore

/// A task executor whose jobs run on one NIO event loop's thread.
///
/// A task that prefers it runs where its channels' I/O happens: reading a request, answering it and the
/// code in between stay on one thread, where the shared pool would take a thread switch (and the wake-ups
/// behind it) for each step.
final class EventLoopTaskExecutor: TaskExecutor {
    let loop: any EventLoop

    init(_ loop: any EventLoop) { self.loop = loop }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        loop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
