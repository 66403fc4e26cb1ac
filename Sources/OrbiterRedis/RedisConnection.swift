import CHiredis
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A synchronous hiredis connection: connect, AUTH, SELECT, then append commands and read replies.
///
/// Deliberately not Sendable: a `redisContext` has no locking, so each instance is confined to the
/// one thread that owns it (see `ConnectionWorker`). Every call here may block that thread.
final class RedisConnection {
    /// How bytes reach the server: hiredis's own socket I/O, or TLS (`rediss://`) with hiredis's reader.
    private enum Transport {
        case plain(UnsafeMutablePointer<redisContext>)
        case tls(TLSStream)
    }
    private let transport: Transport
    /// The server this connection talks to (masked in every message).
    let url: RedisURL
    /// True until the handshake (TLS, AUTH, SELECT, PING) is done: failures then say "cannot connect".
    private var connecting = true

    /// Connects within `connectTimeout`, authenticates and selects the database.
    /// `readTimeout` nil means reads may block forever (needed for `BLOCK 0`, `SUBSCRIBE`).
    init(url: RedisURL, connectTimeout: Duration, readTimeout: Duration?) throws {
        self.url = url
        let tv = timeval(connectTimeout)
        let c: UnsafeMutablePointer<redisContext>?
        if let path = url.unixPath {
            c = redisConnectUnixWithTimeout(path, tv)
        } else {
            c = redisConnectWithTimeout(url.host ?? "127.0.0.1", Int32(url.port), tv)
        }
        guard let c else { throw RedisError.connection("cannot connect to Redis at \(url): out of memory") }
        if c.pointee.err != 0 {
            let message = String(cString: orbiter_redis_errstr(c))
            redisFree(c)
            throw RedisError.connection("cannot connect to Redis at \(url): \(message)")
        }
        // The handshake must not hang on a stuck server, even for connections that later block forever.
        _ = redisSetTimeout(c, tv)
        if url.unixPath == nil { _ = redisEnableKeepAlive(c) }
        if let tls = url.tls {
            // hiredis made the TCP connection (name lookup, timeout, keep-alive); TLS takes its socket over.
            let fd = redisFreeKeepFd(c)
            do {
                transport = .tls(try TLSStream(fd: fd, host: url.host ?? "127.0.0.1", settings: tls,
                                               context: try TLSContext.context(for: tls)))
            } catch RedisError.connection(let m) {
                throw RedisError.connection("cannot connect to Redis at \(url): \(m)")
            }
        } else {
            transport = .plain(c)
        }

        if let password = url.password {
            var auth: [any RedisArgument] = ["AUTH"]
            if let user = url.username { auth.append(user) }
            auth.append(password)
            if case .error(let m) = try command(EncodedCommand(auth)) {
                throw RedisError.connection("authentication failed for Redis at \(url): \(m)")
            }
        }
        if url.database != 0, case .error(let m) = try command(EncodedCommand(["SELECT", url.database])) {
            throw RedisError.connection("cannot select database \(url.database) on Redis at \(url): \(m)")
        }
        if url.password == nil && url.database == 0 {
            // Nothing was exchanged yet: make sure a live Redis answers, not just something accepting TCP.
            if case .error(let m) = try command(EncodedCommand(["PING"])), !m.hasPrefix("NOAUTH") {
                throw RedisError.connection("Redis at \(url) refused PING: \(m)")
            }
        }
        setTimeout(readTimeout.map(timeval.init) ?? timeval(tv_sec: 0, tv_usec: 0))
        connecting = false
    }

    deinit {
        if case .plain(let ctx) = transport { redisFree(ctx) }
    }

    /// Read and write timeouts of the socket (zero: none).
    private func setTimeout(_ tv: timeval) {
        switch transport {
        case .plain(let ctx): _ = redisSetTimeout(ctx, tv)
        case .tls(let stream):
            var t = tv
            _ = setsockopt(stream.fd, SOL_SOCKET, SO_RCVTIMEO, &t, socklen_t(MemoryLayout<timeval>.size))
            _ = setsockopt(stream.fd, SOL_SOCKET, SO_SNDTIMEO, &t, socklen_t(MemoryLayout<timeval>.size))
        }
    }

    /// Opens a connection to `url`'s server, or for `redis-sentinel://` to the master the sentinels
    /// name now (plain URLs take the direct path: no extra round trip).
    static func open(_ url: RedisURL, connectTimeout: Duration, readTimeout: Duration?) throws -> RedisConnection {
        if let target = url.sentinel {
            return try SentinelResolver.connectToMaster(url, target: target, connectTimeout: connectTimeout, readTimeout: readTimeout)
        }
        return try RedisConnection(url: url, connectTimeout: connectTimeout, readTimeout: readTimeout)
    }

    /// Marks the connection unusable (e.g. its server was demoted), so its owner drops it.
    func discard() { discarded = true }
    private var discarded = false

