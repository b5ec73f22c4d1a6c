import NIOSSL

/// How a ``NATSClient`` connects.
public struct NATSClientOptions: Sendable {
    public var url: NATSServerURL
    /// The connection's name, shown by the server (`Claude Runner - <edge-id>`).
    public var name: String?
    /// User JWT + NKey seed from a `.creds` file.
    public var credentials: Credentials?
    /// A bare NKey seed (NKey authentication without a JWT).
    public var nkey: NKey?
    public var inboxPrefix: String
    public var connectTimeout: Duration
    public var pingInterval: Duration
    /// Unanswered PINGs after which the connection is considered dead.
    public var maxPingsOutstanding: Int
    /// First reconnect delay; doubles per failed attempt up to ``maxReconnectWait``, with jitter.
    public var reconnectWait: Duration
    public var maxReconnectWait: Duration
    /// Bytes of publishes kept while disconnected; beyond that a publish fails.
    public var reconnectBufferBytes: Int
    public var tlsConfiguration: TLSConfiguration
    public var echo: Bool

    public init(
        url: NATSServerURL, name: String? = nil, credentials: Credentials? = nil, nkey: NKey? = nil,
        inboxPrefix: String = "_INBOX", connectTimeout: Duration = .seconds(5), pingInterval: Duration = .seconds(60),
        maxPingsOutstanding: Int = 2, reconnectWait: Duration = .milliseconds(500),
        maxReconnectWait: Duration = .seconds(30), reconnectBufferBytes: Int = 8 << 20,
        tlsConfiguration: TLSConfiguration = NATSTLS.clientConfiguration(), echo: Bool = true
    ) {
        self.url = url
        self.name = name
        self.credentials = credentials
        self.nkey = nkey
        self.inboxPrefix = inboxPrefix
        self.connectTimeout = connectTimeout
        self.pingInterval = pingInterval
        self.maxPingsOutstanding = maxPingsOutstanding
        self.reconnectWait = reconnectWait
        self.maxReconnectWait = maxReconnectWait
        self.reconnectBufferBytes = reconnectBufferBytes
        self.tlsConfiguration = tlsConfiguration
        self.echo = echo
    }
}
