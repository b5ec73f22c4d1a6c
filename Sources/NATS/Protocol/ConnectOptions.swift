#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// The JSON argument of the client's `CONNECT` operation.
///
/// Optional fields are omitted from the JSON when `nil`. ``description`` redacts the secrets
/// (`pass`, `auth_token`, `jwt`, `sig`), so the options can be logged.
public struct ConnectOptions: Encodable, Hashable, Sendable, CustomStringConvertible {
    /// Ask the server to acknowledge each operation with `+OK` (`verbose`).
    public var verbose: Bool
    /// Ask the server for strict checking of subjects (`pedantic`).
    public var pedantic: Bool
    /// Whether the client requires TLS (`tls_required`).
    public var tlsRequired: Bool
    /// The connection name shown in monitoring (`name`).
    public var name: String?
    /// The implementation language (`lang`).
    public var lang: String
    /// The client library version (`version`).
    public var version: String
    /// The protocol level: 1 enables asynchronous `INFO` updates (`protocol`).
    public var protocolVersion: Int
    /// Whether the client understands `HMSG` (`headers`).
    public var headers: Bool
    /// Whether the server should send a 503 status when a request has no responders (`no_responders`).
    public var noResponders: Bool
    /// Whether the server should deliver the client's own messages back to it (`echo`).
    public var echo: Bool
    /// The user name for user/password authentication (`user`).
    public var user: String?
    /// The password for user/password authentication (`pass`).
    public var pass: String?
    /// The token for token authentication (`auth_token`).
    public var authToken: String?
    /// The user JWT for decentralized authentication (`jwt`).
    public var jwt: String?
    /// The public NKey for NKey authentication (`nkey`).
    public var nkey: String?
    /// The server nonce signed with the user's NKey, base64url without padding (`sig`).
    public var sig: String?

    /// Creates connect options with the usual client defaults.
    public init(
        verbose: Bool = false,
        pedantic: Bool = false,
        tlsRequired: Bool = false,
        name: String? = nil,
        lang: String = "swift",
        version: String = "0.1.0",
        protocolVersion: Int = 1,
        headers: Bool = true,
        noResponders: Bool = true,
        echo: Bool = true,
        user: String? = nil,
        pass: String? = nil,
        authToken: String? = nil,
        jwt: String? = nil,
        nkey: String? = nil,
        sig: String? = nil
    ) {
        self.verbose = verbose
        self.pedantic = pedantic
        self.tlsRequired = tlsRequired
        self.name = name
        self.lang = lang
        self.version = version
        self.protocolVersion = protocolVersion
        self.headers = headers
        self.noResponders = noResponders
        self.echo = echo
        self.user = user
        self.pass = pass
        self.authToken = authToken
        self.jwt = jwt
        self.nkey = nkey
        self.sig = sig
    }

    private enum CodingKeys: String, CodingKey {
        case verbose
        case pedantic
        case tlsRequired = "tls_required"
        case name
        case lang
        case version
        case protocolVersion = "protocol"
        case headers
        case noResponders = "no_responders"
        case echo
        case user
        case pass
        case authToken = "auth_token"
        case jwt
        case nkey
        case sig
    }

    /// Encodes the options with NATS field names, omitting `nil` fields.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.verbose, forKey: .verbose)
        try container.encode(self.pedantic, forKey: .pedantic)
        try container.encode(self.tlsRequired, forKey: .tlsRequired)
        try container.encodeIfPresent(self.name, forKey: .name)
        try container.encode(self.lang, forKey: .lang)
        try container.encode(self.version, forKey: .version)
        try container.encode(self.protocolVersion, forKey: .protocolVersion)
        try container.encode(self.headers, forKey: .headers)
        try container.encode(self.noResponders, forKey: .noResponders)
        try container.encode(self.echo, forKey: .echo)
        try container.encodeIfPresent(self.user, forKey: .user)
        try container.encodeIfPresent(self.pass, forKey: .pass)
        try container.encodeIfPresent(self.authToken, forKey: .authToken)
        try container.encodeIfPresent(self.jwt, forKey: .jwt)
        try container.encodeIfPresent(self.nkey, forKey: .nkey)
        try container.encodeIfPresent(self.sig, forKey: .sig)
    }

    /// The options as compact JSON with sorted keys.
    ///
    /// - Throws: ``NATSProtocolError`` of kind ``NATSProtocolError/Kind/invalidConnectOptions``.
    public func jsonBytes() throws(NATSProtocolError) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        do {
            return Array(try encoder.encode(self))
        } catch {
            // The error text is not included: it could quote a secret field.
            throw NATSProtocolError(.invalidConnectOptions, "CONNECT options could not be encoded as JSON")
        }
    }

    /// The options with `pass`, `auth_token`, `jwt` and `sig` redacted.
    public var description: String {
        func redacted(_ value: String?) -> String { value == nil ? "nil" : "<redacted>" }
        return "ConnectOptions(verbose: \(self.verbose), pedantic: \(self.pedantic), "
            + "tlsRequired: \(self.tlsRequired), name: \(self.name ?? "nil"), lang: \(self.lang), "
            + "version: \(self.version), protocol: \(self.protocolVersion), headers: \(self.headers), "
            + "noResponders: \(self.noResponders), echo: \(self.echo), user: \(self.user ?? "nil"), "
            + "pass: \(redacted(self.pass)), authToken: \(redacted(self.authToken)), jwt: \(redacted(self.jwt)), "
            + "nkey: \(self.nkey ?? "nil"), sig: \(redacted(self.sig)))"
    }
}
