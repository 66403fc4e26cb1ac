/// A server-side Lua script identified by its SHA-1, so `RedisClient.run` can use `EVALSHA`
/// and only ship the source when the server has forgotten it (`NOSCRIPT`, e.g. after a restart).
public struct RedisScript: Sendable, Hashable {
    /// A short name for logs and errors.
    public let name: String
    /// The Lua 5.1 source that Redis runs.
    public let source: String
    /// Lowercase hex SHA-1 of `source`, the name Redis knows the script by.
    public let sha1: String

    /// Creates a script and computes its SHA-1 locally (no round trip).
    public init(name: String, source: String) {
        self.name = name
        self.source = source
        self.sha1 = SHA1.hex(Array(source.utf8))
    }
}
