import ServiceLifecycle

/// The first service to hear about a graceful shutdown (list it last in the group): it closes every door
/// at once — HTTP, NATS and issue intake — while the transports then drain what is in flight.
public struct ShutdownGate: Service {
    private let onShutdown: @Sendable () -> Void

    public init(onShutdown: @escaping @Sendable () -> Void) {
        self.onShutdown = onShutdown
    }

    public func run() async throws {
        try? await gracefulShutdown()
        onShutdown()
    }
}
