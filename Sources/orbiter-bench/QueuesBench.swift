import Foundation
import OrbiterCore
import OrbiterClient
import OrbiterQueue
import OrbiterLua
import OrbiterRedis

// MARK: - No-op throughput over several queues (a Redis Cluster vs one node)

/// `queues --redis-url U --queues a,b,c --n N --inflight K`: `throughput` spread round-robin over
/// several queues (workers started outside, e.g. one `orbiter start worker --queue a,b,c`), then the
/// submit → result latency at low load. On a `redis-cluster://` URL whose queues live on different
/// masters this is the scale-out figure; on one server the same run is its baseline.
enum QueuesBench {
    static func run(_ o: Options) async throws {
        let url = o.string("redis-url", "redis://127.0.0.1:6379")
        let queues = o.string("queues", "bench-a,bench-b,bench-c").split(separator: ",").map(String.init)
        let n = o.int("n", 20_000)
        let inflight = o.int("inflight", 256)
        let repeats = o.int("repeats", 1)
        let latencyN = o.int("latency-n", 100)
        let runtime = try LuaRuntime(file: try writeScript("noop.lua", Scripts.noop))
        let root = try runtime.root()
        var setups: [Throughput.Setup] = []
        for queue in queues {
            let broker = try TaskBroker(redisURL: url, queue: queue)
            try await broker.client.connect()
            setups.append(Throughput.Setup(broker: broker, root: root, queue: queue, client: broker.client))
        }
        let warmup = o.int("warmup", min(200, n))
        if warmup > 0 { _ = try await submitAndWait(setups, n: warmup, inflight: inflight) }
        for r in 0..<repeats {
            let wall = try await submitAndWait(setups, n: n, inflight: inflight)
            emit(["scenario": "queues", "repeat": .int(r), "cluster": .bool(setups[0].client.isCluster), "queues": .int(queues.count),
                  "tasks": .int(n), "inflight": .int(inflight), "wall_s": .double(wall), "tasks_per_s": .double(Double(n) / wall)])
        }
        var latency: [Double] = []
        for i in 0..<latencyN {
            let t0 = nowNs()
            _ = try await distributed(root, "latency \(i)", broker: setups[i % setups.count].broker).result()
            latency.append(Double(nowNs() - t0) / 1e6)
        }
        latency.sort()
        emit(["scenario": "queues_latency", "cluster": .bool(setups[0].client.isCluster), "queues": .int(queues.count),
              "tasks": .int(latencyN), "submit_result_p50_ms": .double(percentile(latency, 50)),
              "submit_result_p99_ms": .double(percentile(latency, 99))])
    }

    /// Submits `n` tasks round-robin over the queues with `inflight` outstanding; seconds until all finished.
    static func submitAndWait(_ setups: [Throughput.Setup], n: Int, inflight: Int, timeout: Double = 300) async throws -> Double {
        var base = 0
        for s in setups { base += try await Throughput.finishedCount(s) }
        let t0 = nowNs()
        try await Throughput.submitAll(n: n, inflight: inflight) { i in
            _ = try await distributed(setups[i % setups.count].root, "task \(i)", broker: setups[i % setups.count].broker)
        }
        let deadline = nowNs() + UInt64(timeout * 1e9)
        while true {
            var finished = 0
            for s in setups { finished += try await Throughput.finishedCount(s) }
            if finished - base >= n { break }
            if nowNs() > deadline { throw DistributedError.invalidArgument("timed out waiting for \(n) tasks") }
            try await Task.sleep(for: .milliseconds(2))
        }
        return Double(nowNs() - t0) / 1e9
    }
}
