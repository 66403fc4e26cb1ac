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

/// What a fleet of workers does in a user's first hour: idempotency keys, a stop that outlasts
/// its drain time, worker ids, purged dead letters, metrics and the log lines of Lua code.
final class FleetTests: DistributedTestCase {
    // MARK: Idempotency keys

    func testAnIdempotencyKeyReusedForOtherWorkIsRefusedAndAnEmptyKeyToo() async throws {
        let (_, agent) = try load(try calculator())
        let broker = try broker()
        let first = try await distributed(agent, "1 + 1", broker: broker, idempotencyKey: "order-7")
        let same = try await distributed(agent, "1 + 1", broker: broker, idempotencyKey: "order-7")
        XCTAssertEqual(same.taskID, first.taskID, "the same work with the same key is the same task")
        do {
            _ = try await distributed(agent, "2 + 2", broker: broker, idempotencyKey: "order-7")
            XCTFail("other input with a used key is refused")
        } catch let error as DistributedError {
            XCTAssertEqual(error, .idempotencyConflict(key: "order-7", taskID: first.taskID))
            XCTAssertTrue(error.description.contains("idempotency key 'order-7' was already used for task \(first.taskID)"), error.description)
        }
        let (_, other) = try load(try script("""
            local orbiter = require "orbiter"
            return orbiter.agent { name = "other", model = orbiter.model { name = "m", respond = function() return "hi" end } }
            """))
        do {
            _ = try await distributed(other, "1 + 1", broker: broker, idempotencyKey: "order-7")
            XCTFail("another agent with a used key is refused")
        } catch DistributedError.idempotencyConflict {}
        for blank in ["", "  "] {
            do {
                _ = try await distributed(agent, "1 + 1", broker: broker, idempotencyKey: blank)
                XCTFail("an empty key is refused")
            } catch DistributedError.invalidArgument(let message) {
                XCTAssertTrue(message.contains("idempotency key is empty"), message)
            }
        }
        let stored = try await broker.list()
        XCTAssertEqual(stored.map(\.taskID), [first.taskID], "refused submits store nothing")
        // A key stored by an older client (the task id alone) still answers with its task.
        _ = try await broker.client.send(["SET", broker.keys.idempotency("legacy"), first.taskID, "EX", 60])
        let legacy = try await distributed(agent, "5 + 5", broker: broker, idempotencyKey: "legacy")
        XCTAssertEqual(legacy.taskID, first.taskID)
    }

    // MARK: Drain timeout

    func testATaskStillRunningAfterTheDrainTimeoutGoesBackToTheQueueAndAnotherWorkerResumesIt() async throws {
        let first = try startWorker(id: "w-first", drain: .milliseconds(200))
        let broker = try broker()
        let handle = try await distributed(try load(try script(TestAgents.twoSteps())).1, "go", broker: broker, detailed: true)
        // In its second step (the first is checkpointed) when the worker is told to stop.
        try await eventually("the slow tool to start") {
            try await EventSubscriber(broker: broker).replay(handle.taskID).contains {
                if case .toolCall(let call) = $0.event { return call.toolName == "slow" } else { return false }
            }
        }
        first.stop()
        _ = await workers[0].1.result
        let waiting = try await handle.status()
        XCTAssertEqual(waiting?.status, .pending, "handed back, not cancelled")
        XCTAssertNil(waiting?.error)
        let queued = try await broker.client.send(["XLEN", broker.keys.stream]).int
        XCTAssertEqual(queued, 1, "a fresh queue entry, ready for any worker")

        try startWorker(id: "w-second")
        let result = try await handle.result(timeout: .seconds(15))
        XCTAssertEqual(result["output"], "done after 2 tools")
        let done = try await handle.status()
        XCTAssertEqual(done?.status, .completed)
        XCTAssertEqual(done?.workerID, "w-second")
        XCTAssertEqual(done?.attempts, 2)
        let events = try await collect(handle.stream())
        let statuses = events.compactMap { event -> StatusEvent? in if case .status(let s) = event { return s } else { return nil } }
        XCTAssertTrue(statuses.contains { $0.status == .retrying && $0.message.contains("w-first stopped before the task finished") },
                      "\(statuses)")
        XCTAssertTrue(statuses.contains { $0.status == .resumed && $0.message.contains("resumed after step 1 (attempt 2)") }, "\(statuses)")
        let firstCalls = events.filter { if case .toolCall(let c) = $0 { return c.toolName == "first" } else { return false } }
        XCTAssertEqual(firstCalls.count, 1, "the checkpointed step's tool does not run again")
        XCTAssertEqual(events.filter(\.isTerminal).count, 1)
        guard case .status(let last)? = events.last else { return XCTFail("\(events.map(\.type))") }
        XCTAssertEqual(last.status, .completed)
    }

    // MARK: Worker ids

