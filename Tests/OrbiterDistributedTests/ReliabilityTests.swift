import Foundation
import OrbiterCore
@testable import OrbiterClient
@testable import OrbiterQueue
@testable import OrbiterWorker
import OrbiterLua
import OrbiterRedis
import OrbiterTestSupport
import Synchronization
import Testing

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

/// Tasks of dead workers, retries, dead letters, idempotent submits, signatures and purges.
@Suite("Reliability", .serialized)
struct ReliabilityTests {
    @Test("a task of a dead worker is taken over and completed once")
    func aTaskOfADeadWorkerIsTakenOverAndCompletedOnce() async throws {
        try await withDistributedFixture { fixture in
            let (_, agent) = try load(try calculator())
            let broker = try fixture.broker()
            let handle = try await distributed(agent, "2 + 2", broker: broker, detailed: true)
            // A worker claims and starts the task, then dies without a trace.
            try await startAsGhost(broker)
            #expect(try await handle.status()?.status == .running)
            try fixture.start(WorkerConfiguration(redisURL: fixture.redisURL, queue: fixture.queue, workerID: "rescuer", leaseSeconds: 1))
            let result = try await handle.result(timeout: .seconds(10))
            #expect(result["output"] == "The answer is 4.")
            let status = try await handle.status()
            #expect(status?.attempts == 2)
            #expect(status?.workerID == "rescuer")
            let events = try await collectOrThrow(handle.stream())
            #expect(events.filter(\.isTerminal).count == 1)
            #expect(events.contains { if case .status(let s) = $0 { return s.status == .retrying } else { return false } })
        }
    }

    @Test("a lost task out of attempts is dead-lettered")
    func aLostTaskOutOfAttemptsIsDeadLettered() async throws {
        try await withDistributedFixture { fixture in
            let (_, agent) = try load(try calculator())
            let broker = try fixture.broker()
            let handle = try await distributed(agent, "2 + 2", broker: broker, maxRetries: 0)
            try await startAsGhost(broker)
            try fixture.start(WorkerConfiguration(redisURL: fixture.redisURL, queue: fixture.queue, leaseSeconds: 1))
            do {
                _ = try await handle.result(timeout: .seconds(10))
                Issue.record("expected failure")
            } catch {
                #expect("\(error)".contains("was lost and the task used all 1 attempts"), "\(error)")
            }
            let dead = try await broker.deadLetters()
            #expect(dead.first?.taskID == handle.taskID)
        }
    }

    @Test("retryable failures are retried with backoff, then succeed")
    func retryableFailuresAreRetriedWithBackoffThenSucceed() async throws {
        try await withDistributedFixture { fixture in
            let flaky = FlakyProvider(failures: 2)
            ProviderRegistry.shared.register("flaky") { _, _ in flaky } // for loading the script here
            let (_, agent) = try load(try temporaryScript("""
                local orbiter = require "orbiter"
                return orbiter.agent { name = "flaky-agent", model = "flaky:m" }
                """))
            // The worker looks providers up in its own registry (its configuration's), not the process's.
            var configuration = WorkerConfiguration(redisURL: fixture.redisURL, queue: fixture.queue, leaseSeconds: 1,
                                                    retryBaseDelay: .milliseconds(50))
            configuration.providers.register("flaky") { _, _ in flaky }
            try fixture.start(configuration)
            let handle = try await distributed(agent, "hi", redisURL: fixture.redisURL, detailed: true, queue: fixture.queue)
            let result = try await handle.result(timeout: .seconds(15))
            #expect(result["output"] == "finally")
            #expect(try await handle.status()?.attempts == 3)
            let events = try await collectOrThrow(handle.stream())
            #expect(events.filter { if case .status(let s) = $0 { return s.status == .retrying } else { return false } }.count == 2)
            #expect(events.filter(\.isTerminal).count == 1)
        }
    }

