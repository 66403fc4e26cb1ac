import Foundation
import OrbiterCore
@testable import OrbiterClient
@testable import OrbiterQueue
@testable import OrbiterWorker
import OrbiterLua
import OrbiterRedis
import OrbiterTestSupport
import XCTest

final class CancellationTests: DistributedTestCase {
    func testCancelPendingNeverRuns() async throws {
        let handle = try await distributed(try sleeper(0), "x", redisURL: redisURL, queue: queue)
        let outcome = try await handle.cancel()
        XCTAssertEqual(outcome, .cancelled)
        let value12 = try await handle.status()?.status
        XCTAssertEqual(value12, .cancelled)
        let worker = try startWorker()
        try await Task.sleep(for: .milliseconds(300))
        let value13 = try await handle.status()?.status
        XCTAssertEqual(value13, .cancelled)
        let value14 = try await handle.status()?.attempts
        XCTAssertEqual(value14, 0, "a cancelled task never starts")
        XCTAssertEqual(worker.tasksProcessed, 0)
        let events = try await collect(handle.stream())
        XCTAssertEqual(events.map(\.type), ["status"])
        do {
            _ = try await handle.result()
            XCTFail()
        } catch let e as DistributedError {
            XCTAssertEqual(e, .taskCancelled(handle.taskID))
        }
    }

    func testCancelRunningInterruptsTheToolMidSleep() async throws {
        try startWorker()
        let handle = try await distributed(try sleeper(30), "x", redisURL: redisURL, detailed: true, queue: queue)
        try await eventually("the task to run") { try await handle.status()?.status == .running }
        try await Task.sleep(for: .milliseconds(100))
        let start = ContinuousClock.now
        let value15 = try await handle.cancel()
        XCTAssertEqual(value15, .cancelling)
        let events = try await collect(handle.stream())
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(3))
        XCTAssertEqual(events.last, .status(StatusEvent(status: .cancelled, agentName: "sleeper", message: "cancelled by request")))
        XCTAssertEqual(events.filter(\.isTerminal).count, 1)
        XCTAssertFalse(events.contains { if case .toolResult(let r) = $0 { return r.success } else { return false } })
        let value16 = try await handle.status()?.status
        XCTAssertEqual(value16, .cancelled)
    }

    func testCancelFinishedLeavesItAndSaysSo() async throws {
        try startWorker()
        let handle = try await distributed(try sleeper(0), "x", redisURL: redisURL, queue: queue)
        _ = try await handle.result(timeout: .seconds(10))
        let value17 = try await handle.cancel()
        XCTAssertEqual(value17, .alreadyFinished(.completed))
        let value18 = try await handle.status()?.status
        XCTAssertEqual(value18, .completed)
        let value19 = try await TaskHandle(taskID: TaskID.make(), redisURL: redisURL, queue: queue).cancel()
        XCTAssertEqual(value19, .notFound)
        XCTAssertThrowsError(try TaskHandle(taskID: "../etc", redisURL: redisURL, queue: queue))
    }

    func testTimeoutFailsTheTaskWithTimeoutError() async throws {
        try startWorker()
        let handle = try await distributed(try sleeper(30), "x", redisURL: redisURL, detailed: true, timeout: 0.5, queue: queue)
        do {
            _ = try await handle.result(timeout: .seconds(10))
            XCTFail()
        } catch let e as DistributedError {
            XCTAssertTrue(e.description.contains("timed out after 0.5 s"), e.description)
        }
        let events = try await collect(handle.stream())
        guard case .error(let error) = events[events.count - 2] else { return XCTFail("\(events.map(\.type))") }
        XCTAssertEqual(error.errorType, "TimeoutError")
        XCTAssertEqual(events.last?.isTerminal, true)
    }

    func testGracefulDrainLetsRunningTasksFinish() async throws {
        let worker = try startWorker(drain: .seconds(5))
        let handle = try await distributed(try sleeper(0.5), "x", redisURL: redisURL, queue: queue)
        try await eventually("the task to run") { try await handle.status()?.status == .running }
        worker.stop()
        let result = try await handle.result(timeout: .seconds(10))
        XCTAssertEqual(result["output"], "woke up")
    }

    func testDrainTimeoutPutsWhatIsLeftBackOnTheQueue() async throws {
        let worker = try startWorker(drain: .milliseconds(200))
        let handle = try await distributed(try sleeper(30), "x", redisURL: redisURL, queue: queue)
        try await eventually("the task to run") { try await handle.status()?.status == .running }
        worker.stop()
        // The worker's run() returns, and the task waits for another worker (not cancelled).
        _ = await workers[0].1.result
        let value20 = try await handle.status()?.status
        XCTAssertEqual(value20, .pending, "back on the queue: pending, as any task waiting for a worker")
    }

    func testAnIdleWorkerStopsWithoutWaitingOutItsBlockingRead() async throws {
        let worker = try startWorker()
        let broker = try broker()
        try await eventually("the worker is up") { try await broker.workers().contains { $0.alive } }
        try await Task.sleep(for: .milliseconds(100)) // inside XREADGROUP BLOCK (up to 1 s)
        let started = ContinuousClock.now
        worker.stop()
        _ = await workers[0].1.result
        XCTAssertLessThan(ContinuousClock.now - started, .milliseconds(700), "stop interrupts the blocking read")
        // Still a working queue afterwards: a new worker runs a new task.
        try startWorker()
        let handle = try await distributed(try sleeper(0), "x", redisURL: redisURL, queue: queue)
        let result = try await handle.result(timeout: .seconds(10))
        XCTAssertEqual(result["output"], "woke up")
    }

    func testAStoppingWorkerPutsClaimedButUnstartedTasksBackAtOnce() async throws {
        let broker = try broker()
        _ = try? await broker.client.send(["XGROUP", "CREATE", broker.keys.stream, QueueKeys.group, "0", "MKSTREAM"])
        let handle = try await distributed(try sleeper(0), "x", broker: broker)
        let vanished = try await distributed(try sleeper(0), "y", broker: broker)
        // Delivered to "w-a" (as when a stop cuts a blocking read short) but never started; the
        // second task's hash is then deleted (purged or expired meanwhile).
        let read = try await broker.client.send(["XREADGROUP", "GROUP", QueueKeys.group, "w-a", "COUNT", 10, "STREAMS", broker.keys.stream, ">"])
        XCTAssertEqual(StreamReplies.firstStream(read).count, 2)
        _ = try await broker.client.send(["DEL", broker.keys.task(vanished.taskID)])
        let first = try startWorker(id: "w-a")
        try await eventually("w-a is up") { try await broker.workers().contains { $0.id == "w-a" && $0.alive } }
        first.stop()
        _ = await workers[0].1.result
        let pending = try await broker.client.send(["XPENDING", broker.keys.stream, QueueKeys.group])
        XCTAssertEqual(pending.array?.first?.int, 0, "nothing is left leased to the stopped worker")
        let queued = try await broker.client.send(["XLEN", broker.keys.stream])
        XCTAssertEqual(queued.int, 1, "the pending task is queued again; the vanished one's entry is gone")
        try startWorker(id: "w-b")
        let started = ContinuousClock.now
        let result = try await handle.result(timeout: .seconds(10))
        XCTAssertEqual(result["output"], "woke up")
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(5), "not after the 30 s lease")
        let status = try await handle.status()
        XCTAssertEqual(status?.workerID, "w-b")
        XCTAssertEqual(status?.attempts, 1, "a release does not use an attempt")
    }
}
