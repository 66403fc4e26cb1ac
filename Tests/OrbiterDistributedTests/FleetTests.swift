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

/// What a fleet of workers does in a user's first hour: idempotency keys, a stop that outlasts
/// its drain time, worker ids, purged dead letters, metrics and the log lines of Lua code.
@Suite("Fleet", .serialized)
struct FleetTests {
    // MARK: Idempotency keys

    @Test("an idempotency key reused for other work is refused, and an empty key too")
    func anIdempotencyKeyReusedForOtherWorkIsRefusedAndAnEmptyKeyToo() async throws {
        try await withDistributedFixture { fixture in
            let (_, agent) = try load(try calculator())
            let broker = try fixture.broker()
            let first = try await distributed(agent, "1 + 1", broker: broker, idempotencyKey: "order-7")
            let same = try await distributed(agent, "1 + 1", broker: broker, idempotencyKey: "order-7")
            #expect(same.taskID == first.taskID, "the same work with the same key is the same task")
            do {
                _ = try await distributed(agent, "2 + 2", broker: broker, idempotencyKey: "order-7")
                Issue.record("other input with a used key is refused")
            } catch let error as DistributedError {
                #expect(error == .idempotencyConflict(key: "order-7", taskID: first.taskID))
                #expect(error.description.contains("idempotency key 'order-7' was already used for task \(first.taskID)"), "\(error.description)")
            }
            let (_, other) = try load(try temporaryScript("""
                local orbiter = require "orbiter"
                return orbiter.agent { name = "other", model = orbiter.model { name = "m", respond = function() return "hi" end } }
                """))
            do {
                _ = try await distributed(other, "1 + 1", broker: broker, idempotencyKey: "order-7")
                Issue.record("another agent with a used key is refused")
            } catch DistributedError.idempotencyConflict {}
            for blank in ["", "  "] {
                do {
                    _ = try await distributed(agent, "1 + 1", broker: broker, idempotencyKey: blank)
                    Issue.record("an empty key is refused")
                } catch DistributedError.invalidArgument(let message) {
                    #expect(message.contains("idempotency key is empty"), "\(message)")
                }
            }
            let stored = try await broker.list()
            #expect(stored.map(\.taskID) == [first.taskID], "refused submits store nothing")
            // A key stored by an older client (the task id alone) still answers with its task.
            _ = try await broker.client.send(["SET", broker.keys.idempotency("legacy"), first.taskID, "EX", 60])
            let legacy = try await distributed(agent, "5 + 5", broker: broker, idempotencyKey: "legacy")
            #expect(legacy.taskID == first.taskID)
        }
    }

    // MARK: Drain timeout

