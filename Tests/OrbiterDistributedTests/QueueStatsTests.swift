import Foundation
import OrbiterCore
@testable import OrbiterClient
@testable import OrbiterQueue
@testable import OrbiterWorker
import OrbiterLua
import OrbiterTestSupport
import Testing

@Suite("Queue stats", .serialized)
struct QueueStatsTests {
    @Test("stats count a known mix of tasks")
    func statsCountAKnownMixOfTasks() async throws {
        try await withDistributedFixture { fixture in
            let broker = try fixture.broker()
            var empty = try await broker.stats()
            let nowMinute = Int64(Date().timeIntervalSince1970 / 60)
            #expect(empty.perMinute?.completed == Array(repeating: 0, count: 60))
            #expect(empty.perMinute?.failed == Array(repeating: 0, count: 60))
            #expect(abs((empty.perMinute?.firstMinute ?? 0) + 59 - nowMinute) <= 1)
            empty.perMinute = nil
            #expect(empty == QueueStats(queue: fixture.queue, pending: 0, running: 0, delayed: 0, dead: 0, completedLastHour: 0,
                                        failedLastHour: 0, oldestPendingSeconds: nil, workersAlive: 0, workersKnown: 0))
            try fixture.startWorker(concurrency: 1, id: "stats-w")
            let (_, calc) = try load(try calculator())
            let failing = try failingAgent("no", name: "f")
            let sleeper = try load(try temporaryScript("""
                local orbiter = require "orbiter"
                local m = orbiter.model { name = "m", respond = function() orbiter.sleep(30) return "late" end }
                return orbiter.agent { name = "s", model = m }
                """)).1
            _ = try await distributed(calc, "1 + 1", broker: broker).result(timeout: .seconds(10))
            _ = try? await distributed(failing, "x", broker: broker).result(timeout: .seconds(10))
            let long = try await distributed(sleeper, "x", broker: broker)
            try await eventually("the long task to run") { try await long.status()?.status == .running }
            _ = try await distributed(calc, "2 + 2", broker: broker)
            _ = try await distributed(calc, "3 + 3", broker: broker)
            try await Task.sleep(for: .milliseconds(100))
            let stats = try await broker.stats()
            #expect(stats.pending == 2)
            #expect(stats.running == 1)
            #expect(stats.delayed == 0)
            #expect(stats.dead == 1)
            #expect(stats.completedLastHour == 1)
            #expect(stats.failedLastHour == 1)
            #expect(stats.workersAlive == 1)
            // The per-minute series (the dashboard's throughput chart) holds the same counts.
            #expect(stats.perMinute?.completed.reduce(0, +) == 1)
            #expect(stats.perMinute?.failed.reduce(0, +) == 1)
            #expect(stats.perMinute?.completed.count == 60)
            #expect(stats.oldestPendingSeconds != nil)
            #expect((stats.oldestPendingSeconds ?? 99) < 5)
            _ = try await long.cancel()
        }
    }
}
