#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// The user JWT and NKey from a NATS `.creds` file, as written by `nsc`:
///
/// ```
/// -----BEGIN NATS USER JWT-----
/// eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ...
/// ------END NATS USER JWT------
///
/// ************************* IMPORTANT *************************
/// ...
/// -----BEGIN USER NKEY SEED-----
/// SUAM...
/// ------END USER NKEY SEED------
/// ```
///
/// Blocks are delimited loosely: any line starting with three or more dashes opens a block or closes the open
/// one, and text outside blocks is ignored. The JWT is the first block whose opening line mentions "JWT" (else
/// the first one not mentioning "SEED"); the seed is the first block whose opening line mentions "SEED" (else
/// the next block not mentioning "JWT").
///
/// ``description`` and every thrown error leave the seed out.
public struct Credentials: Sendable, CustomStringConvertible {
    /// The user JWT, sent as `jwt` in `CONNECT`.
    public let jwt: String
    /// The user's key pair, used to sign the server nonce.
    public let nkey: NKey
    /// Where the credentials came from: a file path or the name given to ``init(parsing:source:)``.
    public let source: String
    /// The seed text, kept only so that callers can redact it from output (never printed).
    private let seed: String

    /// Strings that must never appear in a log, a result or a comment: the seed.
    public var secrets: [String] { [seed] }

    /// Reads and parses a `.creds` file.
    ///
    /// - Throws: ``CredentialsError`` naming `path`.
    public init(contentsOfFile path: String) throws(CredentialsError) {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw CredentialsError(source: path, reason: .unreadable(String(describing: error)))
        }
        try self.init(parsing: String(decoding: data, as: UTF8.self), source: path)
    }

    /// Parses the contents of a `.creds` file.
    ///
    /// - Parameters:
    ///   - contents: the file contents.
    ///   - source: a name for error messages, usually the file path.
    /// - Throws: ``CredentialsError`` naming `source`.
    public init(parsing contents: String, source: String) throws(CredentialsError) {
        let blocks = try Self.blocks(in: contents, source: source)
        let jwtIndex =
            blocks.firstIndex { $0.mentions("JWT") } ?? blocks.firstIndex { !$0.mentions("SEED") }
        guard let jwtIndex, !blocks[jwtIndex].body.isEmpty else {
            throw CredentialsError(source: source, reason: .missingJWT)
        }
        let jwt = blocks[jwtIndex].body
        guard Self.looksLikeJWT(jwt) else {
            throw CredentialsError(source: source, reason: .invalidJWT)
        }
        let seedIndex =
            blocks.firstIndex { $0.mentions("SEED") }
            ?? blocks.indices.first { $0 != jwtIndex && !blocks[$0].mentions("JWT") }
        guard let seedIndex, !blocks[seedIndex].body.isEmpty else {
            throw CredentialsError(source: source, reason: .missingSeed)
        }
        let seed = blocks[seedIndex].body
        do {
            self.nkey = try NKey(seed: seed)
        } catch {
            throw CredentialsError(source: source, reason: .invalidSeed(error))
        }
        self.jwt = jwt
        self.source = source
        self.seed = seed
    }

    /// Signs a server nonce with the user's key; see ``NKey/sign(nonce:)``.
    ///
    /// - Throws: ``NKeyError`` if signing fails.
    public func sign(nonce: String) throws(NKeyError) -> String {
        try self.nkey.sign(nonce: nonce)
    }

    /// The source and the user public key; the seed is left out.
    public var description: String {
        "Credentials(source: \(self.source), user: \(self.nkey.publicKey))"
    }

    private struct Block {
        var label: String
        var body: String

        func mentions(_ word: String) -> Bool {
            self.label.uppercased().contains(word)
        }
    }

    /// Splits the file into dash-delimited blocks; a block's body is its non-empty lines, trimmed and joined.
    private static func blocks(in contents: String, source: String) throws(CredentialsError) -> [Block] {
        var blocks: [Block] = []
        var open: (label: String, lines: [String])?
        for rawLine in contents.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline) {
            let line = rawLine.trimmingASCIIWhitespace
            if line.hasPrefix("---") {
                if let current = open {
                    blocks.append(Block(label: current.label, body: current.lines.joined()))
                    open = nil
                } else {
                    open = (label: line, lines: [])
                }
            } else if !line.isEmpty, open != nil {
                open?.lines.append(line)
            }
        }
        guard open == nil else {
            throw CredentialsError(source: source, reason: .unterminatedBlock)
        }
        return blocks
    }

    /// Whether `text` is three non-empty dot-separated parts of base64url characters.
    private static func looksLikeJWT(_ text: String) -> Bool {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 3
            && parts.allSatisfy { part in
                !part.isEmpty
                    && part.utf8.allSatisfy { byte in
                        switch byte {
                        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"),
                            UInt8(ascii: "="):
                            true
                        default:
                            false
                        }
                    }
            }
    }
}
