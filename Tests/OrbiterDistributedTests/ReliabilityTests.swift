import Foundation
import OrbiterCore
@testable import OrbiterClient
@testable import OrbiterQueue
@testable import OrbiterWorker
import OrbiterLua
import OrbiterRedis
import OrbiterTestSupport
import Synchronization
import XCTest

/// A provider that fails with a retryable error the first `failures` times, then answers.
final class FlakyProvider: ModelProvider {
    let calls = Mutex(0)
    let failures: Int
    init(failures: Int) { self.failures = failures }
    func complete(_ request: ModelRequest, onEvent: (ModelStreamEvent) async throws -> Void) async throws {
        let n = calls.withLock { $0 += 1; return $0 }
        if n <= failures { throw ModelError(provider: "flaky", model: request.model, status: 503, message: "overloaded", retryable: true) }
        try await onEvent(.text("finally"))
    }
}

final class ReliabilityTests: DistributedTestCase {
    func testATaskOfADeadWorkerIsTakenOverAndCompletedOnce() async throws {
        let (_, agent) = try load(try calculator())
        let broker = try broker()
        let handle = try await distributed(agent, "2 + 2", broker: broker, detailed: true)
        // A worker claims and starts the task, then dies without a trace.
        _ = try? await broker.client.send(["XGROUP", "CREATE", broker.keys.stream, QueueKeys.group, "0", "MKSTREAM"])
        let claimed = try await broker.client.send(["XREADGROUP", "GROUP", QueueKeys.group, "ghost", "COUNT", 1, "STREAMS", broker.keys.stream, ">"])
        let entry = StreamReplies.firstStream(claimed)[0].id
        _ = try await broker.start([ClaimedEntry(entryID: entry, taskID: handle.taskID)], workerID: "ghost")
        let value1 = try await handle.status()?.status
        XCTAssertEqual(value1, .running)
        let worker = try Worker(configuration: WorkerConfiguration(redisURL: redisURL, queue: queue, workerID: "rescuer", leaseSeconds: 1))
        let task = Task { try await worker.run() }
        workers.append((worker, task))
        let result = try await handle.result(timeout: .seconds(10))
        XCTAssertEqual(result["output"], "The answer is 4.")
        let status = try await handle.status()
        XCTAssertEqual(status?.attempts, 2)
        XCTAssertEqual(status?.workerID, "rescuer")
        let events = try await collect(handle.stream())
        XCTAssertEqual(events.filter(\.isTerminal).count, 1)
        XCTAssertTrue(events.contains { if case .status(let s) = $0 { return s.status == .retrying } else { return false } })
    }

    func testALostTaskOutOfAttemptsIsDeadLettered() async throws {
        let (_, agent) = try load(try calculator())
        let broker = try broker()
        let handle = try await distributed(agent, "2 + 2", broker: broker, maxRetries: 0)
        _ = try? await broker.client.send(["XGROUP", "CREATE", broker.keys.stream, QueueKeys.group, "0", "MKSTREAM"])
        let claimed = try await broker.client.send(["XREADGROUP", "GROUP", QueueKeys.group, "ghost", "COUNT", 1, "STREAMS", broker.keys.stream, ">"])
        let entry = StreamReplies.firstStream(claimed)[0].id
        _ = try await broker.start([ClaimedEntry(entryID: entry, taskID: handle.taskID)], workerID: "ghost")
        let worker = try Worker(configuration: WorkerConfiguration(redisURL: redisURL, queue: queue, leaseSeconds: 1))
        workers.append((worker, Task { try await worker.run() }))
        do {
            _ = try await handle.result(timeout: .seconds(10))
            XCTFail("expected failure")
        } catch {
            XCTAssertTrue("\(error)".contains("was lost and the task used all 1 attempts"), "\(error)")
        }
        let dead = try await broker.deadLetters()
        XCTAssertEqual(dead.first?.taskID, handle.taskID)
    }

    func testRetryableFailuresAreRetriedWithBackoffThenSucceed() async throws {
        let flaky = FlakyProvider(failures: 2)
        ProviderRegistry.shared.register("flaky") { _, _ in flaky }
        let (_, agent) = try load(try script("""
            local orbiter = require "orbiter"
            return orbiter.agent { name = "flaky-agent", model = "flaky:m" }
            """))
        // The worker looks providers up in its own registry (its configuration's), not the process's.
        var configuration = WorkerConfiguration(redisURL: redisURL, queue: queue, leaseSeconds: 1, retryBaseDelay: .milliseconds(50))
        configuration.providers.register("flaky") { _, _ in flaky }
        let worker = try Worker(configuration: configuration)
        workers.append((worker, Task { try await worker.run() }))
        let handle = try await distributed(agent, "hi", redisURL: redisURL, detailed: true, queue: queue)
        let result = try await handle.result(timeout: .seconds(15))
        XCTAssertEqual(result["output"], "finally")
        let value2 = try await handle.status()?.attempts
        XCTAssertEqual(value2, 3)
        let events = try await collect(handle.stream())
        XCTAssertEqual(events.filter { if case .status(let s) = $0 { return s.status == .retrying } else { return false } }.count, 2)
        XCTAssertEqual(events.filter(\.isTerminal).count, 1)
    }

