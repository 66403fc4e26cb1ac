import Foundation

/// Where and how to reach a Redis server, parsed once so connection code never re-parses strings.
///
/// Accepted forms: `redis://[user:password@]host[:port][/db]`, `redis://:password@host`,
/// `rediss://...` (the same over TLS, see `RedisTLS`: `?tls_ca=&tls_cert=&tls_key=&tls_server_name=&insecure=1`),
/// `unix://[user:password@]/path.sock[?db=N]`; `?db=N` also works on `redis://`.
/// `redis-sentinel://[user:password@]host1[:26379],host2[:26379]/mastername[?db=N&sentinel_password=P]`
/// names a Sentinel-monitored master instead of a server (see `SentinelTarget`);
/// `rediss-sentinel://` is the same with TLS to the sentinels and the master (one `RedisTLS` for both).
/// `redis-cluster://[user:password@]host1[:port],host2[:port][?db=0]` (or `redis://host:port?cluster=1`)
/// names a Redis Cluster by seed nodes (see `ClusterTarget`, `ClusterRouter`); not over TLS yet.
/// User and password may be percent-encoded. `description` masks the passwords.
public struct RedisURL: Sendable, Hashable, CustomStringConvertible {
    /// TCP host name or address; nil for a Unix socket.
    public var host: String?
    /// TCP port (6379 unless given); unused for a Unix socket.
    public var port: Int
    /// Path of the Unix socket; nil for TCP.
    public var unixPath: String?
    /// ACL user name for `AUTH user password`; nil means the default user.
    public var username: String?
    /// Password for `AUTH`; nil means no authentication.
    public var password: String?
    /// Database index selected with `SELECT` after connecting.
    public var database: Int
    /// For `redis-sentinel://`: the sentinels to ask and the master's name. Then `host`/`port` are
    /// unused; each new connection asks the sentinels where the master is (see `SentinelResolver`).
    public var sentinel: SentinelTarget?
    /// For `rediss://`: how the connection is secured; nil for plain connections.
    public var tls: RedisTLS?
    /// For `redis-cluster://` or `?cluster=1`: the seed nodes of a Redis Cluster. Then `host`/`port`
    /// are the first seed; commands are routed by hash slot (see `ClusterRouter`).
    public var cluster: ClusterTarget?

