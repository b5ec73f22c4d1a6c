/// An error reading or parsing a NATS `.creds` file.
///
/// Its description names the file and what was wrong, and never contains the seed.
public struct CredentialsError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What was wrong with the file.
    public enum Reason: Hashable, Sendable {
        /// The file could not be read; the associated text comes from the system.
        case unreadable(String)
        /// No JWT block was found.
        case missingJWT
        /// No seed block was found.
        case missingSeed
        /// A block opened by a dashed line was never closed.
        case unterminatedBlock
        /// The JWT block does not hold three dot-separated base64url parts.
        case invalidJWT
        /// The seed block does not hold a valid NKey seed.
        case invalidSeed(NKeyError)
    }

    /// The file path, or the source name given to ``Credentials/init(parsing:source:)``.
    public var source: String
    /// What was wrong.
    public var reason: Reason

    /// Creates an error for `source`.
    public init(source: String, reason: Reason) {
        self.source = source
        self.reason = reason
    }

    /// The source and what was wrong; it never contains the seed.
    public var description: String {
        let detail: String
        switch self.reason {
        case .unreadable(let message): detail = "cannot be read: \(message)"
        case .missingJWT: detail = "has no '-----BEGIN NATS USER JWT-----' block"
        case .missingSeed: detail = "has no '-----BEGIN USER NKEY SEED-----' block"
        case .unterminatedBlock: detail = "has a block without its closing '------END ...------' line"
        case .invalidJWT: detail = "has a JWT block that is not a JWT"
        case .invalidSeed(let error): detail = "has an invalid seed (\(error))"
        }
        return "NATS credentials file '\(self.source)' \(detail)"
    }
}
