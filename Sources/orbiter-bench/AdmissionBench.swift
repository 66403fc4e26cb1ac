import Foundation
import OrbiterCore
import OrbiterLimits
import OrbiterRedis

// MARK: - Admission (shared rate limits)

/// `admission`: how long the shared limiter takes to decide a model call (one `reserve.lua`
/// round trip): `n` decisions one at a time (p50/p99, the latency a call pays), then `n` with
/// `concurrency` in flight (decisions per second through one pipelined connection). The limit is
/// set high enough that every call is booked at once; each booking is settled back, as a
/// finished call would be (not timed).
enum AdmissionBench {
    static func run(_ o: Options) async throws {
        let client = RedisClient(url: try RedisURL(o.string("redis-url", "redis://127.0.0.1:6379")))
        try await client.connect()
        let limiter = RateLimiter(client: client)
        let name = try LimitName(provider: "bench", model: "admission-\(getpid())")
        try await limiter.set(name, try ModelLimit(requests: 1_000_000_000, totalTokens: 1_000_000_000_000))
        defer { Task { try? await limiter.remove(name) } }
        let n = o.int("n", 5000), concurrency = o.int("concurrency", 64)

        for _ in 0..<200 { _ = try await limiter.reserve(name, input: 500, output: 200) } // warm up (script cached)
        var samples: [Double] = []
        samples.reserveCapacity(n)
        for _ in 0..<n {
            let t0 = nowNs()
            guard case .booked(let booking) = try await limiter.reserve(name, input: 500, output: 200) else {
                throw OrbiterError.invalidConfiguration("admission bench: a reservation was not booked at once")
            }
            samples.append(Double(nowNs() - t0) / 1e6)
            try await limiter.settle(booking.name, requests: 0, input: 400, output: 150)
        }
        samples.sort()

        let t0 = nowNs()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<concurrency {
                group.addTask {
                    for _ in stride(from: worker, to: n, by: concurrency) {
                        _ = try await limiter.reserve(name, input: 500, output: 200)
                    }
                }
            }
            try await group.waitForAll()
        }
        let seconds = Double(nowNs() - t0) / 1e9
        emit(["scenario": "admission", "decisions": .int(n),
              "admission_p50_ms": .double(percentile(samples, 50)), "admission_p99_ms": .double(percentile(samples, 99)),
              "admission_max_ms": .double(samples.last ?? .nan),
              "admission_concurrent_per_s": .double(Double(n) / seconds), "concurrency": .int(concurrency)])
    }
}
