import CLua
import Foundation
import OrbiterCore
import OrbiterClient
import OrbiterQueue
import OrbiterWorker
import OrbiterLua
import OrbiterRedis
import Synchronization

// MARK: - Latency at low load

enum Latency {
    static func run(_ o: Options) async throws {
        let s = try await Throughput.setup(o, script: Scripts.noop, name: "noop.lua")
        let n = o.int("n", 200)
        // Warm up.
        for i in 0..<20 { _ = try await distributed(s.root, "warm \(i)", broker: s.broker).result() }
        var result: [Double] = []
        var first: [Double] = []
        for i in 0..<n {
            let t0 = nowNs()
            let h = try await distributed(s.root, "latency \(i)", broker: s.broker)
            _ = try await h.result()
            result.append(Double(nowNs() - t0) / 1e6)
        }
        for i in 0..<n {
            let t0 = nowNs()
            let h = try await distributed(s.root, "first event \(i)", broker: s.broker)
            var got = false
            for try await _ in h.stream() {
                if !got { first.append(Double(nowNs() - t0) / 1e6); got = true }
            }
        }
        // The submit alone (one EVALSHA round trip and the payload build), for reference.
        var submit: [Double] = []
        for i in 0..<n {
            let t0 = nowNs()
            _ = try await distributed(s.root, "submit \(i)", broker: s.broker)
            submit.append(Double(nowNs() - t0) / 1e6)
        }
        // A bare round trip on the same client (PING), the floor for any of the above.
        var ping: [Double] = []
        for _ in 0..<n {
            let t0 = nowNs()
            _ = try await s.client.send(["PING"])
            ping.append(Double(nowNs() - t0) / 1e6)
        }
        result.sort(); first.sort(); submit.sort(); ping.sort()
        emit(["scenario": "latency", "tasks": .int(n),
              "submit_result_p50_ms": .double(percentile(result, 50)), "submit_result_p99_ms": .double(percentile(result, 99)),
              "first_event_p50_ms": .double(percentile(first, 50)), "first_event_p99_ms": .double(percentile(first, 99)),
              "submit_only_p50_ms": .double(percentile(submit, 50)), "ping_p50_ms": .double(percentile(ping, 50)),
              "ping_p99_ms": .double(percentile(ping, 99))])
    }
}
