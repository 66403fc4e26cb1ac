import Foundation
import OrbiterClient
import OrbiterCore
import OrbiterLimits
import OrbiterLua
import OrbiterModels
import OrbiterRedis
import OrbiterTestSupport
@testable import OrbiterQueue
import OrbiterWorker
import Testing

/// The proof of the shared limiter: a fleet that could send far more than a provider allows
/// sends just under its limit, and the provider never has to refuse.
@Suite("Shared rate limits across a fleet", .serialized)
struct FleetRateLimitTests {
    @Test("4 workers × 32 slots against a provider limit far below what they could send: no 429, ≥ 90 % of the limit, every task done")
    func fleetStaysUnderTheProvidersLimit() async throws {
        // The provider's window scaled down to one second (`limits set --period 1s`): 40 requests
        // and 12,000 tokens a second, so the test takes seconds, not minutes. Each call books about
        // 210 tokens (a 100-token prompt + max_tokens 100) and uses about 105: requests bind.
        let limits = RateLimitedOpenAIServer.Limits(requests: 40, tokens: 12_000, period: .seconds(1))
        let provider = try await RateLimitedOpenAIServer.start(limits: limits)
        defer { Task { await provider.stop() } }
        let model = "fleet-" + UUID().uuidString.prefix(8).lowercased()
        let name = try LimitName(provider: "openai", model: model)
        let limiter = RateLimiter(client: RedisClient(url: try RedisURL(try TestRedis.url())))
        try await limiter.set(name, try ModelLimit(requests: limits.requests, totalTokens: limits.tokens, periodMs: 1000))
        defer { Task { try? await limiter.remove(name) } }

        let instructions = String(repeating: "Answer briefly and politely. ", count: 14) // ~100 tokens
        let providers = BuiltinProviders.registry(environment: ["OPENAI_BASE_URL": provider.baseURL, "OPENAI_API_KEY": "sk-test"])
        var options = LuaRuntime.Options()
        options.providers = providers
        let root = try LuaRuntime(file: try temporaryScript("""
            local orbiter = require "orbiter"
            return orbiter.agent { name = "caller", model = "openai:\(model)", max_tokens = 100,
                                   instructions = "\(instructions)" }
            """), options: options).root()
        let tasks = 240
        try await withDistributedFixture { fixture in
            var handles: [TaskHandle] = []
            for i in 0..<tasks {
                handles.append(try await distributed(root, "task \(i)", redisURL: fixture.redisURL, queue: fixture.queue))
            }
            for i in 0..<4 {
                var configuration = WorkerConfiguration(redisURL: fixture.redisURL, queue: fixture.queue, concurrency: 32,
                                                        workerID: "limited-\(i)-\(fixture.queue)", heartbeatTTL: 5)
                configuration.providers = providers
                configuration.rateLimits = RateLimitSettings(maxWait: .seconds(60))
                try fixture.start(configuration)
            }
            for handle in handles {
                let result = try await handle.result(timeout: .seconds(60))
                #expect(result["output"] == "ok", "\(result)")
            }
        }
        let records = provider.records
        let refused = records.filter { $0.status == 429 }
        #expect(refused.isEmpty, "\(refused.count) requests refused with 429")
        let served = records.filter { $0.status == 200 }
        #expect(served.count == tasks)
        // The most the provider could have accepted from the first request to the last: a full
        // bucket at the start, then its refill rate.
        let span = try #require(served.last).at - (try #require(served.first)).at
        let possible = Double(limits.requests) * (1 + span.inSeconds / limits.period.inSeconds)
        let achieved = Double(served.count) / possible
        print("fleet rate limit: \(served.count) requests in \(String(format: "%.2f", span.inSeconds)) s, \(String(format: "%.1f", achieved * 100)) % of the \(Int(possible)) the provider allows in that time, 0 refused")
        #expect(achieved >= 0.9, "achieved \(achieved) of the limit")
    }

    @Test("a model held back past a task's timeout: the task's call fails at once, naming the limit, instead of waiting")
    func waitBoundedByTheTasksDeadline() async throws {
        let server = try await RateLimitedOpenAIServer.start(limits: .init(requests: 1000, tokens: 1_000_000, period: .seconds(60)))
        defer { Task { await server.stop() } }
        let model = "held-" + UUID().uuidString.prefix(8).lowercased()
        let name = try LimitName(provider: "openai", model: model)
        let limiter = RateLimiter(client: RedisClient(url: try RedisURL(try TestRedis.url())))
        try await limiter.set(name, try ModelLimit(requests: 1000))
        defer { Task { try? await limiter.remove(name) } }
        // Someone with Redis access holds the model back 20 minutes (or a provider said so).
        try await limiter.penalize(name, retryAfterMs: 1_200_000)
        let providers = BuiltinProviders.registry(environment: ["OPENAI_BASE_URL": server.baseURL, "OPENAI_API_KEY": "sk-test"])
        var options = LuaRuntime.Options()
        options.providers = providers
        let root = try LuaRuntime(file: try temporaryScript("""
            return orbiter.agent { name = "held", model = "openai:\(model)" }
            """), options: options).root()
        try await withDistributedFixture { fixture in
            var configuration = WorkerConfiguration(redisURL: fixture.redisURL, queue: fixture.queue, concurrency: 2,
                                                    workerID: "held-\(fixture.queue)", heartbeatTTL: 5)
            configuration.providers = providers
            configuration.rateLimits = RateLimitSettings(maxWait: .seconds(3600))
            try fixture.start(configuration)
            let started = ContinuousClock.now
            let handle = try await distributed(root, "hi", redisURL: fixture.redisURL, timeout: 30, queue: fixture.queue, maxRetries: 0)
            let status = try #require(try await finishedStatus(handle, within: .seconds(20)))
            #expect(ContinuousClock.now - started < .seconds(10))
            #expect(status.status == .failed, "\(status)")
            #expect(status.error?.contains("rate limit openai:\(model)") == true, "\(String(describing: status.error))")
            #expect(status.error?.contains("s its task has left") == true, "\(String(describing: status.error))")
        }
        #expect(server.records.isEmpty)
    }
}
