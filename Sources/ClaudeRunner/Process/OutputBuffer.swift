import Synchronization

/// Bytes kept from one output stream, up to a cap; the rest is counted, not kept.
public struct OutputBuffer: Sendable {
    public let limit: Int
    public private(set) var bytes: [UInt8] = []
    public private(set) var totalCount = 0

    public init(limit: Int) {
        self.limit = limit
    }

    public var isTruncated: Bool { totalCount > bytes.count }

    public mutating func append(_ chunk: [UInt8]) {
        totalCount += chunk.count
        let room = limit - bytes.count
        guard room > 0 else { return }
        if chunk.count <= room {
            bytes.append(contentsOf: chunk)
        } else {
            bytes.append(contentsOf: chunk.prefix(room))
        }
    }

    /// The kept bytes as text (invalid UTF-8 repaired, a code point cut by the cap dropped).
    public var text: String { String(decoding: bytes, as: UTF8.self) }
}

/// Collects a process's stdout and stderr as chunks arrive (from the process monitor's thread).
public final class OutputCollector: Sendable {
    private struct State {
        var standardOutput: OutputBuffer
        var standardError: OutputBuffer
        var lastActivity = ContinuousClock.now
    }

    private let state: Mutex<State>

    public init(limit: Int, errorLimit: Int? = nil) {
        state = Mutex(
            State(standardOutput: OutputBuffer(limit: limit), standardError: OutputBuffer(limit: errorLimit ?? limit)))
    }

    public var standardOutput: OutputBuffer { state.withLock { $0.standardOutput } }
    public var standardError: OutputBuffer { state.withLock { $0.standardError } }
    /// When output was last seen, for idle detection.
    public var lastActivity: ContinuousClock.Instant { state.withLock { $0.lastActivity } }

    public func record(_ event: ProcessOutputEvent) {
        state.withLock { state in
            state.lastActivity = .now
            switch event {
            case .standardOutput(let chunk): state.standardOutput.append(chunk)
            case .standardError(let chunk): state.standardError.append(chunk)
            }
        }
    }
}
