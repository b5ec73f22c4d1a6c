import Foundation
import Logging
import NIOCore
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Keeps one run's progress events as NDJSON in its transcript file, off the caller's path.
///
/// ``append(_:)-(String)`` only copies the line into a buffer, so it can be called from the code that reads
/// Claude's output. The buffer is written out in batches (every ``flushInterval``, or sooner once
/// ``flushBytes`` are waiting) by the ``TranscriptFlusher`` the writer was made with, which serves every
/// transcript of a ledger, or else by ``run()``; ``finish()`` writes what is left and closes the file. The
/// lines are expected to be redacted JSON objects without newlines.
///
/// A transcript holds at most `maxBytes`: the line that would go past it is replaced by one final line
/// `{"type":"transcript_cut","id":...,"max_bytes":...}` and nothing more is written. A write that fails (a full
/// disk) is logged once and the rest of the transcript is dropped; it never fails the run.
///
/// Prefer ``RunLedger/withTranscript(for:_:)``, which runs the writer for the duration of a closure.
public final class TranscriptWriter: Sendable {
    public let runID: String
    /// The transcript file, created when the first batch is written.
    public let path: String
    public let maxBytes: Int

    public static let flushBytes = 64 << 10
    public static let flushInterval: Duration = .milliseconds(250)

    private struct Buffer {
        var pending: [UInt8] = []
        /// Bytes in the file plus bytes pending.
        var accepted: Int
        /// No more lines are taken: cut at the limit, or finished.
        var closed: Bool
    }

    private struct Output {
        var descriptor: Int32 = -1
        var failed = false
        var closed = false
    }

    private let cutLine: [UInt8]
    private let buffer: Mutex<Buffer>
    /// Held while writing, so that batches reach the file in order.
    private let output = Mutex(Output())
    private let wakeups: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation
    private let flusher: TranscriptFlusher?
    private let logger: Logger

    /// A writer that appends to `path`; what the file already holds counts toward `maxBytes`. A ledger makes
    /// these (``RunLedger/transcriptWriter(for:)``); the initializer is public for other ledgers and fakes.
    /// - Parameter flusher: Writes the batches; without one, ``run()`` must be running to write them.
    public init(runID: String, path: String, maxBytes: Int, flusher: TranscriptFlusher? = nil, logger: Logger) {
        self.runID = runID
        self.path = path
        self.maxBytes = max(0, maxBytes)
        self.flusher = flusher
        self.logger = logger
        self.cutLine = Array(#"{"type":"transcript_cut","id":"\#(runID)","max_bytes":\#(maxBytes)}"#.utf8) + [0x0A]
        var status = stat()
        let existing = maxBytes > 0 && stat(path, &status) == 0 ? Int(status.st_size) : 0
        let cut = existing >= maxBytes || Self.endsWith(cutLine, path: path, size: existing)
        self.buffer = Mutex(Buffer(accepted: existing, closed: maxBytes <= 0 || cut))
        (wakeups, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        if maxBytes > 0 { flusher?.add(self) }
    }

    /// Whether an earlier writer already cut this transcript.
    private static func endsWith(_ cutLine: [UInt8], path: String, size: Int) -> Bool {
        guard size >= cutLine.count, let handle = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? handle.close() }
        guard (try? handle.seek(toOffset: UInt64(size - cutLine.count))) != nil,
            let tail = try? handle.read(upToCount: cutLine.count)
        else { return false }
        return Array(tail) == cutLine
    }

    deinit {
        output.withLock { output in
            if output.descriptor >= 0 { _ = close(output.descriptor) }
        }
    }

    /// Buffers one line (a trailing newline is optional). Never blocks on the file.
    public func append(_ line: String) {
        var line = line
        line.withUTF8 { append(bytes: $0) }
    }

    /// Buffers one line given as UTF-8 bytes (a trailing newline is optional). Never blocks on the file.
    public func append(_ line: Data) {
        line.withUnsafeBytes { append(bytes: $0.bindMemory(to: UInt8.self)) }
    }

    /// Buffers one line given as a buffer of UTF-8 bytes (a trailing newline is optional). Never blocks on the file.
    public func append(_ line: ByteBuffer) {
        line.withUnsafeReadableBytes { append(bytes: $0.bindMemory(to: UInt8.self)) }
    }

    private func append(bytes: UnsafeBufferPointer<UInt8>) {
        var bytes = bytes[...]
        while let last = bytes.last, last == 0x0A || last == 0x0D { bytes = bytes.dropLast() }
        let size = bytes.count + 1
        let full: Bool = buffer.withLock { state in
            guard !state.closed else { return false }
            if state.accepted + size + cutLine.count > maxBytes {
                if state.accepted + cutLine.count <= maxBytes {
                    state.pending.append(contentsOf: cutLine)
                    state.accepted += cutLine.count
                }
                state.closed = true
                return true
            }
            state.pending.append(contentsOf: bytes)
            state.pending.append(0x0A)
            state.accepted += size
            return state.pending.count >= Self.flushBytes
        }
        guard full else { return }
        if let flusher { flusher.wake() } else { wake.yield() }
    }

    /// Writes batches until ``finish()`` is called or the task is cancelled. Run it in a child task. A writer
    /// made with a ``TranscriptFlusher`` has nothing to run: this returns at once.
    public func run() async {
        guard flusher == nil else { return }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { [wake] in
                while !Task.isCancelled {
                    try? await Task.sleep(for: Self.flushInterval)
                    wake.yield()
                }
            }
            for await _ in wakeups { flush(closing: false) }
            group.cancelAll()
        }
        flush(closing: false)
    }

