import Crypto

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// An Ed25519 key pair decoded from an NKey seed, used to answer a server's authentication challenge.
///
/// A seed is unpadded base32 of `[prefix, type, 32-byte Ed25519 seed, CRC-16 little-endian]`, where the top
/// five bits of the first byte are the seed prefix (18 << 3, encoding to 'S') and the remaining bits carry the
/// key type (user seeds start with "SU"). The public key is base32 of `[type, 32-byte public key, CRC-16]`.
///
/// The seed itself is not kept, and neither ``description`` nor any thrown error contains key material.
public struct NKey: Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    /// The role of a key, as encoded in its prefix byte.
    public enum KeyType: UInt8, Hashable, Sendable, CaseIterable {
        /// An operator key; public keys start with 'O'.
        case `operator` = 112  // 14 << 3
        /// A server key; public keys start with 'N'.
        case server = 104  // 13 << 3
        /// A cluster key; public keys start with 'C'.
        case cluster = 16  // 2 << 3
        /// An account key; public keys start with 'A'.
        case account = 0
        /// A user key; public keys start with 'U'.
        case user = 160  // 20 << 3
    }

    /// The prefix byte of an encoded seed (18 << 3), which base32-encodes to 'S'.
    static let seedPrefixByte: UInt8 = 18 << 3

    /// The role of the key.
    public let type: KeyType
    /// The encoded public key, for example "UAB2…" for a user; this is the `nkey` sent in `CONNECT`.
    public let publicKey: String
    private let signingKey: Curve25519.Signing.PrivateKey

    /// Decodes an NKey seed such as the one in a `.creds` file. Surrounding whitespace is ignored.
    ///
    /// - Throws: ``NKeyError``; its description never contains the seed.
    public init(seed: String) throws(NKeyError) {
        let trimmed = seed.trimmingASCIIWhitespace
        guard let decoded = Base32.decode(trimmed) else {
            throw NKeyError(.invalidEncoding)
        }
        let raw = try Self.verifyChecksum(decoded)
        guard raw.count == 2 + 32 else {
            throw NKeyError(.invalidLength)
        }
        guard raw[0] & 0xF8 == Self.seedPrefixByte else {
            throw NKeyError(.notASeed)
        }
        let typeByte = ((raw[0] & 0x07) << 5) | ((raw[1] & 0xF8) >> 3)
        guard let type = KeyType(rawValue: typeByte) else {
            throw NKeyError(.invalidPrefix)
        }
        let signingKey: Curve25519.Signing.PrivateKey
        do {
            signingKey = try Curve25519.Signing.PrivateKey(rawRepresentation: raw[2...])
        } catch {
            throw NKeyError(.invalidKey)
        }
        self.type = type
        self.signingKey = signingKey
        self.publicKey = Self.encode(prefix: type.rawValue, key: signingKey.publicKey.rawRepresentation)
    }

    /// Signs `data` with the private key and returns the 64-byte Ed25519 signature.
    ///
    /// - Throws: ``NKeyError`` of kind ``NKeyError/Kind/signingFailed``.
    public func sign(_ data: some DataProtocol) throws(NKeyError) -> [UInt8] {
        do {
            return Array(try self.signingKey.signature(for: data))
        } catch {
            throw NKeyError(.signingFailed)
        }
    }

    /// Signs the UTF-8 bytes of a server nonce and returns the signature base64url-encoded without padding,
    /// the form the `sig` field of `CONNECT` expects.
    ///
    /// - Throws: ``NKeyError`` of kind ``NKeyError/Kind/signingFailed``.
    public func sign(nonce: String) throws(NKeyError) -> String {
        Self.base64URLEncoded(try self.sign(Array(nonce.utf8)))
    }

    /// Checks an Ed25519 `signature` of `data` against an encoded public key such as "UAB2…".
    ///
    /// - Returns: whether the signature is valid.
    /// - Throws: ``NKeyError`` if `publicKey` is not a valid encoded public key.
    public static func verify(
        signature: some DataProtocol,
        for data: some DataProtocol,
        publicKey: String
    ) throws(NKeyError) -> Bool {
        guard let decoded = Base32.decode(publicKey.trimmingASCIIWhitespace) else {
            throw NKeyError(.invalidEncoding)
        }
        let raw = try Self.verifyChecksum(decoded)
        guard raw.count == 1 + 32 else {
            throw NKeyError(.invalidLength)
        }
        guard KeyType(rawValue: raw[0]) != nil else {
            throw NKeyError(.invalidPrefix)
        }
        let key: Curve25519.Signing.PublicKey
        do {
            key = try Curve25519.Signing.PublicKey(rawRepresentation: raw[1...])
        } catch {
            throw NKeyError(.invalidKey)
        }
        return key.isValidSignature(signature, for: data)
    }

    /// The key type and public key; the seed is left out.
    public var description: String {
        "NKey(\(self.type), \(self.publicKey))"
    }

    /// Same as ``description``.
    public var debugDescription: String {
        self.description
    }

    /// Checks and strips the trailing little-endian CRC-16.
    private static func verifyChecksum(_ decoded: [UInt8]) throws(NKeyError) -> ArraySlice<UInt8> {
        guard decoded.count > 2 else {
            throw NKeyError(.invalidLength)
        }
        let body = decoded.dropLast(2)
        let expected = UInt16(decoded[decoded.count - 2]) | UInt16(decoded[decoded.count - 1]) << 8
        guard CRC16.checksum(body) == expected else {
            throw NKeyError(.invalidChecksum)
        }
        return body
    }

    private static func encode(prefix: UInt8, key: some DataProtocol) -> String {
        var bytes = [prefix]
        bytes.append(contentsOf: key)
        let crc = CRC16.checksum(bytes)
        bytes.append(UInt8(truncatingIfNeeded: crc))
        bytes.append(UInt8(truncatingIfNeeded: crc >> 8))
        return Base32.encode(bytes)
    }

    static func base64URLEncoded(_ bytes: [UInt8]) -> String {
        var text = Data(bytes).base64EncodedString()
        text = String(
            text.compactMap { character -> Character? in
                switch character {
                case "+": "-"
                case "/": "_"
                case "=": nil
                default: character
                }
            })
        return text
    }
}