    func testAWorkerIdHeldByALiveWorkerIsRefusedAndTheLiveOneIsNotMarkedStopped() async throws {
        try startWorker(id: "twin")
        let broker = try broker()
        try await eventually("the first twin is up") { try await broker.workers().contains { $0.id == "twin" && $0.alive } }
        let duplicate = try Worker(configuration: WorkerConfiguration(redisURL: redisURL, queue: queue, workerID: "twin"))
        do {
            try await duplicate.run()
            XCTFail("a second worker with a live worker's id does not start")
        } catch let DistributedError.workerIDInUse(workerID, queue, detail) {
            XCTAssertEqual(workerID, "twin")
            XCTAssertEqual(queue, self.queue)
            XCTAssertTrue(detail.contains("s ago from host"), detail)
        }
        let listed = try await broker.workers().first { $0.id == "twin" }
        XCTAssertEqual(listed?.state, "running", "the live worker is not marked stopped by the refused one")
        XCTAssertEqual(listed?.alive, true)
        // Stopped cleanly, the id is free at once.
        workers[0].0.stop()
        _ = await workers[0].1.result
        let stopped = try await broker.workers().first { $0.id == "twin" }
        XCTAssertEqual(stopped?.state, "stopped")
        XCTAssertEqual(stopped?.alive, false)
        try startWorker(id: "twin")
        try await eventually("the id taken again") { try await broker.workers().first { $0.id == "twin" }?.state == "running" }
    }

    // MARK: Purge

    func testPurgedTasksLeaveTheDeadLettersAndTheDeadCount() async throws {
        try startWorker()
        let broker = try broker()
        let (_, broken) = try load(try script("""
            local orbiter = require "orbiter"
            local m = orbiter.model { name = "m", respond = function() error("no answer today") end }
            return orbiter.agent { name = "broken", model = m }
            """))
        let a = try await distributed(broken, "x", broker: broker)
        let b = try await distributed(broken, "y", broker: broker)
        for handle in [a, b] { _ = try? await handle.result(timeout: .seconds(10)) }
        let dead = try await broker.deadLetters()
        XCTAssertEqual(Set(dead.map(\.taskID)), [a.taskID, b.taskID])
        let before = try await broker.stats().dead
        XCTAssertEqual(before, 2)
        // Only tasks older than the cutoff go: none yet.
        let none = try await broker.purge(status: .failed, olderThan: 3600)
        XCTAssertEqual(none, 0)
        let stillDead = try await broker.deadLetters()
        XCTAssertEqual(stillDead.count, 2)
        let purged = try await broker.purge(status: .failed, olderThan: 0)
        XCTAssertEqual(purged, 2)
        let after = try await broker.deadLetters()
        XCTAssertEqual(after.count, 0, "purged tasks are no longer dead letters")
        let count = try await broker.stats().dead
        XCTAssertEqual(count, 0)
    }

    // MARK: Metrics

    func testToolTimesAndTokensAreCountedForTasksWithoutDetail() async throws {
        let exporter = PrometheusExporter()
        let worker = try Worker(configuration: WorkerConfiguration(
            redisURL: redisURL, queue: queue, workerID: "w-plain-metrics", heartbeatTTL: 3, drainTimeout: .seconds(5),
            metricsFactory: exporter.factory))
        workers.append((worker, Task { try await worker.run() }))
        let (_, agent) = try load(try calculator())
        let handle = try await distributed(agent, "1 + 2", redisURL: redisURL, detailed: false, queue: queue)
        let output = try await handle.result(timeout: .seconds(10))["output"]
        XCTAssertEqual(output, "The answer is 3.")
        let text = String(decoding: exporter.render(), as: UTF8.self)
        XCTAssertTrue(text.contains("orbiter_tool_duration_seconds_count{queue=\"\(queue)\",tool=\"add\"} 1"), text)
        let tokens = text.split(separator: "\n").filter { $0.hasPrefix("orbiter_llm_tokens_total{queue=\"\(queue)\"") }
        XCTAssertTrue(tokens.contains { $0.contains("direction=\"output\"") && $0.hasSuffix(" 3") }, text)
        // The task still publishes only the basic events it asked for.
        let events = try await collect(handle.stream())
        XCTAssertEqual(Set(events.map(\.type)), ["text", "tool_call", "status"], "\(events.map(\.type))")
    }

    // MARK: orbiter.log

    func testOrbiterLogLinesOfATaskCarryItsIdAgentAndTrace() async throws {
        let lines = Mutex<[(String, [String: String])]>([])
        let worker = try Worker(configuration: WorkerConfiguration(
            redisURL: redisURL, queue: queue, workerID: "w-lua-log", heartbeatTTL: 3, drainTimeout: .seconds(5),
            luaOptions: .shipped(log: { line in lines.withLock { $0.append((line, LuaLogContext.metadata)) } })))
        workers.append((worker, Task { try await worker.run() }))
        let agent = try oneToolScript("orbiter.log('from the tool') return 'ok'", topLevel: "orbiter.log('loading')")
        let traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
        let handle = try await distributed(agent, "x", redisURL: redisURL, queue: queue, traceparent: "00-\(traceID)-00f067aa0ba902b7-01")
        _ = try await handle.result(timeout: .seconds(10))
        let logged = lines.withLock { $0 }
        let fromTool = try XCTUnwrap(logged.first { $0.0 == "from the tool" })
        XCTAssertEqual(fromTool.1, ["task_id": handle.taskID, "agent": "probe", "trace_id": traceID, "worker_id": "w-lua-log"])
        let loading = try XCTUnwrap(logged.first { $0.0 == "loading" }, "the script's top level runs again on the worker")
        XCTAssertEqual(loading.1["task_id"], handle.taskID, "the top level logs as the task that loaded the script")
    }
}
