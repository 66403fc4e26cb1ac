import Foundation

/// How a `rediss://` connection is secured: TLS 1.2 or newer, the server's certificate checked
/// against a CA and the host's name, optionally a client certificate.
///
/// Set in the URL's query (`tls_ca`, `tls_cert`, `tls_key`, `tls_server_name`, `insecure=1`), or
/// for the files by `ORBITER_REDIS_TLS_CA`, `ORBITER_REDIS_TLS_CERT` and `ORBITER_REDIS_TLS_KEY`
/// when the query does not name them (the CLI's `--redis-tls-*` flags end up in the query).
public struct RedisTLS: Sendable, Hashable {
    /// PEM file of the CA certificates that may sign the server's; nil: the system's CA store.
    public var caFile: String?
    /// PEM file of the client certificate (and its chain), for servers with `tls-auth-clients yes`.
    public var certFile: String?
    /// PEM file of the client certificate's private key (unencrypted: a worker cannot type a passphrase).
    public var keyFile: String?
    /// The name the server's certificate must carry, also sent as SNI; nil: the URL's host.
    public var serverName: String?
    /// The server's certificate is not checked (`?insecure=1`): still encrypted, but anyone on the
    /// network path can pose as the server. Logged loudly by every command that uses it.
    public var insecure: Bool

    public init(caFile: String? = nil, certFile: String? = nil, keyFile: String? = nil,
                serverName: String? = nil, insecure: Bool = false) {
        self.caFile = caFile
        self.certFile = certFile
        self.keyFile = keyFile
        self.serverName = serverName
        self.insecure = insecure
    }

    /// The environment variables that give the files when the URL does not.
    public static let caVariable = "ORBITER_REDIS_TLS_CA"
    public static let certVariable = "ORBITER_REDIS_TLS_CERT"
    public static let keyVariable = "ORBITER_REDIS_TLS_KEY"

    /// The query parameters a `rediss://` URL takes.
    static let parameters: Set<Substring> = ["tls_ca", "tls_cert", "tls_key", "tls_server_name", "insecure"]

    /// Applies one query parameter (already known to be one of `parameters`).
    mutating func apply(parameter: Substring, value: Substring, bad: (String) -> RedisError) throws {
        let text = String(value).removingPercentEncoding ?? String(value)
        if parameter == "insecure" {
            switch text.lowercased() {
            case "1", "true", "yes": insecure = true
            case "0", "false", "no": insecure = false
            default: throw bad("insecure must be 1 or 0, got '\(text)'")
            }
            return
        }
        guard !text.isEmpty else { throw bad("\(parameter) is empty") }
        switch parameter {
        case "tls_ca": caFile = text
        case "tls_cert": certFile = text
        case "tls_key": keyFile = text
        default: serverName = text
        }
    }

    /// Fills files the URL left out from the environment, then checks the settings fit together.
    mutating func complete(environment: [String: String], bad: (String) -> RedisError) throws {
        func variable(_ name: String) -> String? {
            guard let v = environment[name]?.trimmingCharacters(in: .whitespaces), !v.isEmpty else { return nil }
            return v
        }
        caFile = caFile ?? variable(Self.caVariable)
        // A certificate and its key come as a pair: never one from the URL and one from the environment.
        if certFile == nil && keyFile == nil {
            certFile = variable(Self.certVariable)
            keyFile = variable(Self.keyVariable)
        }
        if (certFile == nil) != (keyFile == nil) {
            throw bad("a client certificate needs its private key: give both tls_cert and tls_key "
                      + "(--redis-tls-cert and --redis-tls-key, or \(Self.certVariable) and \(Self.keyVariable))")
        }
    }

    /// The query that reproduces these settings, for `RedisURL.description` (file paths are not secret).
    var query: [String] {
        [caFile.map { "tls_ca=\($0)" }, certFile.map { "tls_cert=\($0)" }, keyFile.map { "tls_key=\($0)" },
         serverName.map { "tls_server_name=\($0)" }, insecure ? "insecure=1" : nil].compactMap { $0 }
    }

    /// The warning every command prints (or logs) when verification is off.
    public static func insecureWarning(_ url: RedisURL) -> String {
        "TLS certificate verification is OFF for \(url) (insecure=1): the connection is encrypted, but anyone "
            + "on the network path can pose as the server and read or change every task, result and secret sent. "
            + "Give the server's CA with --redis-tls-ca FILE instead."
    }
}
