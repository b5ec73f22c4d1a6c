import Crypto
import Foundation
import Testing

@testable import NATS

/// Vectors made with the Python `nkeys` package 0.2.1 (PyNaCl 1.6.2):
///
///     import nkeys, base64
///     seed = nkeys.encode_seed(bytes(range(32)), nkeys.PREFIX_BYTE_USER)
///     kp = nkeys.from_seed(bytearray(seed))
///     kp.public_key                    # public key below
///     sig = kp.sign(b"PXoWU7zWAMt75FY")
///     base64.urlsafe_b64encode(sig).rstrip(b"=")   # signature below
///     aseed = nkeys.encode_seed(bytes(range(32, 64)), nkeys.PREFIX_BYTE_ACCOUNT)
///     nkeys.from_seed(bytearray(aseed)).public_key  # account public key below
enum NKeyVectors {
    static let userSeed = "SUAAAAICAMCAKBQHBAEQUCYMBUHA6EARCIJRIFIWC4MBSGQ3DQOR4H776Y"
    static let userPublicKey = "UAB2CB576PHBBPQ5ODORRZ2LYCMWPZGWGCN2KDK7DXOIMZASKUY3RLKK"
    static let nonce = "PXoWU7zWAMt75FY"
    static let signature =
        "bnxg5G8aOV2LQdSE_lcM9clxm_fbTTZxsqQ1EpTNgJXmH6z5ezesd49kXfuNhoAqw_DmEtsGcNsJdug9wMuRDQ"
    static let accountSeed = "SAACAIJCEMSCKJRHFAUSUKZMFUXC6MBRGIZTINJWG44DSOR3HQ6T4P7MNU"
    static let accountPublicKey = "AAU2ZOXBIG6MV4FSFYNJJU2NBPDTMHSSNUF74EWIS6KLZEZCSZW5OICT"
}

@Suite(.timeLimit(.minutes(1))) struct NKeyTests {
    @Test func userSeedMatchesPythonNKeys() throws {
        let key = try NKey(seed: NKeyVectors.userSeed)
        #expect(key.type == .user)
        #expect(key.publicKey == NKeyVectors.userPublicKey)
        #expect(key.publicKey.hasPrefix("U"))
    }

    @Test func accountSeed() throws {
        let key = try NKey(seed: NKeyVectors.accountSeed + "\n")
        #expect(key.type == .account)
        #expect(key.publicKey == NKeyVectors.accountPublicKey)
    }

    @Test func signatureIsBase64URLWithoutPaddingAndVerifies() throws {
        let key = try NKey(seed: NKeyVectors.userSeed)
        let signature = try key.sign(nonce: NKeyVectors.nonce)
        #expect(!signature.contains("="))
        #expect(!signature.contains("+"))
        #expect(!signature.contains("/"))
        #expect(signature.count == 86)  // 64 bytes, unpadded base64
        #if os(Linux)
            // swift-crypto on Linux (BoringSSL) signs Ed25519 deterministically, as PyNaCl does. CryptoKit on
            // Apple platforms randomizes signatures, so there only verification is checked.
            #expect(signature == NKeyVectors.signature)
        #endif
        #expect(
            try NKey.verify(
                signature: Self.base64URLDecode(signature),
                for: Array(NKeyVectors.nonce.utf8),
                publicKey: NKeyVectors.userPublicKey
            )
        )
        // The signature Python made verifies against the key we derived.
        #expect(
            try NKey.verify(
                signature: Self.base64URLDecode(NKeyVectors.signature),
                for: Array(NKeyVectors.nonce.utf8),
                publicKey: key.publicKey
            )
        )
        #expect(
            try !NKey.verify(
                signature: Self.base64URLDecode(NKeyVectors.signature),
                for: Array("other nonce".utf8),
                publicKey: key.publicKey
            )
        )
    }

    @Test func brokenChecksumFailsWithoutLeakingTheSeed() {
        var characters = Array(NKeyVectors.userSeed)
        characters[20] = characters[20] == "A" ? "B" : "A"
        let broken = String(characters)
        #expect {
            try NKey(seed: broken)
        } throws: { error in
            guard let error = error as? NKeyError else {
                return false
            }
            let text = "\(error) \(String(reflecting: error))"
            return error.kind == .invalidChecksum && !text.contains(broken) && !text.contains(String(broken.prefix(12)))
        }
    }

    @Test func rejectsMalformedSeeds() {
        func kind(_ seed: String) -> NKeyError.Kind? {
            do {
                _ = try NKey(seed: seed)
                return nil
            } catch {
                return error.kind
            }
        }
        #expect(kind(NKeyVectors.userSeed.lowercased()) == .invalidEncoding)
        #expect(kind("SU!@#") == .invalidEncoding)
        #expect(kind("") == .invalidLength)
        #expect(kind(String(NKeyVectors.userSeed.dropLast(8))) != nil)
        #expect(kind(NKeyVectors.userPublicKey) == .invalidLength)
        #expect(kind(Self.encodeSeedBytes(first: 15 << 3, second: 0)) == .notASeed)
        #expect(kind(Self.encodeSeedBytes(first: NKey.seedPrefixByte, second: 8 << 3)) == .invalidPrefix)
    }

    @Test func descriptionHidesTheSeed() throws {
        let key = try NKey(seed: NKeyVectors.userSeed)
        #expect("\(key)" == "NKey(user, \(NKeyVectors.userPublicKey))")
        #expect(!String(reflecting: key).contains(NKeyVectors.userSeed))
    }

    @Test func crc16IsXModem() {
        #expect(CRC16.checksum(Array("123456789".utf8)) == 0x31C3)
        #expect(CRC16.checksum([]) == 0)
    }

    @Test func base32RoundTripsAndRejectsBadInput() {
        for length in 0..<12 {
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
            let text = Base32.encode(bytes)
            #expect(!text.contains("="))
            #expect(Base32.decode(text) == bytes)
        }
        #expect(Base32.encode(Array("foobar".utf8)) == "MZXW6YTBOI")
        #expect(Base32.decode("MZXW6YTBOI") == Array("foobar".utf8))
        #expect(Base32.decode("A") == nil)  // impossible length
        #expect(Base32.decode("MZXW6YTBOJ") == nil)  // non-zero trailing bits
        #expect(Base32.decode("mzxw6ytboi") == nil)
        #expect(Base32.decode("MZXW6YTBOI======") == nil)
    }

    /// A seed with the given prefix bytes, a zero key and a valid checksum.
    static func encodeSeedBytes(first: UInt8, second: UInt8) -> String {
        var raw = [first, second] + [UInt8](repeating: 0, count: 32)
        let crc = CRC16.checksum(raw)
        raw += [UInt8(truncatingIfNeeded: crc), UInt8(truncatingIfNeeded: crc >> 8)]
        return Base32.encode(raw)
    }

    static func base64URLDecode(_ text: String) throws -> [UInt8] {
        var standard = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        standard += String(repeating: "=", count: (4 - standard.count % 4) % 4)
        return Array(try #require(Data(base64Encoded: standard)))
    }
}