    /// The socket, so another thread can `shutdown` it to interrupt a blocked read.
    var fd: Int32 {
        switch transport {
        case .plain(let ctx): ctx.pointee.fd
        case .tls(let stream): stream.fd
        }
    }

    /// True once an I/O, TLS or protocol error was seen (the connection cannot be used again),
    /// or once `discard()` was called.
    var isDead: Bool {
        switch transport {
        case .plain(let ctx): ctx.pointee.err != 0 || discarded
        case .tls(let stream): stream.isBroken || discarded
        }
    }

    /// Whether an idle connection has input waiting, which can only be EOF (server closed it,
    /// e.g. `CLIENT KILL` or a restart) or garbage: either way it must not be reused.
    var isReadableWhileIdle: Bool {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&p, 1, 0) != 0
    }

    /// Queues one command in hiredis' output buffer (nothing is written until a reply is read).
    func append(_ command: EncodedCommand) throws {
        guard case .plain(let ctx) = transport else {
            if case .tls(let stream) = transport { stream.append(command) }
            return
        }
        let argc = command.lengths.count
        let status: Int32 = command.bytes.withUnsafeBufferPointer { buf in
            let base = UnsafeRawPointer(buf.baseAddress!)  // never empty: EncodedCommand adds a spare byte
            var argv: [UnsafePointer<CChar>?] = []
            argv.reserveCapacity(argc)
            var offset = 0
            for len in command.lengths {
                argv.append((base + offset).assumingMemoryBound(to: CChar.self))
                offset += len
            }
            return command.lengths.withUnsafeBufferPointer { lens in
                argv.withUnsafeMutableBufferPointer { av in
                    redisAppendCommandArgv(ctx, Int32(argc), av.baseAddress, lens.baseAddress)
                }
            }
        }
        if status != REDIS_OK { throw lostError(String(cString: orbiter_redis_errstr(ctx))) }
    }

    /// Flushes pending output if needed and blocks until the next reply arrives.
    func readReply() throws -> RedisReply {
        let raw: UnsafeMutableRawPointer
        switch transport {
        case .plain(let ctx):
            var reply: UnsafeMutableRawPointer?
            guard redisGetReply(ctx, &reply) == REDIS_OK, let reply else { throw lostError(String(cString: orbiter_redis_errstr(ctx))) }
            raw = reply
        case .tls(let stream):
            do { raw = try stream.readReply() } catch RedisError.connection(let m) { throw lostError(m) }
        }
        defer { freeReplyObject(raw) }
        return RedisConnection.convert(UnsafePointer(raw.assumingMemoryBound(to: redisReply.self)))
    }

    /// One round trip for one command.
    func command(_ command: EncodedCommand) throws -> RedisReply {
        try append(command)
        return try readReply()
    }

    private func lostError(_ reason: String) -> RedisError {
        var reason = reason.isEmpty ? "unknown error" : reason
        guard connecting else { return .connection("connection to Redis at \(url) lost: \(reason)") }
        if let tls = url.tls, tls.certFile == nil, !reason.contains("client certificate") {
            // TLS 1.3 servers check the client's certificate after the handshake: the refusal may
            // arrive as the alert (named in `reason`) or, if our first write races it, as a reset.
            reason += " (the server ended the connection right after the TLS handshake; if it requires client "
                + "certificates, give --redis-tls-cert and --redis-tls-key)"
        }
        return .connection("cannot connect to Redis at \(url): \(reason)")
    }

    /// Deep-copies a hiredis reply into Swift values (the C object is freed by the caller).
    static func convert(_ r: UnsafePointer<redisReply>) -> RedisReply {
        let p = r.pointee
        func bytes() -> [UInt8] {
            guard let str = p.str, p.len > 0 else { return [] }
            return Array(UnsafeRawBufferPointer(start: str, count: p.len))
        }
        switch p.type {
        case REDIS_REPLY_STRING: return .bulk(bytes())
        case REDIS_REPLY_STATUS: return .status(String(decoding: bytes(), as: UTF8.self))
        case REDIS_REPLY_ERROR: return .error(String(decoding: bytes(), as: UTF8.self))
        case REDIS_REPLY_INTEGER: return .integer(p.integer)
        case REDIS_REPLY_NIL: return .null
        case REDIS_REPLY_ARRAY:
            var items: [RedisReply] = []
            items.reserveCapacity(p.elements)
            for i in 0..<p.elements {
                if let e = p.element[i] { items.append(convert(e)) } else { items.append(.null) }
            }
            return .array(items)
        default:
            return .error("ERR unknown hiredis reply type \(p.type)")
        }
    }
}

extension timeval {
    /// A `timeval` for hiredis timeouts.
    init(_ d: Duration) {
        let (seconds, atto) = d.components
        self.init(tv_sec: numericCast(seconds), tv_usec: numericCast(atto / 1_000_000_000_000))
    }
}
