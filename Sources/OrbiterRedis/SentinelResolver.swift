/// Finds the current master of a `redis-sentinel://` URL each time a connection is opened.
///
/// Failover handling is "rediscover on connection loss": there is no `+switch-master` subscription.
/// A client notices a failover because its connection drops (the old master died, or Sentinel ran
/// `CLIENT KILL` on it while demoting it) or because the demoted master answers `-READONLY`/`-UNBLOCKED`
/// (see `isFailoverReply`); either way the connection is discarded and the next one comes here.
/// Every answer is checked with `ROLE` on the named master, because a sentinel that has not seen
/// the failover yet may still name the demoted one.
enum SentinelResolver {
    /// Asks the sentinels in order for the master, connects to it (AUTH, SELECT) and checks it is one.
    /// Throws `.connection` naming every sentinel and what each said when none yields a master.
    static func connectToMaster(_ url: RedisURL, target: SentinelTarget, connectTimeout: Duration,
                                readTimeout: Duration?) throws -> RedisConnection {
        var failures: [String] = []
        for sentinel in target.sentinels {
            let address: SentinelTarget.Address
            do {
                address = try masterAddress(from: sentinel, target: target, tls: url.tls, connectTimeout: connectTimeout)
            } catch {
                failures.append("sentinel \(sentinel): \(Self.reason(error))")
                continue
            }
            var master = url
            master.sentinel = nil
            master.host = address.host
            master.port = address.port
            do {
                let connection = try RedisConnection(url: master, connectTimeout: connectTimeout, readTimeout: readTimeout)
                let role = try connection.command(EncodedCommand(["ROLE"]))
                let name = role.array?.first?.string ?? "\(role)"
                if name == "master" { return connection }
                failures.append("sentinel \(sentinel) named \(address), which is a \(name) now (failover in progress)")
            } catch {
                failures.append("sentinel \(sentinel) named \(address): \(Self.reason(error))")
            }
        }
        throw RedisError.connection(
            "no Redis master '\(target.masterName)' found through the sentinels of \(url) (\(failures.joined(separator: "; ")))")
    }

    /// `SENTINEL get-master-addr-by-name` on one sentinel.
    /// With `tls` (`rediss-sentinel://`) the sentinels are reached over TLS with the same settings as the master.
    private static func masterAddress(from sentinel: SentinelTarget.Address, target: SentinelTarget, tls: RedisTLS?,
                                      connectTimeout: Duration) throws -> SentinelTarget.Address {
        var url = try RedisURL("redis://127.0.0.1", environment: [:])
        url.tls = tls
        url.host = sentinel.host
        url.port = sentinel.port
        url.username = target.username
        url.password = target.password
        let connection = try RedisConnection(url: url, connectTimeout: connectTimeout, readTimeout: connectTimeout)
        let reply = try connection.command(EncodedCommand(["SENTINEL", "get-master-addr-by-name", target.masterName]))
        if case .error(let m) = reply {
            if m.hasPrefix("NOAUTH") { throw RedisError.server("\(m) (give the sentinels' password with ?sentinel_password=)") }
            if m.localizedCaseInsensitiveContains("unknown command") {
                throw RedisError.server("\(m) (this is a Redis server, not a sentinel: list the sentinels' addresses, port 26379 by default)")
            }
            throw RedisError.server(m)
        }
        if reply.isNull { throw RedisError.server("does not monitor a master named '\(target.masterName)'") }
        guard let parts = reply.array, parts.count == 2, let host = parts[0].string,
              let portText = parts[1].string, let port = Int(portText) else {
            throw RedisError.protocolError("unexpected answer to SENTINEL get-master-addr-by-name: \(reply)")
        }
        return .init(host: host, port: port)
    }

    /// True for a reply that means the server stopped being the master under us: the connection
    /// must be dropped and the master looked up again. Nothing was written by such a command (a
    /// replica refuses writes and an unblocked read wrote nothing), so callers may resend it.
    static func isFailoverReply(_ reply: RedisReply) -> Bool {
        guard case .error(let m) = reply else { return false }
        return m.hasPrefix("READONLY") || (m.hasPrefix("UNBLOCKED") && m.contains("instance state changed"))
    }

    private static func reason(_ error: any Error) -> String {
        switch error as? RedisError {
        case .connection(let m), .server(let m), .protocolError(let m): return m
        default: return "\(error)"
        }
    }
}
