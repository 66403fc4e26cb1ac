import CHiredis
import COpenSSL
#if canImport(Glibc)
import Glibc
#endif

/// A TLS session over a connected socket that speaks RESP: commands are written as RESP arrays,
/// replies parsed by hiredis's reader, the same parser the plain transport uses.
///
/// Blocking I/O, like hiredis's own: it runs on the thread of the `ConnectionWorker` that owns it,
/// so auto-pipelining and blocking reads work unchanged. Read and write timeouts are socket
/// options; another thread interrupts a read by `shutdown`ting the socket. Not Sendable.
final class TLSStream {
    /// The socket (owned: closed with the stream).
    let fd: Int32
    private let ssl: OpaquePointer
    private let reader: UnsafeMutablePointer<redisReader>
    /// RESP bytes appended and not yet written.
    private var output: [UInt8] = []
    private var input = [UInt8](repeating: 0, count: 64 * 1024)
    /// Why the stream cannot be used any more; nil while it can.
    private(set) var failure: String?

    /// Runs the TLS handshake on `fd` (which it then owns), checking the server's certificate
    /// against `settings` and `host` unless `settings.insecure`. Bounded by the socket's timeouts.
    init(fd: Int32, host: String, settings: RedisTLS, context: TLSContext) throws {
        self.fd = fd
        guard let ssl = SSL_new(context.pointer), let reader = redisReaderCreate() else {
            close(fd)
            throw RedisError.connection("cannot set up TLS: out of memory")
        }
        self.ssl = ssl
        self.reader = reader
        SSL_set_fd(ssl, fd)
        let name = settings.serverName ?? host
        let isAddress = TLSStream.isIPAddress(name)
        // SNI carries names only (RFC 6066): managed services route on it.
        if !isAddress { _ = orbiter_ssl_set_sni(ssl, name) }
        if !settings.insecure {
            // A name that cannot be set must not mean "no name check": refuse to go on instead.
            let set = isAddress ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name) : SSL_set1_host(ssl, name)
            guard set == 1 else {
                failure = "cannot set the name to check"
                throw RedisError.connection("cannot check the server's TLS certificate for '\(name)': \(TLSContext.openSSLErrors())")
            }
        }
        ERR_clear_error()
        if SSL_connect(ssl) != 1 {
            let problem = describeFailure(SSL_get_error(ssl, -1), during: "the TLS handshake")
            failure = problem
            throw RedisError.connection(TLSStream.handshakeMessage(problem, ssl: ssl, name: name, settings: settings))
        }
    }

    deinit {
        // close_notify only on a healthy stream: a broken one may not even take a write.
        if failure == nil { SSL_shutdown(ssl) }
        SSL_free(ssl)
        redisReaderFree(reader)
        close(fd)
    }

    /// True once an I/O, TLS or protocol error happened: the stream cannot be used again.
    var isBroken: Bool { failure != nil }

    /// Queues one command as a RESP array (nothing is written until a reply is read).
    func append(_ command: EncodedCommand) {
        output.append(contentsOf: "*\(command.lengths.count)\r\n".utf8)
        var offset = 0
        for length in command.lengths {
            output.append(contentsOf: "$\(length)\r\n".utf8)
            output.append(contentsOf: command.bytes[offset..<(offset + length)])
            output.append(13)
            output.append(10)
            offset += length
        }
    }

    /// Writes what is queued, then blocks until the next reply is parsed. The reply object is
    /// hiredis's (`redisReply`); the caller frees it with `freeReplyObject`.
    func readReply() throws -> UnsafeMutableRawPointer {
        if let failure { throw RedisError.connection(failure) }
        try flush()
        while true {
            var reply: UnsafeMutableRawPointer?
            guard redisReaderGetReply(reader, &reply) == REDIS_OK else {
                throw fail("protocol error: \(String(cString: orbiter_reader_errstr(reader)))")
            }
            if let reply { return reply }
            ERR_clear_error()
            let n = input.withUnsafeMutableBytes { SSL_read(ssl, $0.baseAddress, Int32($0.count)) }
            if n > 0 {
                input.withUnsafeBytes { buf in
                    _ = redisReaderFeed(reader, buf.baseAddress!.assumingMemoryBound(to: CChar.self), Int(n))
                }
                continue
            }
            let code = SSL_get_error(ssl, n)
            if code == SSL_ERROR_SYSCALL && errno == EINTR { continue }
            throw fail(describeFailure(code, during: "a read"))
        }
    }

    private func flush() throws {
        var written = 0
        while written < output.count {
            ERR_clear_error()
            let n = output.withUnsafeBytes { buf in
                SSL_write(ssl, buf.baseAddress! + written, Int32(min(buf.count - written, Int(Int32.max))))
            }
            if n > 0 {
                written += Int(n)
                continue
            }
            let code = SSL_get_error(ssl, n)
            if code == SSL_ERROR_SYSCALL && errno == EINTR { continue }
            throw fail(describeFailure(code, during: "a write"))
        }
        output.removeAll(keepingCapacity: true)
    }

    private func fail(_ message: String) -> RedisError {
        var message = message
        if message.contains("certificate required") {
            // TLS 1.3: the server checks the client's certificate after the handshake, so its refusal arrives with the first reply.
            message += " (the server asks for a client certificate: give --redis-tls-cert and --redis-tls-key)"
        }
        failure = message
        return .connection(message)
    }

    /// What an OpenSSL error code means for a person, read before anything else touches `errno`.
    private func describeFailure(_ code: Int32, during what: String) -> String {
        let savedErrno = errno
        switch code {
        case SSL_ERROR_ZERO_RETURN:
            return "the server closed the TLS session"
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
            // A blocking socket only says "try again" when its timeout (SO_RCVTIMEO/SO_SNDTIMEO) passed.
            return "timed out during \(what)"
        case SSL_ERROR_SYSCALL:
            let queued = ERR_peek_error() != 0 ? TLSContext.openSSLErrors() : nil
            if let queued { return "TLS error during \(what): \(queued)" }
            if savedErrno == 0 { return "the server closed the connection during \(what)" }
            return "\(String(cString: strerror(savedErrno))) during \(what)"
        default:
            return "TLS error during \(what): \(TLSContext.openSSLErrors())"
        }
    }

    /// The handshake's failure with the likely cause and what to do.
    private static func handshakeMessage(_ problem: String, ssl: OpaquePointer, name: String, settings: RedisTLS) -> String {
        let verify = SSL_get_verify_result(ssl)
        if verify != X509_V_OK {
            let reason = String(cString: X509_verify_cert_error_string(verify))
            if verify == X509_V_ERR_HOSTNAME_MISMATCH || verify == X509_V_ERR_IP_ADDRESS_MISMATCH {
                return "the server's TLS certificate is not valid for '\(name)' (\(reason)): connect by a name the "
                    + "certificate carries, or set the name to check with ?tls_server_name=NAME"
            }
            let against = settings.caFile.map { "the CA file '\($0)'" } ?? "the system's CA certificates"
            return "the server's TLS certificate was not accepted (\(reason)), checked against \(against): "
                + "give the CA that signed it with --redis-tls-ca FILE (or \(RedisTLS.caVariable))"
        }
        if problem.hasPrefix("timed out") {
            return "timed out during the TLS handshake: the server did not answer in TLS in time; is this its TLS port? "
                + "A plain Redis port takes redis://"
        }
        if problem.contains("wrong version number") || problem.contains("packet length too long")
            || problem.contains("record layer failure") {
            return "TLS handshake failed (\(problem)): the server did not answer in TLS; is this its TLS port? "
                + "A plain Redis port takes redis://"
        }
        return "TLS handshake failed: \(problem)"
    }

    private static func isIPAddress(_ s: String) -> Bool {
        var v4 = in_addr(), v6 = in6_addr()
        return inet_pton(AF_INET, s, &v4) == 1 || inet_pton(AF_INET6, s, &v6) == 1
    }
}
