/// The sentinels of a `redis-sentinel://` URL and the master they are asked about.
///
/// The URL's user and password (and `?db=N`) are for the *master*; sentinels usually run with
/// their own `requirepass` or none at all, so they get `?sentinel_password=` (and optionally
/// `?sentinel_username=`) and no AUTH when those are absent. Reusing the master's password is not
/// done: a sentinel without a password answers AUTH with an error, which would break the common setup.
public struct SentinelTarget: Sendable, Hashable {
    /// One sentinel's TCP address.
    public struct Address: Sendable, Hashable, CustomStringConvertible {
        public var host: String
        public var port: Int
        public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
    }

    /// Sentinels in the order they are asked.
    public var sentinels: [Address]
    /// The name the sentinels monitor the master under (`sentinel monitor <name> ...`).
    public var masterName: String
    /// ACL user for `AUTH` on the sentinels; nil means the default user.
    public var username: String?
    /// Password for `AUTH` on the sentinels; nil means sentinels get no AUTH.
    public var password: String?

    /// The port sentinels listen on unless a host says otherwise.
    public static let defaultPort = 26379

    /// Parses `host1[:port],host2[:port]/mastername` (user info and query already taken off).
    init(parsing rest: Substring, bad: (String) -> RedisError) throws {
        guard let slash = rest.firstIndex(of: "/") else {
            throw bad("missing master name (expected redis-sentinel://host1:26379,host2:26379/mymaster)")
        }
        let hostList = rest[..<slash]
        let name = rest[rest.index(after: slash)...]
        if hostList.isEmpty { throw bad("no sentinel hosts (expected redis-sentinel://host1:26379,host2:26379/mymaster)") }
        if name.isEmpty { throw bad("missing master name after '/' (expected .../mymaster)") }
        if name.contains("/") || name.contains(where: \.isWhitespace) {
            throw bad("master name '\(name)' must be one word without '/' or spaces")
        }
        masterName = String(name)
        sentinels = try hostList.split(separator: ",", omittingEmptySubsequences: false).map { try Self.address($0, bad: bad) }
        username = nil
        password = nil
    }

    /// Takes a `sentinel_password` or `sentinel_username` query parameter.
    mutating func apply(parameter: Substring, value: Substring, bad: (String) -> RedisError) throws {
        guard let decoded = String(value).removingPercentEncoding else { throw bad("bad percent-encoding in \(parameter)") }
        switch parameter {
        case "sentinel_password": password = decoded
        case "sentinel_username": username = decoded.isEmpty ? nil : decoded
        default:
            throw bad("unknown query parameter '\(parameter)' (redis-sentinel:// takes db=N, sentinel_password=P, sentinel_username=U)")
        }
    }

    private static func address(_ item: Substring, bad: (String) -> RedisError) throws -> Address {
        if item.isEmpty { throw bad("empty sentinel host in the list (two commas, or a comma at an end)") }
        let (host, port) = try RedisURL.hostAndPort(item, defaultPort: defaultPort, label: "sentinel '\(item)': ", bad: bad)
        return Address(host: host, port: port)
    }

    /// Masks the value of `sentinel_password=` in a raw URL string.
    static func maskQuery(_ s: String) -> String {
        guard let q = s.firstIndex(of: "?") else { return s }
        let items = s[s.index(after: q)...].split(separator: "&", omittingEmptySubsequences: false).map { item -> String in
            item.hasPrefix("sentinel_password=") ? "sentinel_password=***" : String(item)
        }
        return String(s[...q]) + items.joined(separator: "&")
    }
}
