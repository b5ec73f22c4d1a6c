#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// The server description carried by an `INFO` operation.
///
/// Every field is optional in the JSON; missing fields take the defaults documented on each property.
public struct ServerInfo: Decodable, Hashable, Sendable {
    /// The default maximum payload a server accepts (1 MiB), used when `max_payload` is absent.
    public static let defaultMaxPayload = 1_048_576

    /// The unique identifier of the server (`server_id`); empty when absent.
    public var serverID: String
    /// The configured name of the server (`server_name`).
    public var serverName: String?
    /// The server version string (`version`).
    public var version: String?
    /// The protocol version the server speaks (`proto`); 0 when absent.
    public var proto: Int
    /// The host the server listens on (`host`).
    public var host: String?
    /// The port the server listens on (`port`).
    public var port: Int?
    /// Whether the server supports message headers (`headers`).
    public var headers: Bool
    /// The largest payload the server accepts from this client (`max_payload`).
    public var maxPayload: Int
    /// The identifier the server assigned to this connection (`client_id`).
    public var clientID: UInt64?
    /// Whether the client must authenticate (`auth_required`).
    public var authRequired: Bool
    /// Whether the client must upgrade to TLS (`tls_required`).
    public var tlsRequired: Bool
    /// Whether the server verifies client certificates (`tls_verify`).
    public var tlsVerify: Bool
    /// Whether the server offers TLS without requiring it (`tls_available`).
    public var tlsAvailable: Bool
    /// The challenge to sign for NKey or JWT authentication (`nonce`).
    public var nonce: String?
    /// Other cluster members a client may connect to (`connect_urls`).
    public var connectURLs: [String]
    /// Other cluster members' websocket endpoints (`ws_connect_urls`).
    public var wsConnectURLs: [String]
    /// Whether the server is in lame-duck mode and about to shut down (`ldm`).
    public var lameDuckMode: Bool
    /// Whether JetStream is enabled on the server (`jetstream`).
    public var jetStream: Bool

    /// Creates a server description; every parameter has the same default as a missing JSON field.
    public init(
        serverID: String = "",
        serverName: String? = nil,
        version: String? = nil,
        proto: Int = 0,
        host: String? = nil,
        port: Int? = nil,
        headers: Bool = false,
        maxPayload: Int = ServerInfo.defaultMaxPayload,
        clientID: UInt64? = nil,
        authRequired: Bool = false,
        tlsRequired: Bool = false,
        tlsVerify: Bool = false,
        tlsAvailable: Bool = false,
        nonce: String? = nil,
        connectURLs: [String] = [],
        wsConnectURLs: [String] = [],
        lameDuckMode: Bool = false,
        jetStream: Bool = false
    ) {
        self.serverID = serverID
        self.serverName = serverName
        self.version = version
        self.proto = proto
        self.host = host
        self.port = port
        self.headers = headers
        self.maxPayload = maxPayload
        self.clientID = clientID
        self.authRequired = authRequired
        self.tlsRequired = tlsRequired
        self.tlsVerify = tlsVerify
        self.tlsAvailable = tlsAvailable
        self.nonce = nonce
        self.connectURLs = connectURLs
        self.wsConnectURLs = wsConnectURLs
        self.lameDuckMode = lameDuckMode
        self.jetStream = jetStream
    }

    private enum CodingKeys: String, CodingKey {
        case serverID = "server_id"
        case serverName = "server_name"
        case version
        case proto
        case host
        case port
        case headers
        case maxPayload = "max_payload"
        case clientID = "client_id"
        case authRequired = "auth_required"
        case tlsRequired = "tls_required"
        case tlsVerify = "tls_verify"
        case tlsAvailable = "tls_available"
        case nonce
        case connectURLs = "connect_urls"
        case wsConnectURLs = "ws_connect_urls"
        case lameDuckMode = "ldm"
        case jetStream = "jetstream"
    }

    /// Decodes a server description, applying defaults for absent fields.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.serverID = try container.decodeIfPresent(String.self, forKey: .serverID) ?? ""
        self.serverName = try container.decodeIfPresent(String.self, forKey: .serverName)
        self.version = try container.decodeIfPresent(String.self, forKey: .version)
        self.proto = try container.decodeIfPresent(Int.self, forKey: .proto) ?? 0
        self.host = try container.decodeIfPresent(String.self, forKey: .host)
        self.port = try container.decodeIfPresent(Int.self, forKey: .port)
        self.headers = try container.decodeIfPresent(Bool.self, forKey: .headers) ?? false
        self.maxPayload = try container.decodeIfPresent(Int.self, forKey: .maxPayload) ?? Self.defaultMaxPayload
        self.clientID = try container.decodeIfPresent(UInt64.self, forKey: .clientID)
        self.authRequired = try container.decodeIfPresent(Bool.self, forKey: .authRequired) ?? false
        self.tlsRequired = try container.decodeIfPresent(Bool.self, forKey: .tlsRequired) ?? false
        self.tlsVerify = try container.decodeIfPresent(Bool.self, forKey: .tlsVerify) ?? false
        self.tlsAvailable = try container.decodeIfPresent(Bool.self, forKey: .tlsAvailable) ?? false
        self.nonce = try container.decodeIfPresent(String.self, forKey: .nonce)
        self.connectURLs = try container.decodeIfPresent([String].self, forKey: .connectURLs) ?? []
        self.wsConnectURLs = try container.decodeIfPresent([String].self, forKey: .wsConnectURLs) ?? []
        self.lameDuckMode = try container.decodeIfPresent(Bool.self, forKey: .lameDuckMode) ?? false
        self.jetStream = try container.decodeIfPresent(Bool.self, forKey: .jetStream) ?? false
    }

    /// Decodes the JSON argument of an `INFO` operation.
    ///
    /// - Throws: ``NATSProtocolError`` of kind ``NATSProtocolError/Kind/invalidInfo``.
    public init(json: some Collection<UInt8>) throws(NATSProtocolError) {
        do {
            self = try JSONDecoder().decode(ServerInfo.self, from: Data(json))
        } catch {
            throw NATSProtocolError(.invalidInfo, "INFO is not valid server JSON: \(error)")
        }
    }
}
