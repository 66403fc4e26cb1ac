import Foundation
import OrbiterRedis

/// The queue's state transitions, one server-side Lua script each (see `Scripts/*.lua` for the
/// KEYS and ARGV of each). Loaded once per client and run by SHA; `NOSCRIPT` after a Redis restart
/// is handled by the client. Each script's text is `Scripts/lib.lua` (functions several scripts
/// share: priority levels, starting an entry, promoting due tasks) followed by the script's own
/// file, since Redis scripts have no includes; line numbers in a script error count from lib.lua's
/// first line.
package enum QueueScripts {
    package static let submit = load("submit")
    package static let submitMany = load("submit_many")
    package static let start = load("start")
    package static let finish = load("finish")
    package static let finishMany = load("finish_many")
    package static let cancel = load("cancel")
    package static let heartbeat = load("heartbeat")
    package static let retry = load("retry")
    package static let promote = load("promote")
    package static let reclaim = load("reclaim")
    package static let requeue = load("requeue")
    package static let sweep = load("sweep")
    package static let stats = load("stats")
    package static let renew = load("renew")
    package static let release = load("release")
    package static let checkpoint = load("checkpoint")
    package static let append = load("append")
    package static let handback = load("handback")
    package static let park = load("park")
    package static let reply = load("reply")
    package static let expire = load("expire")
    package static let usageStats = load("usage_stats")
    package static let tenantCheck = load("tenant_check")
    package static let tenantCharge = load("tenant_charge")
    package static let tenantSet = load("tenant_set")
    package static let tenantRemove = load("tenant_remove")
    package static let scheduleAdd = load("schedule_add")
    package static let scheduleRemove = load("schedule_remove")
    package static let scheduleAdvance = load("schedule_advance")
    package static let claim = load("claim")

    /// The shared functions every script starts with.
    private static let library = read("lib")

    private static func load(_ name: String) -> RedisScript {
        RedisScript(name: name, source: library + "\n" + read(name))
    }

    private static func read(_ name: String) -> String {
        RedisScript.resource(name, in: .module, module: "OrbiterQueue")
    }
}
