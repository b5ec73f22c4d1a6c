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

/// Collects a process's stdout and stderr as events arrive.
public actor OutputCollector {
    public private(set) var standardOutput: OutputBuffer
    public private(set) var standardError: OutputBuffer
    /// When output was last seen, for idle detection.
    public private(set) var lastActivity = ContinuousClock.now

    public init(limit: Int, errorLimit: Int? = nil) {
        self.standardOutput = OutputBuffer(limit: limit)
        self.standardError = OutputBuffer(limit: errorLimit ?? limit)
    }

    public func record(_ event: ProcessOutputEvent) {
        lastActivity = .now
        switch event {
        case .standardOutput(let chunk): standardOutput.append(chunk)
        case .standardError(let chunk): standardError.append(chunk)
        }
    }
}
