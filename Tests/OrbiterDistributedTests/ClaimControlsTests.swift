import Foundation
import OrbiterCore
@testable import OrbiterClient
@testable import OrbiterQueue
@testable import OrbiterWorker
import OrbiterLua
import OrbiterRedis
import OrbiterTestSupport
import Testing

/// The claim path's fleet controls: priorities (with the starvation guard), delayed and scheduled
/// tasks, and the queue's concurrency cap across workers — and what hostile input does to them.
@Suite("Claim controls", .serialized)
struct ClaimControlsTests {
    /// Started times of tasks, in the order they started.
    private func startOrder(_ handles: [String: TaskHandle]) async throws -> [String] {
        var started: [(String, Date)] = []
        for (name, handle) in handles {
            let status = try await finishedStatus(handle)
            #expect(status?.status == .completed, "\(name): \(String(describing: status?.status)) \(status?.error ?? "")")
            started.append((name, status?.startedAt ?? .distantFuture))
        }
        return started.sorted { $0.1 < $1.1 }.map(\.0)
    }

    /// Submits `sleeper(seconds)` and waits until a worker runs it (it holds the worker's one slot).
    private func occupy(_ broker: TaskBroker, seconds: Double) async throws -> TaskHandle {
        let blocker = try await distributed(try sleeper(seconds), "block", broker: broker)
        try await eventually("the blocker to run") { try await blocker.status()?.status == .running }
        return blocker
    }

    // MARK: Priorities

    @Test("a single-slot worker runs priority 9 first, then 5, then 1, and each level in submit order")
    func aSingleSlotWorkerRunsHigherPrioritiesFirstAndEachLevelInSubmitOrder() async throws {
        try await withDistributedFixture { fixture in
            try fixture.startWorker(concurrency: 1)
            let broker = try fixture.broker()
            let blocker = try await occupy(broker, seconds: 0.5)
            let agent = try sleeper(0.02) // each run takes 20 ms, so start times are apart
            var handles: [String: TaskHandle] = [:]
            for (name, priority) in [("low-a", 1), ("low-b", 1), ("mid-a", nil), ("high-a", 9), ("mid-b", 5), ("high-b", 9), ("low-c", 1)] {
                handles[name] = try await distributed(agent, name, broker: broker, priority: priority)
            }
            #expect(try await handles["high-a"]!.status()?.priority == 9)
            #expect(try await handles["mid-a"]!.status()?.priority == nil, "the default is not stored")
            _ = try await blocker.result(timeout: .seconds(10))
            let order = try await startOrder(handles)
            #expect(order == ["high-a", "high-b", "mid-a", "mid-b", "low-a", "low-b", "low-c"])
        }
    }

    @Test("the starvation guard serves a low priority task that waited past the starvation age before newer high ones")
    func theStarvationGuardServesALowPriorityTaskThatWaitedPastTheStarvationAge() async throws {
        try await withDistributedFixture { fixture in
            var configuration = WorkerConfiguration(redisURL: fixture.redisURL, queue: fixture.queue, concurrency: 1)
            configuration.starvationAge = .milliseconds(300)
            try fixture.start(configuration)
            let broker = try fixture.broker()
            let blocker = try await occupy(broker, seconds: 0.8)
            let agent = try sleeper(0.02)
            var handles: [String: TaskHandle] = [:]
            handles["old-low"] = try await distributed(agent, "old", broker: broker, priority: 0)
            try await Task.sleep(for: .milliseconds(400)) // the low task is now older than the starvation age
            handles["new-high"] = try await distributed(agent, "h1", broker: broker, priority: 9)
            handles["fresh-low"] = try await distributed(agent, "fresh", broker: broker, priority: 0)
            _ = try await blocker.result(timeout: .seconds(10))
            let order = try await startOrder(handles)
            // Every level's oldest task has waited past the age by then: the longest waiting first.
            #expect(order == ["old-low", "new-high", "fresh-low"])
        }
    }

