import Foundation
import OrbiterCore
import OrbiterClient
import OrbiterQueue
import OrbiterLua

// MARK: - Durability (acknowledged submits)

/// `orbiter-bench durability`: what `--durability replica` costs a submit. `n` submits one at a
/// time (p50/p99) and `n` with 64 in flight (submits/s), with durability `none` and `replica`;
/// the Redis at `--redis-url` must have a replica connected (scripts/bench_run.py starts one).
/// No worker: the tasks stay queued on queues of their own.
enum DurabilityBench {
    static func run(_ o: Options) async throws {
        let n = o.int("n", 300)
        let url = o.string("redis-url", "redis://127.0.0.1:6379")
        let runtime = try LuaRuntime(file: try writeScript("durability.lua", Scripts.noop))
        let root = try runtime.root()
        var row: [String: JSONValue] = ["bench": "durability", "submits": .int(n)]
        for level in [DurabilityLevel.none, .replica] {
            var settings = QueueSettings()
            settings.durability = Durability(level: level, timeoutMs: 1_000)
            let broker = try TaskBroker(redisURL: url, queue: "durability-\(getpid())-\(level.rawValue)", settings: settings)
            try await broker.client.connect()
            for i in 0..<20 { _ = try await distributed(root, "warm \(i)", broker: broker, bundle: runtime.bundle) }
            var samples: [Double] = []
            for i in 0..<n {
                let t0 = nowNs()
                _ = try await distributed(root, "task \(i)", broker: broker, bundle: runtime.bundle)
                samples.append(Double(nowNs() - t0) / 1e6)
            }
            samples.sort()
            let next = Shared(0)
            let t0 = nowNs()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<64 {
                    group.addTask {
                        while true {
                            let i = next.withLock { v -> Int in defer { v += 1 }; return v }
                            if i >= n { return }
                            _ = try await distributed(root, "task \(i)", broker: broker, bundle: runtime.bundle)
                        }
                    }
                }
                try await group.waitForAll()
            }
            let seconds = Double(nowNs() - t0) / 1e9
            row["\(level.rawValue)_submit_p50_ms"] = .double(percentile(samples, 50))
            row["\(level.rawValue)_submit_p99_ms"] = .double(percentile(samples, 99))
            row["\(level.rawValue)_submits_per_s_64"] = .double((Double(n) / seconds).rounded())
        }
        emit(row)
    }
}
