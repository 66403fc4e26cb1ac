import Foundation
import OrbiterCore
@testable import OrbiterClient
@testable import OrbiterQueue
@testable import OrbiterWorker
import OrbiterLua
import OrbiterRedis
import OrbiterTestSupport
import Testing

/// Cancelling, timing out and draining tasks on in-process workers.
@Suite("Cancellation", .serialized)
struct CancellationTests {
    @Test("a cancelled pending task never runs")
    func cancelPendingNeverRuns() async throws {
        try await withDistributedFixture { fixture in
            let handle = try await distributed(try sleeper(0), "x", redisURL: fixture.redisURL, queue: fixture.queue)
            let outcome = try await handle.cancel()
            #expect(outcome == .cancelled)
            #expect(try await handle.status()?.status == .cancelled)
            let worker = try fixture.startWorker()
            try await Task.sleep(for: .milliseconds(300))
            #expect(try await handle.status()?.status == .cancelled)
            #expect(try await handle.status()?.attempts == 0, "a cancelled task never starts")
            #expect(worker.tasksProcessed == 0)
            let events = try await collectOrThrow(handle.stream())
            #expect(events.map(\.type) == ["status"])
            do {
                _ = try await handle.result()
                Issue.record()
            } catch let e as DistributedError {
                #expect(e == .taskCancelled(handle.taskID))
            }
        }
    }

    @Test("cancelling a running task interrupts its tool mid-sleep")
    func cancelRunningInterruptsTheToolMidSleep() async throws {
        try await withDistributedFixture { fixture in
            try fixture.startWorker()
            let handle = try await distributed(try sleeper(30), "x", redisURL: fixture.redisURL, detailed: true, queue: fixture.queue)
            try await eventually("the task to run") { try await handle.status()?.status == .running }
            try await Task.sleep(for: .milliseconds(100))
            let start = ContinuousClock.now
            #expect(try await handle.cancel() == .cancelling)
            let events = try await collectOrThrow(handle.stream())
            #expect(ContinuousClock.now - start < .seconds(3))
            #expect(events.last == .status(StatusEvent(status: .cancelled, agentName: "sleeper", message: "cancelled by request")))
            #expect(events.filter(\.isTerminal).count == 1)
            #expect(!(events.contains { if case .toolResult(let r) = $0 { return r.success } else { return false } }))
            #expect(try await handle.status()?.status == .cancelled)
        }
    }

    @Test("cancelling a finished task leaves it and says so")
    func cancelFinishedLeavesItAndSaysSo() async throws {
        try await withDistributedFixture { fixture in
            try fixture.startWorker()
            let handle = try await distributed(try sleeper(0), "x", redisURL: fixture.redisURL, queue: fixture.queue)
            _ = try await handle.result(timeout: .seconds(10))
            #expect(try await handle.cancel() == .alreadyFinished(.completed))
            #expect(try await handle.status()?.status == .completed)
            #expect(try await TaskHandle(taskID: TaskID.make(), redisURL: fixture.redisURL, queue: fixture.queue).cancel() == .notFound)
            #expect(throws: (any Error).self) { try TaskHandle(taskID: "../etc", redisURL: fixture.redisURL, queue: fixture.queue) }
        }
    }

    @Test("a timeout fails the task with a TimeoutError")
    func timeoutFailsTheTaskWithTimeoutError() async throws {
        try await withDistributedFixture { fixture in
            try fixture.startWorker()
            let handle = try await distributed(try sleeper(30), "x", redisURL: fixture.redisURL, detailed: true, timeout: 0.5, queue: fixture.queue)
            do {
                _ = try await handle.result(timeout: .seconds(10))
                Issue.record()
            } catch let e as DistributedError {
                #expect(e.description.contains("timed out after 0.5 s"), "\(e.description)")
            }
            let events = try await collectOrThrow(handle.stream())
            guard case .error(let error) = events[events.count - 2] else { Issue.record("\(events.map(\.type))"); return }
            #expect(error.errorType == "TimeoutError")
            #expect(events.last?.isTerminal == true)
        }
    }

