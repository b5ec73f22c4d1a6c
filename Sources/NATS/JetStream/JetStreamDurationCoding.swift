// The JetStream API writes every duration as an integer count of nanoseconds.

extension Duration {
    /// Whole nanoseconds, saturating at the bounds of `Int64`.
    var jetStreamNanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        guard !overflow else { return seconds < 0 ? .min : .max }
        let (total, overflowAgain) = scaled.addingReportingOverflow(attoseconds / 1_000_000_000)
        guard !overflowAgain else { return seconds < 0 ? .min : .max }
        return total
    }

    init(jetStreamNanoseconds nanoseconds: Int64) {
        self = .nanoseconds(nanoseconds)
    }
}

extension KeyedDecodingContainer {
    func decodeDurationIfPresent(forKey key: Key) throws -> Duration? {
        try decodeIfPresent(Int64.self, forKey: key).map(Duration.init(jetStreamNanoseconds:))
    }

    /// A duration where the server writes 0 (or nothing) for "none".
    func decodeNonZeroDurationIfPresent(forKey key: Key) throws -> Duration? {
        guard let nanoseconds = try decodeIfPresent(Int64.self, forKey: key), nanoseconds != 0 else { return nil }
        return Duration(jetStreamNanoseconds: nanoseconds)
    }

    /// A limit where the server writes -1 (or nothing) for "unlimited".
    func decodeLimitIfPresent<T: Decodable & BinaryInteger>(_ type: T.Type, forKey key: Key) throws -> T? {
        guard let value = try decodeIfPresent(T.self, forKey: key), value >= 0 else { return nil }
        return value
    }
}

extension KeyedEncodingContainer {
    mutating func encodeDurationIfPresent(_ duration: Duration?, forKey key: Key) throws {
        try encodeIfPresent(duration?.jetStreamNanoseconds, forKey: key)
    }
}
