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
        RedisScript.resource(name, in: .module, module: "OrbiterLimits")
    }
}