    // MARK: Delays

    @Test("a delayed task is scheduled (status, list, stats) and starts within 100 ms after its time")
    func aDelayedTaskIsScheduledAndStartsWithin100MsAfterItsTime() async throws {
        try await withDistributedFixture { fixture in
            try fixture.startWorker(concurrency: 2)
            let broker = try fixture.broker()
            try await eventually("the worker is up") { try await broker.workers().contains { $0.alive } }
            // The worker is idle in its blocking wait when the task arrives.
            try await Task.sleep(for: .milliseconds(300))
            let submitted = Date()
            let handle = try await distributed(try sleeper(0), "later", broker: broker, delay: 1)
            let waiting = try await handle.status()
            #expect(waiting?.status == .scheduled)
            #expect(waiting?.runAt != nil)
            #expect(try await broker.list(status: .scheduled).map(\.taskID) == [handle.taskID])
            let stats = try await broker.stats()
            #expect(stats.scheduled == 1)
            #expect(stats.pending == 0)
            let done = try await finishedStatus(handle)
            let late = (done?.startedAt ?? .distantFuture).timeIntervalSince(submitted)
            #expect(late >= 0.999 && late <= 1.1, "started \(late) s after submit")
            #expect(try await broker.stats().scheduled == 0)
        }
    }

    @Test("several delays are each honoured, and a start time in the past runs at once")
    func severalDelaysAreEachHonouredAndAStartTimeInThePastRunsAtOnce() async throws {
        try await withDistributedFixture { fixture in
            try fixture.startWorker(concurrency: 4)
            let broker = try fixture.broker()
            try await eventually("the worker is up") { try await broker.workers().contains { $0.alive } }
            let agent = try sleeper(0)
            var submitted: [Date] = []
            submitted.append(Date())
            let late = try await distributed(agent, "b", broker: broker, delay: 0.6)
            submitted.append(Date())
            let early = try await distributed(agent, "a", broker: broker, delay: 0.25)
            submitted.append(Date())
            let past = try await distributed(agent, "p", broker: broker, runAt: Date(timeIntervalSinceNow: -3600))
            #expect(try await past.status()?.status != .scheduled, "a time already past queues it now")
            for (handle, delay, since) in [(early, 0.25, submitted[1]), (late, 0.6, submitted[0]), (past, 0.0, submitted[2])] {
                let done = try await finishedStatus(handle)
                let after = (done?.startedAt ?? .distantFuture).timeIntervalSince(since)
                // Stored times are whole milliseconds (rounded): a millisecond of slack below.
                #expect(after >= delay - 0.001 && after <= delay + 0.1, "delay \(delay): started after \(after) s")
            }
        }
    }