    /// Takes no more lines, writes what is buffered and closes the file. Safe to call more than once.
    public func finish() {
        buffer.withLock { $0.closed = true }
        flush(closing: true)
        wake.finish()
        flusher?.remove(self)
    }

    /// Takes no more lines; the flusher writes what is buffered and closes the file with its next batch (at
    /// once when the ledger is asked for the transcript). Without a flusher, the same as ``finish()``.
    public func finishLater() {
        guard flusher != nil else { return finish() }
        buffer.withLock { $0.closed = true }
        wake.finish()
    }

    /// Writes what is buffered, and closes the file once no more lines are taken (the flusher calls it).
    /// - Returns: Whether the writer is done.
    func flushForFlusher() -> Bool {
        let done = buffer.withLock { $0.closed }
        flush(closing: done)
        return done
    }

    private func flush(closing: Bool) {
        output.withLock { output in
            var chunk: [UInt8] = []
            buffer.withLock { swap(&chunk, &$0.pending) }
            if !chunk.isEmpty, !output.failed, !output.closed { writeOut(chunk, to: &output) }
            if closing, !output.closed {
                if output.descriptor >= 0 { _ = close(output.descriptor) }
                output.descriptor = -1
                output.closed = true
            }
        }
    }

    private func writeOut(_ chunk: [UInt8], to output: inout Output) {
        if output.descriptor < 0 {
            output.descriptor = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
            if output.descriptor < 0 { return fail(&output, "cannot create it") }
        }
        let failure: Int32? = chunk.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let written = write(output.descriptor, raw.baseAddress! + offset, raw.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                offset += written
            }
            return nil
        }
        if let failure { fail(&output, String(cString: strerror(failure))) }
    }

    private func fail(_ output: inout Output, _ reason: String) {
        output.failed = true
        logger.warning(
            "cannot write the transcript of a run; the rest of it is dropped",
            metadata: ["run": "\(runID)", "path": "\(path)", "reason": "\(reason)"])
    }
}

/// Writes the buffered lines of every open transcript of a ledger, every ``TranscriptWriter/flushInterval``
/// and as soon as one has ``TranscriptWriter/flushBytes`` waiting: one task for all runs, so that a run's
/// transcript costs it no task of its own.
public final class TranscriptFlusher: Sendable {
    private let writers = Mutex<[ObjectIdentifier: TranscriptWriter]>([:])
    private let wakeups: AsyncStream<Void>
    private let wakeup: AsyncStream<Void>.Continuation
    private let task = Mutex<Task<Void, Never>?>(nil)

    public init() {
        (wakeups, wakeup) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    deinit {
        task.withLock { $0?.cancel() }
    }

    /// Writes every open transcript now, and stops flushing.
    public func stop() {
        task.withLock { $0?.cancel() }
        wakeup.finish()
        flush { _ in true }
    }

    /// Writes the transcripts of run `runID` now: a reader then finds every line of a run that has ended.
    public func settle(runID: String) {
        flush { $0.runID == runID }
    }

    private func flush(_ which: (TranscriptWriter) -> Bool) {
        for writer in writers.withLock({ $0.values.filter(which) }) where writer.flushForFlusher() {
            remove(writer)
        }
    }

    func add(_ writer: TranscriptWriter) {
        writers.withLock { $0[ObjectIdentifier(writer)] = writer }
        task.withLock { task in
            guard task == nil else { return }
            task = Task.detached { [weak self, wakeups, wakeup] in
                await withTaskGroup(of: Void.self) { group in
                    group.addTask {
                        while !Task.isCancelled {
                            try? await Task.sleep(for: TranscriptWriter.flushInterval)
                            wakeup.yield()
                        }
                    }
                    for await _ in wakeups {
                        guard let self else { break }
                        self.flush { _ in true }
                    }
                    group.cancelAll()
                }
            }
        }
    }

    func remove(_ writer: TranscriptWriter) {
        _ = writers.withLock { $0.removeValue(forKey: ObjectIdentifier(writer)) }
    }

    func wake() { wakeup.yield() }
}

/// A run's transcript, line by line, read from its file in chunks.
///
/// Every line the writer writes ends with a newline, so bytes after the last newline are a line still being
/// written (or cut short by a crash): they are left out rather than returned torn.
public struct TranscriptLines: AsyncSequence, Sendable {
    public typealias Element = String
    public let path: String

    public init(path: String) {
        self.path = path
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(path: path)
    }

    /// Every line at once.
    public func collect() async throws -> [String] {
        var lines: [String] = []
        for try await line in self { lines.append(line) }
        return lines
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        let path: String
        private var handle: FileHandle?
        private var opened = false
        private var atEnd = false
        private var buffer: [UInt8] = []
        private var start = 0

        init(path: String) {
            self.path = path
        }

        public mutating func next() async throws -> String? {
            while true {
                if let newline = buffer[start...].firstIndex(of: 0x0A) {
                    let line = String(decoding: buffer[start..<newline], as: UTF8.self)
                    start = newline + 1
                    return line
                }
                if atEnd { return nil }
                try readChunk()
            }
        }

        private mutating func readChunk() throws {
            if !opened {
                opened = true
                handle = FileHandle(forReadingAtPath: path)
            }
            guard let handle, let data = try handle.read(upToCount: 64 << 10), !data.isEmpty else {
                try? handle?.close()
                handle = nil
                atEnd = true
                return
            }
            if start > 0 {
                buffer.removeFirst(start)
                start = 0
            }
            buffer.append(contentsOf: data)
        }
    }
}
