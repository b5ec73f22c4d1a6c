import NIOCore

extension JetStream {
    /// Creates a stream; creating one that exists with the same configuration returns it unchanged.
    /// - Throws: ``JetStreamError/streamNameInUse`` when the stream exists with another configuration (use
    ///   ``updateStream(_:)``), other ``JetStreamError`` values for what the server refuses.
    @discardableResult
    public func createStream(_ config: StreamConfig) async throws -> StreamInfo {
        try JetStreamAPI.validateName(config.name, "stream")
        return try await request(
            "STREAM.CREATE.\(config.name)", body: JetStreamAPI.encode(config),
            context: "creating stream \(config.name)")
    }

    /// Changes a stream's configuration (the server refuses changes it cannot make, such as the storage).
    @discardableResult
    public func updateStream(_ config: StreamConfig) async throws -> StreamInfo {
        try JetStreamAPI.validateName(config.name, "stream")
        return try await request(
            "STREAM.UPDATE.\(config.name)", body: JetStreamAPI.encode(config),
            context: "updating stream \(config.name)")
    }

    /// A stream's configuration and state.
    /// - Throws: ``JetStreamError/streamNotFound`` (404, err_code 10059) when there is no such stream.
    public func streamInfo(_ name: String) async throws -> StreamInfo {
        try JetStreamAPI.validateName(name, "stream")
        return try await request("STREAM.INFO.\(name)", context: "stream info for \(name)")
    }

    /// Deletes a stream with its messages and consumers.
    /// - Throws: ``JetStreamError/streamNotFound`` when there is no such stream.
    public func deleteStream(_ name: String) async throws {
        try JetStreamAPI.validateName(name, "stream")
        let response: JetStreamAPI.SuccessResponse = try await request(
            "STREAM.DELETE.\(name)", context: "deleting stream \(name)")
        guard response.success else { throw JetStreamError.badResponse("deleting stream \(name): success false") }
    }

    /// Removes every message from a stream; returns how many were removed.
    @discardableResult
    public func purgeStream(_ name: String) async throws -> UInt64 {
        try JetStreamAPI.validateName(name, "stream")
        let response: JetStreamAPI.PurgeResponse = try await request(
            "STREAM.PURGE.\(name)", context: "purging stream \(name)")
        guard response.success else { throw JetStreamError.badResponse("purging stream \(name): success false") }
        return response.purged ?? 0
    }
}
