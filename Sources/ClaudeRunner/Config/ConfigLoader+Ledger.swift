import Yams

extension ConfigLoader.Reader {
    mutating func readLedger(_ key: String, _ value: Node, into ledger: inout RunnerConfig.LedgerSettings) throws {
        switch key {
        case "ledger.enabled": ledger.enabled = try bool(value, key)
        case "ledger.path":
            let text = try string(value, key)
            guard !text.isEmpty else { throw error(value, key, "must not be empty") }
            ledger.path = PathExpansion.absolute(text)
        case "ledger.retention": ledger.retention = try duration(value, key)
        case "ledger.maxTranscriptBytes": ledger.maxTranscriptBytes = try int(value, key, minimum: 0)
        default: unknown(key, value)
        }
    }
}
