import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import NIOWebSocket

/// Opens the byte stream to a NATS server for each URL scheme and puts the NATS codec on top of it:
/// TCP (`nats://`), TCP upgraded to TLS after the server's INFO (`tls://`, or `nats://` when the server
/// requires TLS), and WebSocket (`ws://`, `wss://` with TLS first).
struct NATSConnector: Sendable {
    let url: NATSServerURL
    let tlsConfiguration: TLSConfiguration
    let connectTimeout: Duration
    let maxPayload: Int

    /// A connected channel and the decoded operations it receives.
    struct Connection: Sendable {
        let channel: any Channel
        let operations: AsyncThrowingStream<ServerOperation, any Error>
        /// Whether TLS is already running on this channel (wss://).
        let isTLS: Bool
    }

    /// Opens the connection. The TCP connect has ``connectTimeout``; so does the WebSocket upgrade (TLS
    /// included for wss://), so a peer that accepts TCP and then stalls is dropped. (For nats:// and tls://
    /// the client's handshake timer covers INFO and TLS.)
    func connect() async throws -> Connection {
        let forwarder = InboundForwarder()
        let bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.milliseconds(Int64(connectTimeout.components.seconds * 1000)))
            .channelOption(ChannelOptions.socketOption(.so_keepalive), value: 1)
            .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
        let maxPayload = maxPayload
        switch url.scheme {
        case .nats, .tls:
            let channel = try await bootstrap.channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try Self.addCodec(to: channel, forwarder: forwarder, maxPayload: maxPayload)
                }
            }.connect(host: url.host, port: url.port).get()
            return Connection(channel: channel, operations: forwarder.operations, isTLS: false)
        case .ws, .wss:
            let channel = try await connectWebSocket(bootstrap: bootstrap, forwarder: forwarder)
            return Connection(channel: channel, operations: forwarder.operations, isTLS: url.scheme == .wss)
        }
    }

    /// Starts TLS on an open connection (after the server's plaintext INFO), in front of everything else.
    func upgradeToTLS(_ channel: any Channel) async throws {
        let context = try NIOSSLContext(configuration: tlsConfiguration)
        let hostname = url.hostIsIPAddress ? nil : url.host
        try await channel.eventLoop.submit {
            let handler = try NIOSSLClientHandler(context: context, serverHostname: hostname)
            try channel.pipeline.syncOperations.addHandler(handler, position: .first)
        }.get()
    }

    static func addCodec(to channel: any Channel, forwarder: InboundForwarder, maxPayload: Int) throws {
        try channel.pipeline.syncOperations.addHandlers([
            ByteToMessageHandler(ServerOperationDecoder(maxPayload: maxPayload)),
            MessageToByteHandler(ClientOperationEncoder()),
            forwarder,
        ])
    }

    private func connectWebSocket(bootstrap: ClientBootstrap, forwarder: InboundForwarder) async throws -> any Channel {
        // The channel, known as soon as TCP connects, so that a stalled upgrade can be timed out.
        let opened = NIOLockedValueBox<(any Channel)?>(nil)
        let url = url
        let maxPayload = maxPayload
        let sslContext = url.scheme == .wss ? try NIOSSLContext(configuration: tlsConfiguration) : nil
        let upgrade: EventLoopFuture<(any Channel)?> = try await bootstrap.connect(host: url.host, port: url.port) {
            channel in
            opened.withLockedValue { $0 = channel }
            return channel.eventLoop.makeCompletedFuture {
                if let sslContext {
                    let handler = try NIOSSLClientHandler(
                        context: sslContext, serverHostname: url.hostIsIPAddress ? nil : url.host)
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
                let upgrader = NIOTypedWebSocketClientUpgrader<(any Channel)?>(
                    maxFrameSize: max(maxPayload + 64 * 1024, 1 << 20),
                    upgradePipelineHandler: { channel, _ in
                        channel.eventLoop.makeCompletedFuture {
                            try channel.pipeline.syncOperations.addHandler(WebSocketByteStreamHandler())
                            try Self.addCodec(to: channel, forwarder: forwarder, maxPayload: maxPayload)
                            return channel
                        }
                    })
                var headers = HTTPHeaders()
                let defaultPort = url.scheme == .wss ? 443 : 80
                headers.add(name: "Host", value: url.port == defaultPort ? url.host : "\(url.host):\(url.port)")
                let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: url.path, headers: headers)
                let configuration = NIOTypedHTTPClientUpgradeConfiguration(
                    upgradeRequestHead: head, upgraders: [upgrader],
                    notUpgradingCompletionHandler: { channel in channel.eventLoop.makeCompletedFuture { nil } })
                var pipeline = NIOUpgradableHTTPClientPipelineConfiguration(upgradeConfiguration: configuration)
                // The server's INFO can arrive in the same packet as the 101 answer: keep those bytes.
                pipeline.leftOverBytesStrategy = .forwardBytes
                return try channel.pipeline.syncOperations.configureUpgradableHTTPClientPipeline(
                    configuration: pipeline)
            }
        }
        // The upgrade future never completes if the peer stalls (or closes): bound it.
        guard let connected = opened.withLockedValue({ $0 }) else {
            throw NATSError(.connectionFailed, "\(url): connection closed while connecting")
        }
        let bounded = connected.eventLoop.makePromise(of: (any Channel)?.self)
        let settled = NIOLockedValueBox(false)
        upgrade.whenComplete { result in
            guard
                settled.withLockedValue({
                    let first = !$0; $0 = true; return first
                })
            else { return }
            bounded.completeWith(result)
        }
        let timeout = connected.eventLoop.scheduleTask(
            in: .nanoseconds(
                Int64(connectTimeout.components.seconds) * 1_000_000_000 + connectTimeout.components.attoseconds
                    / 1_000_000_000)
        ) {
            guard
                settled.withLockedValue({
                    let first = !$0; $0 = true; return first
                })
            else { return }
            bounded.fail(NATSError(.connectionFailed, "\(url): no answer within \(connectTimeout) while connecting"))
            connected.close(promise: nil)
        }
        defer { timeout.cancel() }
        guard let channel = try await bounded.futureResult.get() else {
            throw NATSError(.connectionFailed, "\(url): the server did not accept the WebSocket upgrade")
        }
        return channel
    }
}