    func testNonRetryableFailuresAreNotRetriedAndAreDeadLettered() async throws {
        let (_, agent) = try load(try script("""
            local orbiter = require "orbiter"
            local m = orbiter.model { name = "m", respond = function() error("bad script") end }
            return orbiter.agent { name = "a", model = m }
            """))
        try startWorker()
        let handle = try await distributed(agent, "hi", redisURL: redisURL, queue: queue)
        _ = try? await handle.result(timeout: .seconds(10))
        let value3 = try await handle.status()?.attempts
        XCTAssertEqual(value3, 1)
        let dead = try await broker().deadLetters()
        XCTAssertEqual(dead.first?.taskID, handle.taskID)
        XCTAssertTrue(dead.first?.reason.contains("bad script") == true)
        // A failed task can be run again from the start.
        let value4 = try await broker().requeue(handle.taskID)
        XCTAssertEqual(value4, "requeued")
        _ = try? await handle.result(timeout: .seconds(10))
        let value5 = try await handle.status()?.attempts
        XCTAssertEqual(value5, 1)
        let value6 = try await broker().deadLetters().filter { $0.taskID == handle.taskID }.count
        XCTAssertEqual(value6, 2)
        let value7 = try await broker().requeue(TaskID.make())
        XCTAssertEqual(value7, "not_found")
    }

    func testIdempotentSubmitReturnsTheFirstTask() async throws {
        let (_, agent) = try load(try calculator())
        let broker = try broker()
        let a = try await distributed(agent, "1 + 1", broker: broker, idempotencyKey: "order-42")
        let b = try await distributed(agent, "1 + 1", broker: broker, idempotencyKey: "order-42")
        let c = try await distributed(agent, "1 + 1", broker: broker, idempotencyKey: "order-43")
        XCTAssertEqual(a.taskID, b.taskID)
        XCTAssertNotEqual(a.taskID, c.taskID)
        let value8 = try await broker.list(limit: 10).count
        XCTAssertEqual(value8, 2)
    }

    func testSignedTasksAreCheckedAndTamperingIsRefused() async throws {
        let secret = QueueSettings(secret: "s3cret")
        let signed = try TaskBroker(redisURL: redisURL, queue: queue, settings: secret)
        let unsigned = try TaskBroker(redisURL: redisURL, queue: queue, settings: QueueSettings(secret: nil))
        let worker = try Worker(configuration: WorkerConfiguration(redisURL: redisURL, queue: queue, settings: secret))
        workers.append((worker, Task { try await worker.run() }))
        let (_, agent) = try load(try calculator())

        let good = try await distributed(agent, "1 + 1", broker: signed)
        let value9 = try await good.result(timeout: .seconds(10))["output"]
        XCTAssertEqual(value9, "The answer is 2.")

        let bad = try await distributed(agent, "1 + 1", broker: unsigned)
        do { _ = try await bad.result(timeout: .seconds(10)); XCTFail() } catch {
            XCTAssertTrue("\(error)".contains("signature: the task is not signed"), "\(error)")
        }

        // Tampering: change the payload after signing, before a worker claims it.
        worker.stop()
        _ = await workers[0].1.result
        workers = []
        let tampered = try await distributed(agent, "1 + 1", broker: signed)
        let payload = try await signed.client.send(["HGET", signed.keys.task(tampered.taskID), "payload"]).string!
        _ = try await signed.client.send(["HSET", signed.keys.task(tampered.taskID), "payload", payload.replacingOccurrences(of: "1 + 1", with: "6 + 6")])
        let again = try Worker(configuration: WorkerConfiguration(redisURL: redisURL, queue: queue, settings: secret))
        workers.append((again, Task { try await again.run() }))
        do { _ = try await tampered.result(timeout: .seconds(10)); XCTFail() } catch {
            XCTAssertTrue("\(error)".contains("does not match its signature"), "\(error)")
        }
        let value10 = try await signed.deadLetters().count
        XCTAssertEqual(value10, 2)
    }

    func testPurgeDeletesOldFinishedTasks() async throws {
        let (_, agent) = try load(try calculator())
        try startWorker()
        let broker = try broker()
        let h = try await distributed(agent, "1 + 1", broker: broker)
        _ = try await h.result(timeout: .seconds(10))
        let value11 = try await broker.purge(status: .completed, olderThan: 3600)
        XCTAssertEqual(value11, 0)
        let value12 = try await broker.purge(status: .completed, olderThan: 0)
        XCTAssertEqual(value12, 1)
        let value13 = try await h.status()
        XCTAssertNil(value13)
        do {
            _ = try await broker.purge(status: .running, olderThan: 0)
            XCTFail("running tasks cannot be purged")
        } catch {}
    }
}
