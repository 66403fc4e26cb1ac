import Foundation
import Testing
@testable import OrbiterRedis

/// Throughput numbers, printed; runs only with ORBITER_REDIS_BENCH=1 (best with `-c release`).
@Suite struct RedisBenchmarkTests {
    @Test(.enabled(if: ProcessInfo.processInfo.environment["ORBITER_REDIS_BENCH"] == "1"))
    func pingThroughput() async throws {
        let client = try await sharedClient()
        defer { client.close() }
        let n = 20_000
        var start = ContinuousClock.now
        for _ in 0..<n { _ = try await client.send(["PING"]) }
        let sequential = Double(n) / seconds(since: start)

        let callers = 64, total = 200_000
        start = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<callers {
                group.addTask { for _ in 0..<(total / callers) { _ = try await client.send(["PING"]) } }
            }
            try await group.waitForAll()
        }
        let concurrent = Double(total / callers * callers) / seconds(since: start)

        start = ContinuousClock.now
        let batch = Array(repeating: ["PING"] as [any RedisArgument], count: 16)
        for _ in 0..<(n / 16) { _ = try await client.pipeline(batch) }
        let pipelined = Double(n) / seconds(since: start)
        print("BENCH sequential send(PING): \(Int(sequential))/s; 64 concurrent callers: \(Int(concurrent))/s; pipeline(16 x PING): \(Int(pipelined))/s")
    }
}
