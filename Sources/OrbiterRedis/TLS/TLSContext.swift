import COpenSSL
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// An OpenSSL `SSL_CTX` made from one `RedisTLS`: the CA store, the client certificate and the
/// protocol floor (TLS 1.2). Made once per settings and reused by every connection, because
/// loading the system's CA store costs milliseconds a reconnect should not pay; made again when
/// one of its files changes, so a rotated certificate is used by the next connection.
final class TLSContext: @unchecked Sendable {
    /// `SSL_CTX` is safe to share between threads once set up; it is never changed after `init`.
    let pointer: OpaquePointer

    private init(_ settings: RedisTLS) throws {
        TLSContext.ignoreSIGPIPE
        guard let ctx = SSL_CTX_new(TLS_client_method()) else {
            throw RedisError.connection("cannot set up TLS: \(TLSContext.openSSLErrors())")
        }
        pointer = ctx
        _ = orbiter_ssl_ctx_set_min_tls12(ctx)
        _ = orbiter_ssl_ctx_set_mode_auto_retry(ctx)
        // An encrypted key would make OpenSSL prompt on the terminal: refuse it instead.
        SSL_CTX_set_default_passwd_cb(ctx) { _, _, _, _ in 0 }
        SSL_CTX_set_verify(ctx, settings.insecure ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, nil)
        if let ca = settings.caFile {
            guard SSL_CTX_load_verify_locations(ctx, ca, nil) == 1 else {
                throw RedisError.connection("cannot read the TLS CA file '\(ca)': \(TLSContext.fileProblem(ca))")
            }
        } else if SSL_CTX_set_default_verify_paths(ctx) != 1 {
            throw RedisError.connection("cannot load the system's CA certificates: \(TLSContext.openSSLErrors()); give the CA with --redis-tls-ca FILE")
        }
        if let cert = settings.certFile, let key = settings.keyFile {
            guard SSL_CTX_use_certificate_chain_file(ctx, cert) == 1 else {
                throw RedisError.connection("cannot read the TLS client certificate '\(cert)': \(TLSContext.fileProblem(cert))")
            }
            guard SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) == 1 else {
                let problem = TLSContext.fileProblem(key)
                if problem.contains("key values mismatch") {
                    throw RedisError.connection("the TLS client key '\(key)' does not belong to the certificate '\(cert)'")
                }
                throw RedisError.connection("cannot read the TLS client key '\(key)': \(problem) (it must be an unencrypted PEM key)")
            }
            guard SSL_CTX_check_private_key(ctx) == 1 else {
                throw RedisError.connection("the TLS client key '\(key)' does not belong to the certificate '\(cert)'")
            }
        }
        ERR_clear_error()
    }

    deinit { SSL_CTX_free(pointer) }

    /// Contexts by settings, with the modification times of their files when made.
    private static let cache = Mutex<[RedisTLS: (stamp: [Double], context: TLSContext)]>([:])

    /// The context for `settings`, made now if there is none or one of its files changed since.
    static func context(for settings: RedisTLS) throws -> TLSContext {
        let stamp = [settings.caFile, settings.certFile, settings.keyFile].map { path -> Double in
            guard let path, let attributes = try? FileManager.default.attributesOfItem(atPath: path),
                  let date = attributes[.modificationDate] as? Date else { return 0 }
            return date.timeIntervalSince1970
        }
        if let cached = cache.withLock({ $0[settings] }), cached.stamp == stamp { return cached.context }
        let made = try TLSContext(settings)
        cache.withLock { $0[settings] = (stamp, made) }
        return made
    }

    /// OpenSSL's queued errors as one line of reasons ("certificate verify failed; ..."), emptying the queue.
    static func openSSLErrors() -> String {
        var reasons: [String] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            if let reason = ERR_reason_error_string(code) { reasons.append(String(cString: reason)) }
            else { reasons.append("OpenSSL error \(code)") }
        }
        return reasons.isEmpty ? "unknown TLS error" : reasons.joined(separator: "; ")
    }

    /// Why a PEM file could not be used: missing or unreadable first, else what OpenSSL said.
    private static func fileProblem(_ path: String) -> String {
        if !FileManager.default.fileExists(atPath: path) { ERR_clear_error(); return "no such file" }
        if !FileManager.default.isReadableFile(atPath: path) { ERR_clear_error(); return "not readable by this user" }
        return openSSLErrors()
    }

    /// A write to a socket the server closed raises SIGPIPE, which kills the process unless handled.
    /// Ignored once, only when the disposition is the default: a host that handles it keeps its handler.
    private static let ignoreSIGPIPE: Void = {
        var current = sigaction()
        if sigaction(SIGPIPE, nil, &current) == 0, current.__sigaction_handler.sa_handler == nil {
            signal(SIGPIPE, SIG_IGN)
        }
    }()
}
