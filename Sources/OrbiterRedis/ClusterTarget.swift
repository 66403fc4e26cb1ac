/// The seed nodes of a Redis Cluster URL (`redis-cluster://h1:7000,h2:7001` or `redis://h:7000?cluster=1`).
///
/// Seeds are only where the slot map is first asked for (`CLUSTER SLOTS`); after that the client
/// talks to the masters the map names, and asks any node it knows again after a failover.
public struct ClusterTarget: Sendable, Hashable {
    /// Nodes asked for the slot map, in order.
    public var seeds: [SentinelTarget.Address]

    /// The port a node listens on unless a seed says otherwise.
    public static let defaultPort = 6379

    /// Parses `host1[:port],host2[:port]` (user info and query already taken off); a trailing
    /// `/0` is accepted (db 0 is the only database a cluster has), any other database is refused.
    init(parsing rest: Substring, database: inout Int, bad: (String) -> RedisError) throws {
        var hostList = rest
        if let slash = rest.firstIndex(of: "/") {
            hostList = rest[..<slash]
            let db = rest[rest.index(after: slash)...]
            if !db.isEmpty {
                guard let d = Int(db), d >= 0 else { throw bad("database '\(db)' is not a non-negative integer") }
                database = d
            }
        }
        if hostList.isEmpty { throw bad("no cluster nodes (expected redis-cluster://host1:7000,host2:7001)") }
        seeds = try hostList.split(separator: ",", omittingEmptySubsequences: false).map { item in
            if item.isEmpty { throw bad("empty node in the list (two commas, or a comma at an end)") }
            let (host, port) = try RedisURL.hostAndPort(item, defaultPort: Self.defaultPort, label: "node '\(item)': ", bad: bad)
            return SentinelTarget.Address(host: host, port: port)
        }
    }

    init(seeds: [SentinelTarget.Address]) { self.seeds = seeds }

    /// A cluster has database 0 only (`SELECT` is refused on cluster nodes).
    static func checkDatabase(_ database: Int, bad: (String) -> RedisError) throws {
        if database != 0 {
            throw bad("a Redis Cluster has only database 0 (got db=\(database)): drop the database or use 0")
        }
    }
}
