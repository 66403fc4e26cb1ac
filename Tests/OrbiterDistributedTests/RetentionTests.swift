import Foundation
import OrbiterClient
import OrbiterCore
@testable import OrbiterQueue
import OrbiterRedis
import OrbiterTestSupport
@testable import OrbiterWorker
import Testing

/// Finished tasks are deleted by the workers' sweep when their retention is over: the events
/// stream the events TTL after the task ended, the hash the task TTL after (sweep.lua).
@Suite("Retention of finished tasks", .serialized)
struct RetentionTests {
    /// `count` tasks started as a ghost worker and finished at `at` (ms) under `settings`.
    func finished(_ fixture: DistributedFixture, _ broker: TaskBroker, count: Int, at: Int64,
                  status: TaskStatus = .completed) async throws -> [String] {
        var ids: [String] = []
        for i in 0..<count { ids.append(try await distributed(try sleeper(0), "t\(i)", broker: broker).taskID) }
        let runs = try await startAsGhost(broker, count: count)
        for (id, run) in zip(ids, runs) {
            let ok = try await broker.finish(id, status: status, result: status == .completed ? #"{"output":"ok"}"# : "",
                                             error: status == .completed ? "" : "boom",
                                             terminal: StatusEvent(status: status == .completed ? .completed : .error, agentName: "a"),
                                             workerID: "ghost", lease: run.lease, resultInEvent: true, now: at)
            #expect(ok)
        }
        return ids
    }

    func exists(_ broker: TaskBroker, _ key: String) async throws -> Bool {
        try await broker.client.send(["EXISTS", key]).int == 1
    }

    @Test("the events stream goes the events TTL after the task ended, the hash the task TTL after; nothing before")
    func sweepKeepsEachForItsTTL() async throws {
        try await withDistributedFixture { fixture in
            let broker = try TaskBroker(redisURL: fixture.redisURL, queue: fixture.queue, settings: QueueSettings(taskTTL: 100, eventsTTL: 10))
            let at: Int64 = 1_000_000
            let ids = try await finished(fixture, broker, count: 3, at: at)
            #expect(try await broker.sweepFinished(now: at + 9_999) == 0)
            for id in ids {
                #expect(try await exists(broker, broker.keys.events(id)))
                #expect(try await exists(broker, broker.keys.task(id)))
                #expect(try await broker.client.send(["TTL", broker.keys.task(id)]).int == -1, "no EXPIRE: the sweep deletes it")
            }
            #expect(try await broker.sweepFinished(now: at + 10_000) == 3)
            for id in ids {
                #expect(try await !exists(broker, broker.keys.events(id)), "the stream is past the events TTL")
                #expect(try await broker.status(id)?.status == .completed, "the hash is kept for the task TTL")
            }
            #expect(try await broker.sweepFinished(now: at + 99_999) == 0)
            #expect(try await broker.sweepFinished(now: at + 100_000) == 3)
            for id in ids { #expect(try await !exists(broker, broker.keys.task(id))) }
            #expect(try await broker.client.send(["ZCARD", broker.keys.expiringTasks]).int == 0)
            #expect(try await broker.client.send(["ZCARD", broker.keys.expiringEvents]).int == 0)
        }
    }

    @Test("a sweep handles at most its limit per set; the rest goes in the next call")
    func sweepIsBounded() async throws {
        try await withDistributedFixture { fixture in
            let broker = try TaskBroker(redisURL: fixture.redisURL, queue: fixture.queue, settings: QueueSettings(taskTTL: 1, eventsTTL: 1))
            let ids = try await finished(fixture, broker, count: 5, at: 1_000)
            #expect(try await broker.sweepFinished(now: 10_000, limit: 2) == 4)
            #expect(try await broker.sweepFinished(now: 10_000, limit: 2) == 4)
            #expect(try await broker.sweepFinished(now: 10_000, limit: 2) == 2)
            #expect(try await broker.sweepFinished(now: 10_000, limit: 2) == 0)
            for id in ids {
                #expect(try await !exists(broker, broker.keys.task(id)))
                #expect(try await !exists(broker, broker.keys.events(id)))
            }
        }
    }

    @Test("a member that is not a task id is dropped, never taken for a key; the sweep takes only a queue's retention sets")
    func foreignMembersAreNotKeys() async throws {
        try await withDistributedFixture { fixture in
            let broker = try fixture.broker()
            // Written straight into Redis: names that would reach other keys of the queue.
            let victims = ["../bundle:x", "x:y", "ABCDEF0123456789ABCDEF0123456789", "0123"]
            for member in victims {
                _ = try await broker.client.send(["SET", broker.keys.task(member), "keep"])
                _ = try await broker.client.send(["ZADD", broker.keys.expiringTasks, 0, member])
            }
            _ = try await broker.client.send(["SET", broker.keys.bundle("x"), "keep"])
            #expect(try await broker.sweepFinished(now: 10) == victims.count)
            for member in victims { #expect(try await exists(broker, broker.keys.task(member)), "\(member)") }
            #expect(try await exists(broker, broker.keys.bundle("x")))
            #expect(try await broker.client.send(["ZCARD", broker.keys.expiringTasks]).int == 0)
            let wrong = await #expect(throws: RedisError.self) {
                _ = try await broker.client.run(QueueScripts.sweep, keys: [broker.keys.stream, broker.keys.expiringEvents], args: [10, 10])
            }
            #expect("\(String(describing: wrong))".contains("sweep"))
        }
    }

    @Test("a failed task run again (`task retry`) leaves the retention sets: no sweep deletes it while it waits or runs")
    func requeuedTaskIsNotSwept() async throws {
        try await withDistributedFixture { fixture in
            let broker = try TaskBroker(redisURL: fixture.redisURL, queue: fixture.queue, settings: QueueSettings(taskTTL: 1, eventsTTL: 1))
            let id = try await finished(fixture, broker, count: 1, at: 1_000, status: .failed)[0]
            #expect(try await broker.requeue(id) == "requeued")
            #expect(try await broker.sweepFinished(now: TaskBroker.nowMs() + 86_400_000) == 0)
            #expect(try await broker.status(id)?.status == .pending)
        }
    }

    @Test("a worker deletes the tasks it finished once their retention is over")
    func workerSweeps() async throws {
        try await withDistributedFixture { fixture in
            var configuration = WorkerConfiguration(redisURL: fixture.redisURL, queue: fixture.queue, concurrency: 4,
                                                    settings: QueueSettings(taskTTL: 1, eventsTTL: 1))
            configuration.retentionSweepInterval = .milliseconds(100)
            try fixture.start(configuration)
            let broker = try fixture.broker()
            let handle = try await distributed(try sleeper(0), "go", broker: broker)
            #expect(try await handle.result(timeout: .seconds(10))["output"] == "woke up")
            try await eventually("the finished task deleted", timeout: .seconds(10)) {
                let task = try await exists(broker, broker.keys.task(handle.taskID))
                let events = try await exists(broker, broker.keys.events(handle.taskID))
                return !task && !events
            }
        }
    }
}