    @Test("non-retryable failures are not retried and are dead-lettered")
    func nonRetryableFailuresAreNotRetriedAndAreDeadLettered() async throws {
        try await withDistributedFixture { fixture in
            let agent = try failingAgent("bad script")
            try fixture.startWorker()
            let handle = try await distributed(agent, "hi", redisURL: fixture.redisURL, queue: fixture.queue)
            _ = try? await handle.result(timeout: .seconds(10))
            #expect(try await handle.status()?.attempts == 1)
            let dead = try await fixture.broker().deadLetters()
            #expect(dead.first?.taskID == handle.taskID)
            #expect(dead.first?.reason.contains("bad script") == true)
            // A failed task can be run again from the start.
            #expect(try await fixture.broker().requeue(handle.taskID) == "requeued")
            _ = try? await handle.result(timeout: .seconds(10))
            #expect(try await handle.status()?.attempts == 1)
            // Requeued, it left the dead letters; failing again, it is there once (not twice). The
            // wait above may have read the first run's end, so wait for the second failure itself.
            try await eventually("the requeued task to fail again") { try await handle.status()?.status == .failed }
            try await eventually("the task to be dead-lettered again") {
                try await !fixture.broker().deadLetters().filter { $0.taskID == handle.taskID }.isEmpty
            }
            #expect(try await fixture.broker().deadLetters().filter { $0.taskID == handle.taskID }.count == 1)
            #expect(try await fixture.broker().requeue(TaskID.make()) == "not_found")
        }
    }

    @Test("idempotent submit returns the first task")
    func idempotentSubmitReturnsTheFirstTask() async throws {
        try await withDistributedFixture { fixture in
            let (_, agent) = try load(try calculator())
            let broker = try fixture.broker()
            let a = try await distributed(agent, "1 + 1", broker: broker, idempotencyKey: "order-42")
            let b = try await distributed(agent, "1 + 1", broker: broker, idempotencyKey: "order-42")
            let c = try await distributed(agent, "1 + 1", broker: broker, idempotencyKey: "order-43")
            #expect(a.taskID == b.taskID)
            #expect(a.taskID != c.taskID)
            #expect(try await broker.list(limit: 10).count == 2)
        }
    }

    @Test("signed tasks are checked and tampering is refused")
    func signedTasksAreCheckedAndTamperingIsRefused() async throws {
        try await withDistributedFixture { fixture in
            let secret = QueueSettings(secret: "s3cret")
            let signed = try TaskBroker(redisURL: fixture.redisURL, queue: fixture.queue, settings: secret)
            let unsigned = try TaskBroker(redisURL: fixture.redisURL, queue: fixture.queue, settings: QueueSettings(secret: nil))
            let worker = try fixture.start(WorkerConfiguration(redisURL: fixture.redisURL, queue: fixture.queue, settings: secret))
            let (_, agent) = try load(try calculator())

            let good = try await distributed(agent, "1 + 1", broker: signed)
            #expect(try await good.result(timeout: .seconds(10))["output"] == "The answer is 2.")

            let bad = try await distributed(agent, "1 + 1", broker: unsigned)
            do { _ = try await bad.result(timeout: .seconds(10)); Issue.record() } catch {
                #expect("\(error)".contains("signature: the task is not signed"), "\(error)")
            }

            // Tampering: change the payload after signing, before a worker claims it.
            await fixture.stop(worker)
            let tampered = try await distributed(agent, "1 + 1", broker: signed)
            let payload = try await signed.client.send(["HGET", signed.keys.task(tampered.taskID), "payload"]).string!
            _ = try await signed.client.send(["HSET", signed.keys.task(tampered.taskID), "payload", payload.replacingOccurrences(of: "1 + 1", with: "6 + 6")])
            try fixture.start(WorkerConfiguration(redisURL: fixture.redisURL, queue: fixture.queue, settings: secret))
            do { _ = try await tampered.result(timeout: .seconds(10)); Issue.record() } catch {
                #expect("\(error)".contains("does not match its signature"), "\(error)")
            }
            #expect(try await signed.deadLetters().count == 2)
        }
    }

    @Test("purge deletes old finished tasks")
    func purgeDeletesOldFinishedTasks() async throws {
        try await withDistributedFixture { fixture in
            let (_, agent) = try load(try calculator())
            try fixture.startWorker()
            let broker = try fixture.broker()
            let h = try await distributed(agent, "1 + 1", broker: broker)
            _ = try await h.result(timeout: .seconds(10))
            #expect(try await broker.purge(status: .completed, olderThan: 3600) == 0)
            #expect(try await broker.purge(status: .completed, olderThan: 0) == 1)
            #expect(try await h.status() == nil)
            do {
                _ = try await broker.purge(status: .running, olderThan: 0)
                Issue.record("running tasks cannot be purged")
            } catch {}
        }
    }
}
