import Foundation
import Testing

@testable import NATS

@Suite(.timeLimit(.minutes(1))) struct CredentialsTests {
    static let jwt = "eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.eyJzdWIiOiJVQUIyQ0I1NzYifQ.c2lnbmF0dXJlLWJ5dGVz"

    /// The layout `nsc` writes.
    static func credsFile(jwt: String = Self.jwt, seed: String = NKeyVectors.userSeed) -> String {
        """
        -----BEGIN NATS USER JWT-----
        \(jwt)
        ------END NATS USER JWT------

        ************************* IMPORTANT *************************
        NKEY Seed printed below can be used to sign and prove identity.
        NKEYs are sensitive and should be treated as secrets.

        -----BEGIN USER NKEY SEED-----
        \(seed)
        ------END USER NKEY SEED------

        *************************************************************

        """
    }

    @Test func parsesStandardFile() throws {
        let credentials = try Credentials(parsing: Self.credsFile(), source: "test.creds")
        #expect(credentials.jwt == Self.jwt)
        #expect(credentials.nkey.publicKey == NKeyVectors.userPublicKey)
        #expect(credentials.nkey.type == .user)
        #expect(credentials.source == "test.creds")
        #expect(!"\(credentials)".contains(NKeyVectors.userSeed))
        let signature = try credentials.sign(nonce: NKeyVectors.nonce)
        #expect(signature.count == 86)
    }

    @Test func toleratesCRLFIndentationAndOtherDashCounts() throws {
        let text =
            "---BEGIN NATS USER JWT---\r\n  \(Self.jwt)  \r\n---END NATS USER JWT---\r\n\r\n"
            + "---------BEGIN USER NKEY SEED---------\r\n\t\(NKeyVectors.userSeed)\r\n----END USER NKEY SEED----\r\n"
        let credentials = try Credentials(parsing: text, source: "crlf.creds")
        #expect(credentials.jwt == Self.jwt)
        #expect(credentials.nkey.publicKey == NKeyVectors.userPublicKey)
    }

    @Test func readsFromFile() throws {
        let path = FileManager.default.temporaryDirectory
            .appendingPathComponent("nats-creds-\(UUID().uuidString).creds").path
        try Self.credsFile().write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let credentials = try Credentials(contentsOfFile: path)
        #expect(credentials.jwt == Self.jwt)
        #expect(credentials.source == path)
    }

    @Test func missingFileNamesThePath() {
        let path = "/nonexistent/dir/user.creds"
        #expect {
            try Credentials(contentsOfFile: path)
        } throws: { error in
            guard let error = error as? CredentialsError, case .unreadable = error.reason else {
                return false
            }
            return "\(error)".contains(path)
        }
    }

    @Test func brokenSeedChecksumNamesFileAndHidesSeed() {
        var characters = Array(NKeyVectors.userSeed)
        characters[30] = characters[30] == "A" ? "B" : "A"
        let brokenSeed = String(characters)
        #expect {
            try Credentials(parsing: Self.credsFile(seed: brokenSeed), source: "/etc/nats/user.creds")
        } throws: { error in
            guard let error = error as? CredentialsError else {
                return false
            }
            let text = "\(error) \(String(reflecting: error))"
            return error.reason == .invalidSeed(NKeyError(.invalidChecksum))
                && text.contains("/etc/nats/user.creds")
                && !text.contains(brokenSeed)
                && !text.contains(NKeyVectors.userSeed)
        }
    }

    @Test(arguments: [
        ("", CredentialsError.Reason.missingJWT),
        ("just some text\n", .missingJWT),
        ("-----BEGIN USER NKEY SEED-----\n\(NKeyVectors.userSeed)\n------END USER NKEY SEED------\n", .missingJWT),
        ("-----BEGIN NATS USER JWT-----\n\(jwt)\n------END NATS USER JWT------\n", .missingSeed),
        ("-----BEGIN NATS USER JWT-----\n------END NATS USER JWT------\n", .missingJWT),
        ("-----BEGIN NATS USER JWT-----\nnot a jwt\n------END NATS USER JWT------\n", .invalidJWT),
        ("-----BEGIN NATS USER JWT-----\n\(jwt)\n", .unterminatedBlock),
        (
            "-----BEGIN NATS USER JWT-----\n\(jwt)\n------END NATS USER JWT------\n"
                + "-----BEGIN USER NKEY SEED-----\n\(NKeyVectors.userSeed)\n",
            .unterminatedBlock
        ),
        (
            "-----BEGIN NATS USER JWT-----\n\(jwt)\n------END NATS USER JWT------\n"
                + "-----BEGIN USER NKEY SEED-----\n\(NKeyVectors.userPublicKey)\n------END USER NKEY SEED------\n",
            .invalidSeed(NKeyError(.invalidLength))
        ),
    ])
    func malformedFilesThrow(contents: String, reason: CredentialsError.Reason) {
        #expect {
            try Credentials(parsing: contents, source: "bad.creds")
        } throws: { error in
            guard let error = error as? CredentialsError else {
                return false
            }
            return error.reason == reason && error.source == "bad.creds" && "\(error)".contains("bad.creds")
                && !"\(error)".contains(NKeyVectors.userSeed)
        }
    }
}
