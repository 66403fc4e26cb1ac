import Foundation

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

    /// The text of `Scripts/<name>.lua` in a module's resource `bundle`. A missing file is a broken
    /// build, not a runtime condition: it stops the process naming the module and file.
    public static func resource(_ name: String, in bundle: Bundle, module: String) -> String {
        guard let url = bundle.url(forResource: name, withExtension: "lua", subdirectory: "Scripts"),
              let source = try? String(contentsOf: url, encoding: .utf8) else {
            fatalError("\(module) resource Scripts/\(name).lua is missing from the build")
        }
        return source
    }
}
