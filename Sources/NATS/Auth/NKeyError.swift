/// An error decoding or using an NKey.
///
/// Its description names what was wrong and never contains the key material.
public struct NKeyError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What was wrong with the key.
    public enum Kind: String, Hashable, Sendable {
        /// The text is not unpadded upper-case base32.
        case invalidEncoding
        /// The decoded key has the wrong number of bytes.
        case invalidLength
        /// The CRC-16 checksum at the end of the key does not match.
        case invalidChecksum
        /// The key is not a seed: it does not start with the seed prefix 'S'.
        case notASeed
        /// The key's type prefix is not one of operator, account, server, cluster or user.
        case invalidPrefix
        /// The key bytes are not a valid Ed25519 key.
        case invalidKey
        /// Signing failed in the cryptography library.
        case signingFailed
    }

    /// What was wrong with the key.
    public var kind: Kind

    /// Creates an error of the given kind.
    public init(_ kind: Kind) {
        self.kind = kind
    }

    /// A fixed explanation of the kind; it never contains key material.
    public var description: String {
        switch self.kind {
        case .invalidEncoding: "invalid NKey: not upper-case base32 without padding"
        case .invalidLength: "invalid NKey: wrong length"
        case .invalidChecksum: "invalid NKey: checksum mismatch"
        case .notASeed: "invalid NKey seed: does not start with the seed prefix 'S'"
        case .invalidPrefix: "invalid NKey: unknown key type prefix"
        case .invalidKey: "invalid NKey: not a valid Ed25519 key"
        case .signingFailed: "NKey signing failed"
        }
    }
}