    /// Parses a URL, throwing `RedisError.invalidURL` that names what is wrong (with the password masked).
    /// `environment` gives a `rediss://` URL the TLS files it does not name (`ORBITER_REDIS_TLS_*`).
    public init(_ string: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        let masked = RedisURL.mask(string)
        func bad(_ why: String) -> RedisError { .invalidURL("\(why) in '\(masked)'") }

        guard let schemeEnd = string.range(of: "://") else {
            throw bad("missing scheme (expected redis://, rediss://, unix://, redis-sentinel://, rediss-sentinel:// or redis-cluster://)")
        }
        let scheme = string[..<schemeEnd.lowerBound].lowercased()
        var rest = string[schemeEnd.upperBound...]
        var query: Substring?
        if let q = rest.firstIndex(of: "?") {
            query = rest[rest.index(after: q)...]
            rest = rest[..<q]
        }
        if rest.contains("#") { throw bad("unexpected '#' fragment") }

        host = nil
        port = 6379
        unixPath = nil
        username = nil
        password = nil
        database = 0
        sentinel = nil
        tls = nil
        cluster = nil

        // User info ends at the last '@' (a path never contains one), so unencoded
        // '@', ':' or '/' inside a password still parse.
        func takeUserInfo(_ s: inout Substring) throws {
            guard let at = s.lastIndex(of: "@") else { return }
            let info = s[..<at]
            s = s[s.index(after: at)...]
            guard let colon = info.firstIndex(of: ":") else {
                throw bad("user info has no ':' (use redis://:PASSWORD@host or redis://USER:PASSWORD@host)")
            }
            let user = info[..<colon], pass = info[info.index(after: colon)...]
            guard let u = String(user).removingPercentEncoding else { throw bad("bad percent-encoding in user name") }
            guard let p = String(pass).removingPercentEncoding else { throw bad("bad percent-encoding in password") }
            username = u.isEmpty ? nil : u
            password = (p.isEmpty && username == nil) ? nil : p
        }

        switch scheme {
        case "redis", "rediss":
            if scheme == "rediss" { tls = RedisTLS() }
            try takeUserInfo(&rest)
            let slash = rest.firstIndex(of: "/") ?? rest.endIndex
            let authority = rest[..<slash]
            let path = rest[slash...]
            let address = try Self.hostAndPort(authority, defaultPort: 6379, label: "", bad: bad)
            host = address.host
            port = address.port
            let db = path.drop(while: { $0 == "/" })
            if !db.isEmpty {
                guard let d = Int(db), d >= 0 else { throw bad("database '\(db)' is not a non-negative integer") }
                database = d
            }
        case "unix":
            if !rest.hasPrefix("/") { try takeUserInfo(&rest) }
            guard rest.hasPrefix("/"), rest.count > 1 else {
                throw bad("unix URL needs an absolute socket path, e.g. unix:///tmp/redis.sock")
            }
            unixPath = String(rest).removingPercentEncoding ?? String(rest)
        case "redis-sentinel", "rediss-sentinel":
            if scheme == "rediss-sentinel" { tls = RedisTLS() }
            try takeUserInfo(&rest)
            sentinel = try SentinelTarget(parsing: rest, bad: bad)
        case "redis-cluster":
            try takeUserInfo(&rest)
            cluster = try ClusterTarget(parsing: rest, database: &database, bad: bad)
            host = cluster!.seeds[0].host
            port = cluster!.seeds[0].port
        default:
            throw bad("unsupported scheme '\(scheme)' (expected redis://, rediss://, unix://, redis-sentinel://, rediss-sentinel:// or redis-cluster://)")
        }

        if let query, !query.isEmpty {
            for item in query.split(separator: "&") {
                let kv = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                guard kv.count == 2 else { throw bad("query parameter '\(kv[0])' has no '=value'") }
                if RedisTLS.parameters.contains(kv[0]) {
                    guard tls != nil else { throw bad("\(kv[0]) is a TLS setting: use a rediss:// (or rediss-sentinel://) URL") }
                    try tls!.apply(parameter: kv[0], value: kv[1], bad: bad)
                    continue
                }
                if kv[0] == "cluster", sentinel == nil, unixPath == nil {
                    switch kv[1] {
                    case "1", "true", "yes": cluster = cluster ?? ClusterTarget(seeds: [.init(host: host ?? "127.0.0.1", port: port)])
                    case "0", "false", "no": if scheme == "redis" || scheme == "rediss" { cluster = nil }
                    default: throw bad("cluster=\(kv[1]) is not 1 or 0")
                    }
                    continue
                }
                if kv[0] != "db", sentinel != nil {
                    try sentinel!.apply(parameter: kv[0], value: kv[1], bad: bad)
                    continue
                }
                guard kv[0] == "db" else {
                    throw bad("unknown query parameter '\(kv[0])' (" + (tls != nil
                        ? "expected db, cluster, tls_ca, tls_cert, tls_key, tls_server_name or insecure)"
                        : "only db=N and cluster=1 are supported)"))
                }
                guard let d = Int(kv[1]), d >= 0 else { throw bad("database '\(kv[1])' is not a non-negative integer") }
                database = d
            }
        }
        try tls?.complete(environment: environment, bad: bad)
        if cluster != nil { try ClusterTarget.checkDatabase(database, bad: bad) }
        if cluster != nil, tls != nil {
            throw bad("Redis Cluster over TLS is not supported yet (use redis-cluster:// on a private network, or a TLS tunnel per node)")
        }
    }