    @Test("a graceful drain lets running tasks finish")
    func gracefulDrainLetsRunningTasksFinish() async throws {
        try await withDistributedFixture { fixture in
            let worker = try fixture.startWorker(drain: .seconds(5))
            let handle = try await distributed(try sleeper(0.5), "x", redisURL: fixture.redisURL, queue: fixture.queue)
            try await eventually("the task to run") { try await handle.status()?.status == .running }
            worker.stop()
            let result = try await handle.result(timeout: .seconds(10))
            #expect(result["output"] == "woke up")
        }
    }

    @Test("the drain timeout puts what is left back on the queue")
    func drainTimeoutPutsWhatIsLeftBackOnTheQueue() async throws {
        try await withDistributedFixture { fixture in
            let worker = try fixture.startWorker(drain: .milliseconds(200))
            let handle = try await distributed(try sleeper(30), "x", redisURL: fixture.redisURL, queue: fixture.queue)
            try await eventually("the task to run") { try await handle.status()?.status == .running }
            // The worker's run() returns, and the task waits for another worker (not cancelled).
            await fixture.stop(worker)
            #expect(try await handle.status()?.status == .pending, "back on the queue: pending, as any task waiting for a worker")
        }
    }

    @Test("an idle worker stops without waiting out its blocking read")
    func anIdleWorkerStopsWithoutWaitingOutItsBlockingRead() async throws {
        try await withDistributedFixture { fixture in
            let worker = try fixture.startWorker()
            let broker = try fixture.broker()
            try await eventually("the worker is up") { try await broker.workers().contains { $0.alive } }
            try await Task.sleep(for: .milliseconds(100)) // inside XREADGROUP BLOCK (up to 1 s)
            let started = ContinuousClock.now
            await fixture.stop(worker)
            #expect(ContinuousClock.now - started < .milliseconds(700), "stop interrupts the blocking read")
            // Still a working queue afterwards: a new worker runs a new task.
            try fixture.startWorker()
            let handle = try await distributed(try sleeper(0), "x", redisURL: fixture.redisURL, queue: fixture.queue)
            let result = try await handle.result(timeout: .seconds(10))
            #expect(result["output"] == "woke up")
        }
    }

    @Test("a stopping worker puts claimed but unstarted tasks back at once")
    func aStoppingWorkerPutsClaimedButUnstartedTasksBackAtOnce() async throws {
        try await withDistributedFixture { fixture in
            let broker = try fixture.broker()
            _ = try? await broker.client.send(["XGROUP", "CREATE", broker.keys.stream, QueueKeys.group, "0", "MKSTREAM"])
            let handle = try await distributed(try sleeper(0), "x", broker: broker)
            let vanished = try await distributed(try sleeper(0), "y", broker: broker)
            // Delivered to "w-a" (as when a stop cuts a blocking read short) but never started; the
            // second task's hash is then deleted (purged or expired meanwhile).
            let read = try await broker.client.send(["XREADGROUP", "GROUP", QueueKeys.group, "w-a", "COUNT", 10, "STREAMS", broker.keys.stream, ">"])
            #expect(StreamReplies.firstStream(read).count == 2)
            _ = try await broker.client.send(["DEL", broker.keys.task(vanished.taskID)])
            let first = try fixture.startWorker(id: "w-a")
            try await eventually("w-a is up") { try await broker.workers().contains { $0.id == "w-a" && $0.alive } }
            await fixture.stop(first)
            let pending = try await broker.client.send(["XPENDING", broker.keys.stream, QueueKeys.group])
            #expect(pending.array?.first?.int == 0, "nothing is left leased to the stopped worker")
            let queued = try await broker.client.send(["XLEN", broker.keys.stream])
            #expect(queued.int == 1, "the pending task is queued again; the vanished one's entry is gone")
            try fixture.startWorker(id: "w-b")
            let started = ContinuousClock.now
            let result = try await handle.result(timeout: .seconds(10))
            #expect(result["output"] == "woke up")
            #expect(ContinuousClock.now - started < .seconds(5), "not after the 30 s lease")
            let status = try await handle.status()
            #expect(status?.workerID == "w-b")
            #expect(status?.attempts == 1, "a release does not use an attempt")
        }
    }
}
