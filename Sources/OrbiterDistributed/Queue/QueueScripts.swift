import Foundation
import OrbiterRedis

/// The queue's state transitions, one server-side Lua script each (see `Scripts/*.lua` for the
/// KEYS and ARGV of each). Loaded once per client and run by SHA; `NOSCRIPT` after a Redis restart
/// is handled by the client.
enum QueueScripts {
    static let submit = load("submit")
    static let start = load("start")
    static let finish = load("finish")
    static let cancel = load("cancel")
    static let heartbeat = load("heartbeat")
    static let retry = load("retry")
    static let promote = load("promote")
    static let reclaim = load("reclaim")
    static let requeue = load("requeue")
    static let stats = load("stats")
    static let renew = load("renew")
    static let release = load("release")
    static let checkpoint = load("checkpoint")
    static let append = load("append")
    static let handback = load("handback")

    private static func load(_ name: String) -> RedisScript {
        guard let url = Bundle.module.url(forResource: name, withExtension: "lua", subdirectory: "Scripts"),
              let source = try? String(contentsOf: url, encoding: .utf8) else {
            fatalError("OrbiterDistributed resource Scripts/\(name).lua is missing from the build")
        }
        return RedisScript(name: name, source: source)
    }
}
