import Foundation
import OrbiterCore
@testable import OrbiterClient
@testable import OrbiterQueue
@testable import OrbiterWorker
import OrbiterLua
import OrbiterTestSupport
import Testing

/// Redis goes away in the middle of a task and comes back (AOF on): the worker keeps the task
/// running, its events and outcome arrive, and a follower's stream has no gap.
@Suite("Redis restart", .serialized)
struct RedisRestartTests {
    @Test("a task survives a Redis restart with its events complete")
    func aTaskSurvivesARedisRestartWithItsEventsComplete() async throws {
        let redis = try PrivateRedis() // outlives the fixture, whose workers stop talking to it
        try await withDistributedFixture(redisURL: redis.url) { fixture in
            let (_, agent) = try load(try temporaryScript("""
                local orbiter = require "orbiter"
                local nap = orbiter.tool { name = "nap", run = function() orbiter.sleep(1.5) return "rested" end }
                local m = orbiter.model { name = "m", respond = function(req)
                  if req.messages[#req.messages].role == "tool" then return { content = { "woke ", "up" } } end
                  return { tool_calls = { { name = "nap", arguments = {} } } }
                end }
                return orbiter.agent { name = "napper", model = m, tools = { nap } }
                """))
            try fixture.startWorker()
            let handle = try await distributed(agent, "x", redisURL: fixture.redisURL, detailed: true, queue: fixture.queue)
            let stream = handle.stream()
            let follower = Task { try await collectOrThrow(stream) }
            try await eventually("the tool to start") { try await handle.status()?.status == .running }
            try await Task.sleep(for: .milliseconds(300))
            redis.stop()
            try await Task.sleep(for: .milliseconds(1500))
            try redis.start()
            let result = try await handle.result(timeout: .seconds(30))
            #expect(result["output"] == "woke up")
            let events = try await follower.value
            #expect(events.map(\.type) == ["status", "step", "usage", "tool_call", "tool_result", "step",
                                           "step", "text", "text", "usage", "step", "status"])
            #expect(events.last?.isTerminal == true)
            let status = try await handle.status()
            #expect(status?.attempts == 1, "the task was not run twice")
        }
    }

    @Test("a parked task survives a Redis restart (AOF) and resumes after the reply")
    func aParkedTaskSurvivesARedisRestart() async throws {
        let redis = try PrivateRedis()
        try await withDistributedFixture(redisURL: redis.url) { fixture in
            try fixture.startWorker(concurrency: 1)
            let agent = try load(OrbiterBinary.repositoryRoot.appendingPathComponent("examples/approval.lua").path).1
            let handle = try await distributed(agent, "Refund 4", redisURL: fixture.redisURL, queue: fixture.queue)
            try await eventually("the task to park", timeout: .seconds(15)) { try await handle.status()?.status == .waiting }
            redis.stop()
            try await Task.sleep(for: .milliseconds(500))
            try redis.start()
            try await eventually("Redis to answer again", timeout: .seconds(15)) { (try? await handle.status()) != nil }
            let parked = try #require(try await handle.status())
            #expect(parked.status == .waiting)
            #expect(parked.pending?.toolName == "refund" && parked.pending?.arguments == ["amount": 4])
            try await handle.approve()
            #expect(try await handle.result(timeout: .seconds(30))["output"] == "Done: refunded 4.")
            let events = try await collectOrThrow(handle.stream())
            #expect(events.filter(\.isTerminal).count == 1)
        }
    }
}
