import Foundation

/// A throw-away CA and a server certificate for 127.0.0.1 / localhost, made with `openssl` for TLS tests.
public struct TestCertificates: Sendable {
    public let caFile: String
    public let certificateFile: String
    public let keyFile: String

    public static func make(in directory: TemporaryDirectory) async throws -> TestCertificates {
        try Command.require("openssl")
        let ca = directory.appending("ca.pem")
        let caKey = directory.appending("ca.key")
        let key = directory.appending("server.key")
        let request = directory.appending("server.csr")
        let certificate = directory.appending("server.pem")
        let extensions = directory.appending("san.cnf")
        try "subjectAltName=IP:127.0.0.1,DNS:localhost\n".write(toFile: extensions, atomically: true, encoding: .utf8)
        try await Command.run(
            "openssl",
            [
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", caKey, "-out", ca, "-days", "2", "-subj",
                "/CN=claude-runner test CA",
            ])
        try await Command.run(
            "openssl",
            ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", request, "-subj", "/CN=localhost"])
        try await Command.run(
            "openssl",
            [
                "x509", "-req", "-in", request, "-CA", ca, "-CAkey", caKey, "-CAcreateserial", "-out", certificate,
                "-days", "2", "-extfile", extensions,
            ])
        return TestCertificates(caFile: ca, certificateFile: certificate, keyFile: key)
    }
}