    @Test("bad priorities, delays and start times are refused naming what is wrong, and nothing is stored")
    func badPrioritiesDelaysAndStartTimesAreRefused() async throws {
        try await withDistributedFixture { fixture in
            let broker = try fixture.broker()
            let agent = try sleeper(0)
            for priority in [10, -1, Int.max] {
                await #expect(throws: DistributedError.self) { try await distributed(agent, "x", broker: broker, priority: priority) }
            }
            for delay in [-1, .infinity, .nan, 400 * 86_400.0] {
                do {
                    _ = try await distributed(agent, "x", broker: broker, delay: delay)
                    Issue.record("delay \(delay) is refused")
                } catch DistributedError.invalidArgument(let message) {
                    #expect(message.contains("delay") || message.contains("start time"), "\(message)")
                }
            }
            await #expect(throws: DistributedError.self) {
                try await distributed(agent, "x", broker: broker, delay: 1, runAt: Date())
            }
            #expect(throws: DistributedError.self) { try TaskPriority.parse("high") }
            #expect(try TaskPriority.parse(" 7 ") == 7)
            #expect(try await broker.list().isEmpty, "refused submits store nothing")
        }
    }

    @Test("max pending counts tasks on every priority level and scheduled ones")
    func maxPendingCountsEveryLevelAndScheduledTasks() async throws {
        try await withDistributedFixture { fixture in
            var settings = QueueSettings()
            settings.maxPending = 2
            let broker = try TaskBroker(redisURL: fixture.redisURL, queue: fixture.queue, settings: settings)
            let agent = try sleeper(0)
            _ = try await distributed(agent, "a", broker: broker, priority: 9)
            _ = try await distributed(agent, "b", broker: broker, delay: 60)
            do {
                _ = try await distributed(agent, "c", broker: broker, priority: 1)
                Issue.record("a third task is refused")
            } catch DistributedError.queueFull(_, let message) {
                #expect(message.contains("2 tasks waiting or running"), "\(message)")
            }
        }
    }

    // MARK: Cancel

    @Test("a pending priority 9 task and a scheduled task are cancelled at once and never run")
    func aPendingPriority9TaskAndAScheduledTaskAreCancelledAtOnce() async throws {
        try await withDistributedFixture { fixture in
            let broker = try fixture.broker()
            let agent = try sleeper(0)
            let urgent = try await distributed(agent, "u", broker: broker, priority: 9)
            let later = try await distributed(agent, "l", broker: broker, priority: 9, delay: 0.5)
            #expect(try await broker.cancel(urgent.taskID) == .cancelled)
            #expect(try await broker.cancel(later.taskID) == .cancelled)
            #expect(try await broker.client.send(["XLEN", broker.keys.stream(level: 9)]).int == 0, "the p9 entry is gone")
            #expect(try await broker.stats().scheduled == 0, "the scheduled set is empty")
            let other = try await distributed(agent, "o", broker: broker)
            try fixture.startWorker()
            _ = try await other.result(timeout: .seconds(10))
            try await Task.sleep(for: .milliseconds(600)) // past the cancelled task's time
            for handle in [urgent, later] {
                let state = try await handle.status()
                #expect(state?.status == .cancelled)
                #expect(state?.startedAt == nil, "never started")
            }
        }
    }

    // MARK: Concurrency cap

    @Test("a concurrency cap of 2 holds across three workers, and every task completes")
    func aConcurrencyCapHoldsAcrossThreeWorkers() async throws {
        try await withDistributedFixture { fixture in
            let broker = try fixture.broker()
            try await broker.setConcurrency(2)
            #expect(try await broker.stats().concurrencyCap == 2)
            for i in 0..<3 { try fixture.startWorker(concurrency: 4, id: "cap-\(i)") }
            let agent = try sleeper(0.1)
            var handles: [TaskHandle] = []
            for i in 0..<12 {
                handles.append(try await distributed(agent, "t\(i)", broker: broker, detailed: true, priority: i % 3 == 0 ? 9 : nil))
            }
            var intervals: [(start: Int64, end: Int64)] = []
            var workers: Set<String> = []
            for handle in handles {
                let state = try await finishedStatus(handle, within: .seconds(20))
                #expect(state?.status == .completed)
                if let worker = state?.workerID { workers.insert(worker) }
                // Each run's first and terminal events, stamped by the Redis server: inside the
                // time its queue entry was held (taken by claim.lua before, freed by finish.lua with
                // the terminal event), so more than 2 overlapping here means more than 2 held.
                let events = broker.keys.events(handle.taskID)
                let first = try await broker.client.send(["XRANGE", events, "-", "+", "COUNT", 1])
                let last = try await broker.client.send(["XREVRANGE", events, "+", "-", "COUNT", 1])
                func ms(_ reply: RedisReply) -> Int64? { StreamReplies.entries(reply).first.flatMap { Int64($0.id.split(separator: "-")[0]) } }
                if let start = ms(first), let end = ms(last) { intervals.append((start, end)) }
            }
            #expect(intervals.count == 12)
            // Replayed in time order (an end before a start at the same ms: the end freed the room).
            var points: [(at: Int64, delta: Int)] = []
            for interval in intervals { points += [(interval.start, 1), (interval.end, -1)] }
            points.sort { a, b in a.at == b.at ? a.delta < b.delta : a.at < b.at }
            var now = 0, peak = 0
            for (_, delta) in points { now += delta; peak = max(peak, now) }
            #expect(peak == 2, "at most 2 ran at once, and the cap was used: \(peak)")
            #expect(workers.count >= 2, "the work was shared: \(workers)")
            // Removing the cap lets a worker take all it can.
            try await broker.setConcurrency(nil)
            #expect(try await broker.stats().concurrencyCap == nil)
            await #expect(throws: DistributedError.self) { try await broker.setConcurrency(0) }
        }
    }

    // MARK: Crash safety

    @Test("tasks of a dead worker are taken over at every priority level")
    func tasksOfADeadWorkerAreTakenOverAtEveryPriorityLevel() async throws {
        try await withDistributedFixture { fixture in
            let broker = try fixture.broker()
            let agent = try sleeper(0)
            var handles: [TaskHandle] = []
            for priority in [0, 5, 9, 2] { handles.append(try await distributed(agent, "p\(priority)", broker: broker, priority: priority)) }
            // A worker claims and starts all of them, then vanishes.
            let batch = try await broker.claim(limit: 10, workerID: "ghost", starvationAgeMs: 0)
            #expect(batch.items.count == 4)
            #expect(batch.streams.count == 4, "\(batch.streams)")
            for handle in handles { #expect(try await handle.status()?.status == .running) }
            try fixture.start(WorkerConfiguration(redisURL: fixture.redisURL, queue: fixture.queue, workerID: "rescuer", leaseSeconds: 1))
            for handle in handles {
                let state = try await finishedStatus(handle)
                #expect(state?.status == .completed)
                #expect(state?.workerID == "rescuer")
                #expect(state?.attempts == 2)
            }
            let stats = try await broker.stats()
            #expect(stats.running == 0 && stats.pending == 0, "no entry is left behind on any level: \(stats)")
        }
    }

    // MARK: Hostile state

    @Test("garbage priority fields, levels and caps neither crash nor wedge the claim path")
    func garbagePriorityFieldsLevelsAndCapsNeitherCrashNorWedgeTheClaimPath() async throws {
        try await withDistributedFixture { fixture in
            let broker = try fixture.broker()
            let agent = try sleeper(0)
            let high = try await distributed(agent, "h", broker: broker, priority: 9)
            let plain = try await distributed(agent, "p", broker: broker)
            // A Redis writer scribbles over what the claim path reads.
            _ = try await broker.client.send(["HSET", broker.keys.task(high.taskID), "priority", "urgent!"])
            _ = try await broker.client.send(["HSET", broker.keys.task(plain.taskID), "priority", "-3"])
            _ = try await broker.client.send(["SADD", broker.keys.stream + ":levels", "banana", "42", "1.5", "-1"])
            _ = try await broker.client.send(["SET", broker.keys.concurrency, "lots"])
            let stats = try await broker.stats()
            #expect(stats.pending == 2)
            #expect(stats.concurrencyCap == nil, "an unreadable cap is no cap")
            try fixture.start(WorkerConfiguration(redisURL: fixture.redisURL, queue: fixture.queue, leaseSeconds: 1))
            for handle in [high, plain] {
                let state = try await finishedStatus(handle)
                #expect(state?.status == .completed)
                #expect(state?.priority == nil, "an unreadable priority reads as the default")
            }
            // The p9 entry whose task's field was changed under it is cleaned up by the takeover sweep.
            try await eventually("the p9 stream to be empty") {
                try await broker.client.send(["XLEN", broker.keys.stream(level: 9)]).int == 0
            }
            let after = try await distributed(agent, "after", broker: broker, priority: 3)
            #expect(try await finishedStatus(after)?.status == .completed, "still claiming")
        }
    }
}
