import Foundation
import OrbiterRedis

/// The limiter's state transitions, one server-side Lua script each (see `Scripts/*.lua` for
/// the KEYS and ARGV of each), run by SHA.
enum LimitScripts {
    static let reserve = load("reserve")
    static let settle = load("settle")
    static let recalibrate = load("recalibrate")
    static let penalize = load("penalize")
    static let set = load("set")
    static let remove = load("remove")

    /// The shared functions every script starts with (`Scripts/lib.lua`).
    private static let library = read("lib")

    private static func load(_ name: String) -> RedisScript {
        RedisScript(name: name, source: library + "\n" + read(name))
    }

    private static func read(_ name: String) -> String {
        guard let url = Bundle.module.url(forResource: name, withExtension: "lua", subdirectory: "Scripts"),
              let source = try? String(contentsOf: url, encoding: .utf8) else {
            fatalError("OrbiterLimits resource Scripts/\(name).lua is missing from the build")
        }
        return source
    }
}