    /// Splits `host[:port]` or `[ipv6][:port]`; `label` prefixes each message (e.g. "sentinel 'h:1': ").
    static func hostAndPort(_ authority: Substring, defaultPort: Int, label: String,
                            bad: (String) -> RedisError) throws -> (host: String, port: Int) {
        var hostPart: Substring
        var portPart: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { throw bad("\(label)unclosed '[' in IPv6 host") }
            hostPart = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw bad("\(label)unexpected text after IPv6 host") }
                portPart = after.dropFirst()
            }
        } else {
            if authority.filter({ $0 == ":" }).count > 1 {
                throw bad("\(label)IPv6 host must be written in brackets, e.g. [::1]:\(defaultPort)")
            }
            if let colon = authority.firstIndex(of: ":") {
                hostPart = authority[..<colon]
                portPart = authority[authority.index(after: colon)...]
            } else {
                hostPart = authority
            }
        }
        if hostPart.isEmpty { throw bad("\(label)missing host") }
        guard let portPart else { return (String(hostPart), defaultPort) }
        guard let p = Int(portPart), (1...65535).contains(p) else {
            throw bad("\(label)port '\(portPart)' is not a number between 1 and 65535")
        }
        return (String(hostPart), p)
    }

    /// Reads `ORBITER_REDIS_URL`, falling back to `redis://127.0.0.1:6379` so local runs need no setup.
    public static func fromEnvironment(_ env: [String: String] = ProcessInfo.processInfo.environment) throws -> RedisURL {
        if let s = env["ORBITER_REDIS_URL"]?.trimmingCharacters(in: .whitespaces), !s.isEmpty {
            return try RedisURL(s, environment: env)
        }
        return try RedisURL("redis://127.0.0.1:6379")
    }

    /// The URL with the password replaced by `***`, safe for logs and error messages.
    public var description: String {
        var userInfo = ""
        if username != nil || password != nil {
            userInfo = (username ?? "") + (password != nil ? ":***" : "") + "@"
        }
        if let sentinel {
            let query = [database != 0 ? "db=\(database)" : nil,
                         sentinel.username.map { "sentinel_username=\($0)" },
                         sentinel.password != nil ? "sentinel_password=***" : nil].compactMap { $0 } + (tls?.query ?? [])
            return (tls != nil ? "rediss-sentinel://" : "redis-sentinel://")
                + "\(userInfo)\(sentinel.sentinels.map(\.description).joined(separator: ","))/\(sentinel.masterName)"
                + (query.isEmpty ? "" : "?" + query.joined(separator: "&"))
        }
        if let cluster {
            return "redis-cluster://\(userInfo)\(cluster.seeds.map(\.description).joined(separator: ","))"
        }
        if let unixPath {
            return "unix://\(userInfo)\(unixPath)" + (database != 0 ? "?db=\(database)" : "")
        }
        let h = host ?? ""
        let hostText = h.contains(":") ? "[\(h)]" : h
        let query = tls?.query ?? []
        return (tls != nil ? "rediss://" : "redis://") + "\(userInfo)\(hostText):\(port)" + (database != 0 ? "/\(database)" : "")
            + (query.isEmpty ? "" : "?" + query.joined(separator: "&"))
    }

    /// Masks the user info of a raw, possibly unparseable URL string for error messages.
    static func mask(_ s: String) -> String {
        let s = SentinelTarget.maskQuery(s)
        guard let schemeEnd = s.range(of: "://") else { return s }
        let rest = s[schemeEnd.upperBound...]
        let beforeQuery = rest[..<(rest.firstIndex(of: "?") ?? rest.endIndex)]
        guard let at = beforeQuery.lastIndex(of: "@") else { return s }
        let info = rest[..<at]
        let maskedInfo: String
        if let colon = info.firstIndex(of: ":") {
            maskedInfo = info[..<colon] + ":***"
        } else {
            maskedInfo = "***"
        }
        return String(s[..<schemeEnd.upperBound]) + maskedInfo + String(rest[at...])
    }
}