    @Test("a task still running after the drain timeout goes back to the queue and another worker resumes it")
    func aTaskStillRunningAfterTheDrainTimeoutGoesBackToTheQueueAndAnotherWorkerResumesIt() async throws {
        try await withDistributedFixture { fixture in
            let first = try fixture.startWorker(id: "w-first", drain: .milliseconds(200))
            let broker = try fixture.broker()
            let handle = try await distributed(try load(try temporaryScript(TestAgents.twoSteps())).1, "go", broker: broker, detailed: true)
            // In its second step (the first is checkpointed) when the worker is told to stop.
            try await eventually("the slow tool to start") {
                try await EventSubscriber(broker: broker).replay(handle.taskID).contains {
                    if case .toolCall(let call) = $0.event { return call.toolName == "slow" } else { return false }
                }
            }
            await fixture.stop(first)
            let waiting = try await handle.status()
            #expect(waiting?.status == .pending, "handed back, not cancelled")
            #expect(waiting?.error == nil)
            let queued = try await broker.client.send(["XLEN", broker.keys.stream]).int
            #expect(queued == 1, "a fresh queue entry, ready for any worker")

            try fixture.startWorker(id: "w-second")
            let result = try await handle.result(timeout: .seconds(15))
            #expect(result["output"] == "done after 2 tools")
            let done = try await handle.status()
            #expect(done?.status == .completed)
            #expect(done?.workerID == "w-second")
            #expect(done?.attempts == 2)
            let events = try await collectOrThrow(handle.stream())
            let statuses = events.compactMap { event -> StatusEvent? in if case .status(let s) = event { return s } else { return nil } }
            #expect(statuses.contains { $0.status == .retrying && $0.message.contains("w-first stopped before the task finished") },
                    "\(statuses)")
            // A hand-back is not a failed attempt: the resumed run is still the task's first.
            #expect(statuses.contains { $0.status == .resumed && $0.message == "resumed after step 1" }, "\(statuses)")
            let firstCalls = events.filter { if case .toolCall(let c) = $0 { return c.toolName == "first" } else { return false } }
            #expect(firstCalls.count == 1, "the checkpointed step's tool does not run again")
            #expect(events.filter(\.isTerminal).count == 1)
            guard case .status(let last)? = events.last else { Issue.record("\(events.map(\.type))"); return }
            #expect(last.status == .completed)
        }
    }

    // MARK: Worker ids

    @Test("a worker ID held by a live worker is refused, and the live one is not marked stopped")
    func aWorkerIdHeldByALiveWorkerIsRefusedAndTheLiveOneIsNotMarkedStopped() async throws {
        try await withDistributedFixture { fixture in
            let twin = try fixture.startWorker(id: "twin")
            let broker = try fixture.broker()
            try await eventually("the first twin is up") { try await broker.workers().contains { $0.id == "twin" && $0.alive } }
            let duplicate = try Worker(configuration: WorkerConfiguration(redisURL: fixture.redisURL, queue: fixture.queue, workerID: "twin"))
            do {
                try await duplicate.run()
                Issue.record("a second worker with a live worker's id does not start")
            } catch let DistributedError.workerIDInUse(workerID, queue, detail) {
                #expect(workerID == "twin")
                #expect(queue == fixture.queue)
                #expect(detail.contains("s ago from host"), "\(detail)")
            }
            let listed = try await broker.workers().first { $0.id == "twin" }
            #expect(listed?.state == "running", "the live worker is not marked stopped by the refused one")
            #expect(listed?.alive == true)
            // Stopped cleanly, the id is free at once.
            await fixture.stop(twin)
            let stopped = try await broker.workers().first { $0.id == "twin" }
            #expect(stopped?.state == "stopped")
            #expect(stopped?.alive == false)
            try fixture.startWorker(id: "twin")
            try await eventually("the id taken again") { try await broker.workers().first { $0.id == "twin" }?.state == "running" }
        }
    }

    // MARK: Purge

    @Test("purged tasks leave the dead letters and the dead count")
    func purgedTasksLeaveTheDeadLettersAndTheDeadCount() async throws {
        try await withDistributedFixture { fixture in
            try fixture.startWorker()
            let broker = try fixture.broker()
            let broken = try failingAgent("no answer today", name: "broken")
            let a = try await distributed(broken, "x", broker: broker)
            let b = try await distributed(broken, "y", broker: broker)
            for handle in [a, b] { _ = try? await handle.result(timeout: .seconds(10)) }
            let dead = try await broker.deadLetters()
            #expect(Set(dead.map(\.taskID)) == [a.taskID, b.taskID])
            let before = try await broker.stats().dead
            #expect(before == 2)
            // Only tasks older than the cutoff go: none yet.
            let none = try await broker.purge(status: .failed, olderThan: 3600)
            #expect(none == 0)
            let stillDead = try await broker.deadLetters()
            #expect(stillDead.count == 2)
            let purged = try await broker.purge(status: .failed, olderThan: 0)
            #expect(purged == 2)
            let after = try await broker.deadLetters()
            #expect(after.count == 0, "purged tasks are no longer dead letters")
            let count = try await broker.stats().dead
            #expect(count == 0)
        }
    }

    // MARK: Metrics

    @Test("tool times and tokens are counted for tasks without detail")
    func toolTimesAndTokensAreCountedForTasksWithoutDetail() async throws {
        try await withDistributedFixture { fixture in
            let exporter = PrometheusExporter()
            try fixture.start(WorkerConfiguration(
                redisURL: fixture.redisURL, queue: fixture.queue, workerID: "w-plain-metrics", heartbeatTTL: 3, drainTimeout: .seconds(5),
                metricsFactory: exporter.factory))
            let (_, agent) = try load(try calculator())
            let handle = try await distributed(agent, "1 + 2", redisURL: fixture.redisURL, detailed: false, queue: fixture.queue)
            let output = try await handle.result(timeout: .seconds(10))["output"]
            #expect(output == "The answer is 3.")
            let text = String(decoding: exporter.render(), as: UTF8.self)
            #expect(text.contains("orbiter_tool_duration_seconds_count{queue=\"\(fixture.queue)\",tool=\"add\"} 1"), "\(text)")
            let tokens = text.split(separator: "\n").filter { $0.hasPrefix("orbiter_llm_tokens_total{queue=\"\(fixture.queue)\"") }
            #expect(tokens.contains { $0.contains("direction=\"output\"") && $0.hasSuffix(" 3") }, "\(text)")
            // The task still publishes only the basic events it asked for.
            let events = try await collectOrThrow(handle.stream())
            #expect(Set(events.map(\.type)) == ["text", "tool_call", "status"], "\(events.map(\.type))")
        }
    }

    // MARK: orbiter.log

    @Test("orbiter.log lines of a task carry its id, agent and trace")
    func orbiterLogLinesOfATaskCarryItsIdAgentAndTrace() async throws {
        try await withDistributedFixture { fixture in
            let lines = Mutex<[(String, [String: String])]>([])
            try fixture.start(WorkerConfiguration(
                redisURL: fixture.redisURL, queue: fixture.queue, workerID: "w-lua-log", heartbeatTTL: 3, drainTimeout: .seconds(5),
                luaOptions: .shipped(log: { line in lines.withLock { $0.append((line, LuaLogContext.metadata)) } })))
            let agent = try oneToolScript("orbiter.log('from the tool') return 'ok'", topLevel: "orbiter.log('loading')")
            let traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
            let handle = try await distributed(agent, "x", redisURL: fixture.redisURL, queue: fixture.queue,
                                               traceparent: "00-\(traceID)-00f067aa0ba902b7-01")
            _ = try await handle.result(timeout: .seconds(10))
            let logged = lines.withLock { $0 }
            let fromTool = try #require(logged.first { $0.0 == "from the tool" })
            #expect(fromTool.1 == ["task_id": handle.taskID, "agent": "probe", "trace_id": traceID, "worker_id": "w-lua-log"])
            let loading = try #require(logged.first { $0.0 == "loading" }, "the script's top level runs again on the worker")
            #expect(loading.1["task_id"] == handle.taskID, "the top level logs as the task that loaded the script")
        }
    }
}
