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

extension ConfigLoader.Reader {
    mutating func readNATS(_ key: String, _ value: Node, into nats: inout RunnerConfig.NATSSettings) throws {
        switch key {
        case "nats.jetstream": nats.jetstream = try bool(value, key)
        case "nats.ackWait":
            let wait = try duration(value, key)
            guard wait >= RunnerConfig.NATSSettings.minimumAckWait else {
                throw error(
                    value, key,
                    "must be at least 3s, got \"\(value.scalar?.string ?? "")\": in-progress acknowledgements go "
                        + "every third of it, at least a second apart")
            }
            nats.ackWait = wait
        case "nats.maxDeliver": nats.maxDeliver = try int(value, key, minimum: 1)
        case "nats.runnerName":
            let name = try string(value, key)
            guard !name.isEmpty, !name.contains(where: { $0.isWhitespace || $0.isNewline }) else {
                throw error(value, key, "must be one word, got \"\(name)\"")
            }
            nats.runnerName = name
        default: unknown(key, value)
        }
    }
}
