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

    private static func load(_ name: String) -> RedisScript {
        guard let url = Bundle.module.url(forResource: name, withExtension: "lua", subdirectory: "Scripts"),
              let source = try? String(contentsOf: url, encoding: .utf8) else {
            fatalError("OrbiterLimits resource Scripts/\(name).lua is missing from the build")
        }
        return RedisScript(name: name, source: source)
    }
}
