import NIOCore

extension JetStream {
    /// Creates a consumer on `stream`: a durable one through `$JS.API.CONSUMER.DURABLE.CREATE.<stream>.<durable>`
    /// (the form nats-server 2.9 understands), any other through `$JS.API.CONSUMER.CREATE.<stream>`.
    ///
    /// Creating a durable consumer that exists is not an error. nats-server 2.9 then applies the settings it
    /// can change in place (such as `max_deliver`, `ack_wait`, `max_ack_pending`) and refuses the others (such
    /// as `deliver_policy`, err_code 10012); a caller sharing a consumer with others can compare
    /// ``consumerInfo(stream:name:)`` with its own configuration first.
    @discardableResult
    public func createConsumer(stream: String, _ config: ConsumerConfig) async throws -> ConsumerInfo {
        try JetStreamAPI.validateName(stream, "stream")
        let body = try JetStreamAPI.encode(JetStreamAPI.CreateConsumerRequest(stream: stream, config: config))
        if let durable = config.durableName {
            try JetStreamAPI.validateName(durable, "consumer")
            if let name = config.name, name != durable {
                throw JetStreamError.invalidArgument(
                    "consumer name \"\(name)\" and durable name \"\(durable)\" differ; set one of them")
            }
            return try await request(
                "CONSUMER.DURABLE.CREATE.\(stream).\(durable)", body: body,
                context: "creating durable consumer \(durable) on stream \(stream)")
        }
        if let name = config.name { try JetStreamAPI.validateName(name, "consumer") }
        return try await request(
            "CONSUMER.CREATE.\(stream)", body: body,
            context: "creating consumer \(config.name ?? "(ephemeral)") on stream \(stream)")
    }

    /// A consumer's configuration and progress (pending, acknowledgement-pending and redelivered counts).
    /// - Throws: ``JetStreamError/consumerNotFound`` (err_code 10014) or ``JetStreamError/streamNotFound``.
    public func consumerInfo(stream: String, name: String) async throws -> ConsumerInfo {
        try JetStreamAPI.validateName(stream, "stream")
        try JetStreamAPI.validateName(name, "consumer")
        return try await request(
            "CONSUMER.INFO.\(stream).\(name)", context: "consumer info for \(name) on stream \(stream)")
    }

    /// Deletes a consumer; pull requests waiting on it end with status 409 "Consumer Deleted".
    public func deleteConsumer(stream: String, name: String) async throws {
        try JetStreamAPI.validateName(stream, "stream")
        try JetStreamAPI.validateName(name, "consumer")
        let response: JetStreamAPI.SuccessResponse = try await request(
            "CONSUMER.DELETE.\(stream).\(name)", context: "deleting consumer \(name) on stream \(stream)")
        guard response.success else {
            throw JetStreamError.badResponse("deleting consumer \(name) on stream \(stream): success false")
        }
    }
}
