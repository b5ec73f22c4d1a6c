import Foundation
import NIOSSL

/// TLS settings for NATS connections: certificates are always verified against the URL's host or IP;
/// trusted roots are the system store plus `SSL_CERT_FILE` and the certificates in `SSL_CERT_DIR`, as
/// OpenSSL-based tools do. There is no insecure mode.
public enum NATSTLS {
    /// The client configuration for `environment` (the process environment by default).
    public static func clientConfiguration(
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> TLSConfiguration {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.certificateVerification = .fullVerification
        var extra: [NIOSSLCertificate] = []
        if let file = environment["SSL_CERT_FILE"], !file.isEmpty {
            extra += (try? NIOSSLCertificate.fromPEMFile(file)) ?? []
        }
        if let directory = environment["SSL_CERT_DIR"], !directory.isEmpty {
            for folder in directory.split(separator: ":") {
                let names = (try? FileManager.default.contentsOfDirectory(atPath: String(folder))) ?? []
                for name in names.sorted()
                where name.hasSuffix(".pem") || name.hasSuffix(".crt") || name.hasSuffix(".0") {
                    extra += (try? NIOSSLCertificate.fromPEMFile("\(folder)/\(name)")) ?? []
                }
            }
        }
        if !extra.isEmpty { configuration.additionalTrustRoots = [.certificates(extra)] }
        return configuration
    }

    /// Describes a TLS failure for the log: the reason, never key material.
    static func describe(_ error: any Error) -> String {
        if let error = error as? NIOSSLError {
            switch error {
            case .handshakeFailed(let reason): return "TLS handshake failed: \(reason)"
            case .unableToValidateCertificate: return "TLS certificate is not trusted"
            default: return "TLS error: \(error)"
            }
        }
        if let error = error as? NIOSSLExtraError { return "TLS error: \(error)" }
        return "\(error)"
    }
}
