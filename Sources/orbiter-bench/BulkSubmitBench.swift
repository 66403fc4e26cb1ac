import Foundation
import OrbiterCore
import OrbiterClient
import OrbiterQueue
import OrbiterLua
import OrbiterRedis

// MARK: - Bulk submit against single submits

/// `orbiter-bench bulk`: the client's submit rate for `n` tasks, measured in the same run three
/// ways — one `distributed()` at a time (what a loop of `orbiter submit` calls costs at best),
/// `distributedMany` (`submit --batch`), and, for scale, single submits with 256 outstanding.
/// No worker: the tasks stay queued; each run uses a queue of its own, deleted afterwards.
enum BulkSubmitBench {
    static func run(_ o: Options) async throws {
        let n = o.int("n", 10_000)
        let repeats = o.int("repeats", 3)
        let base = o.string("queue", "bulk")
        let url = o.string("redis-url", "redis://127.0.0.1:6379")
        let runtime = try LuaRuntime(file: try writeScript("bulk.lua", Scripts.noop))
        let root = try runtime.root()
        for rep in 0..<repeats {
            var row: [String: JSONValue] = ["bench": "bulk", "tasks": .int(n), "repeat": .int(rep)]
            for mode in ["single", "batch", "single_256"] {
                let broker = try TaskBroker(redisURL: url, queue: "\(base)-\(mode)-\(rep)")
                try await broker.client.connect()
                let inputs = (0..<n).map { BatchInput("task \($0)") }
                let t0 = nowNs()
                switch mode {
                case "single":
                    for item in inputs { _ = try await distributed(root, item.input, broker: broker, bundle: runtime.bundle) }
                case "batch":
                    _ = try await distributedMany(root, inputs, broker: broker, bundle: runtime.bundle)
                default:
                    let next = Shared(0)
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        for _ in 0..<256 {
                            group.addTask {
                                while true {
                                    let i = next.withLock { v -> Int in defer { v += 1 }; return v }
                                    if i >= n { return }
                                    _ = try await distributed(root, inputs[i].input, broker: broker, bundle: runtime.bundle)
                                }
                            }
                        }
                        try await group.waitForAll()
                    }
                }
                let seconds = Double(nowNs() - t0) / 1e9
                row["\(mode)_tasks_per_s"] = .double((Double(n) / seconds).rounded())
                try await deleteQueue(broker)
            }
            emit(row)
        }
    }

    /// Drops every key of the bench queue (tasks, stream, index, bundle).
    static func deleteQueue(_ broker: TaskBroker) async throws {
        var cursor = "0"
        repeat {
            let reply = try await broker.client.send(["SCAN", cursor, "MATCH", broker.keys.keyPrefix + "*", "COUNT", 5000]).array ?? []
            cursor = reply.first?.string ?? "0"
            let keys = (reply.count > 1 ? reply[1].array ?? [] : []).compactMap(\.string)
            if !keys.isEmpty { _ = try await broker.client.send((["UNLINK"] + keys).map { $0 as any RedisArgument }) }
        } while cursor != "0"
        _ = try await broker.client.send(["SREM", QueueKeys.registry, broker.keys.queue])
    }
}
