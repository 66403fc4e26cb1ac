import Foundation

/// Certificates made by the test run with `openssl`: a CA, a server certificate it signed for
/// `localhost` and `127.0.0.1`, a client certificate it signed, and a second CA that signed nothing
/// of the server's (the "wrong CA"). Made once per process, in a temporary folder.
public struct TestCertificates: Sendable {
    public let dir: URL
    public var caCert: String { dir.appendingPathComponent("ca.crt").path }
    public var serverCert: String { dir.appendingPathComponent("server.crt").path }
    public var serverKey: String { dir.appendingPathComponent("server.key").path }
    public var clientCert: String { dir.appendingPathComponent("client.crt").path }
    public var clientKey: String { dir.appendingPathComponent("client.key").path }
    public var otherCACert: String { dir.appendingPathComponent("other-ca.crt").path }

    public static func shared() throws -> TestCertificates {
        try made.get()
    }

    private static let made: Result<TestCertificates, any Error> = Result { try TestCertificates() }

    private init() throws {
        dir = try temporaryFolder("orbiter-test-certs")
        let d = dir.path
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        func openssl(_ args: [String]) throws {
            let status = PrivateRedis.spawnAndWait(["/usr/bin/openssl"] + args)
            guard status == 0 else { throw TestFailure("openssl \(args.joined(separator: " ")) exited with \(status)") }
        }
        try "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"
            .write(toFile: "\(d)/server.ext", atomically: true, encoding: .utf8)
        try "extendedKeyUsage=clientAuth\n".write(toFile: "\(d)/client.ext", atomically: true, encoding: .utf8)
        for ca in ["ca", "other-ca"] {
            try openssl(["req", "-x509"] + ec + ["-keyout", "\(d)/\(ca).key", "-out", "\(d)/\(ca).crt",
                                                 "-days", "2", "-subj", "/CN=Orbiter test \(ca)"])
        }
        for leaf in ["server", "client"] {
            try openssl(["req"] + ec + ["-keyout", "\(d)/\(leaf).key", "-out", "\(d)/\(leaf).csr", "-subj", "/CN=orbiter-\(leaf)"])
            try openssl(["x509", "-req", "-in", "\(d)/\(leaf).csr", "-CA", "\(d)/ca.crt", "-CAkey", "\(d)/ca.key",
                         "-CAcreateserial", "-out", "\(d)/\(leaf).crt", "-days", "2", "-extfile", "\(d)/\(leaf).ext"])
        }
    }
}

/// A redis-server of a test's own that also speaks TLS on `tlsPort`, with the certificates of
/// `TestCertificates`. Its plain port stays open for the fixture's own checks (`server.url`).
public final class PrivateTLSRedis: @unchecked Sendable {
    public let server: PrivateRedis
    public let tlsPort: Int
    public let certificates: TestCertificates

    /// `clientCertificates`: the server refuses clients without a certificate its CA signed.
    public init(clientCertificates: Bool = false, password: String? = nil) throws {
        certificates = try TestCertificates.shared()
        tlsPort = try freePort()
        server = try PrivateRedis(persistent: false, password: password, arguments: [
            "--tls-port", "\(tlsPort)", "--tls-cert-file", certificates.serverCert, "--tls-key-file", certificates.serverKey,
            "--tls-ca-cert-file", certificates.caCert, "--tls-auth-clients", clientCertificates ? "yes" : "no"])
    }

    /// `rediss://[user info]127.0.0.1:tlsPort` with `query` (e.g. `tls_ca=...`), no TLS files added.
    public func url(host: String = "127.0.0.1", userInfo: String = "", query: String = "") -> String {
        "rediss://\(userInfo)\(host):\(tlsPort)" + (query.isEmpty ? "" : "?" + query)
    }

    /// The URL with the test CA (and with `client` the client certificate) in its query.
    public func trustedURL(client: Bool = false, host: String = "127.0.0.1", userInfo: String = "") -> String {
        var query = "tls_ca=\(certificates.caCert)"
        if client { query += "&tls_cert=\(certificates.clientCert)&tls_key=\(certificates.clientKey)" }
        return url(host: host, userInfo: userInfo, query: query)
    }
}
