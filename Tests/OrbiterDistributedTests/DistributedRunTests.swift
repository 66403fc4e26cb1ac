import Foundation
import OrbiterCore
@testable import OrbiterClient
@testable import OrbiterQueue
@testable import OrbiterWorker
import OrbiterLua
import OrbiterRedis
import OrbiterTestSupport
import XCTest

final class DistributedRunTests: DistributedTestCase {
    func testAWaitThatTimesOutNamesTheTimeItWaited() async throws {
        let (_, agent) = try load(try calculator())
        let handle = try await distributed(agent, "1 + 1", redisURL: redisURL, queue: queue) // no worker: it stays pending
        let start = ContinuousClock.now
        do {
            _ = try await handle.result(timeout: .milliseconds(400))
            XCTFail("no worker runs it")
        } catch let error as DistributedError {
            XCTAssertEqual(error, .waitTimedOut(id: handle.taskID, seconds: 0.4))
            XCTAssertTrue("\(error)".contains("timed out after 0.4 s"), "\(error)")
        }
        XCTAssertGreaterThanOrEqual(ContinuousClock.now - start, .milliseconds(400))
    }

    func testStreamedEventsMatchALocalRun() async throws {
        let (_, agent) = try load(try calculator())
        let local = try await collect(OrbiterCore.run.stream(agent, "2 + 40", detailed: true))
        try startWorker()
        let handle = try await distributed(agent, "2 + 40", redisURL: redisURL, detailed: true, queue: queue)
        let remote = try await collect(handle.stream())
        XCTAssertEqual(normalized(remote), normalized(local))
        let result = try await handle.result()
        XCTAssertEqual(result["output"], "The answer is 42.")
        XCTAssertEqual(result["steps"], 2)
        XCTAssertEqual(result["usage"]?["input_tokens"], 5)
    }

    func testWithoutDetailedTheStreamStillEndsWithATerminalStatus() async throws {
        let (_, agent) = try load(try calculator())
        try startWorker()
        let handle = try await distributed(agent, "1 + 1", redisURL: redisURL, queue: queue)
        let events = try await collect(handle.stream())
        XCTAssertEqual(events.map(\.type), ["tool_call", "text", "text", "text", "status"])
        XCTAssertEqual(events.last, .status(StatusEvent(status: .completed, agentName: "calculator")))
    }

    func testALateSubscriberGetsEveryEventAndReplayHasIds() async throws {
        let (_, agent) = try load(try calculator())
        try startWorker()
        let handle = try await distributed(agent, "3 + 4", redisURL: redisURL, detailed: true, queue: queue)
        _ = try await handle.result()
        let late = try await collect(handle.stream())
        XCTAssertEqual(late.first?.type, "status")
        XCTAssertEqual(late.filter(\.isTerminal).count, 1)
        let subscriber = try EventSubscriber(redisURL, queue: queue)
        try await subscriber.connect()
        let stored = try await subscriber.replay(handle.taskID)
        XCTAssertEqual(stored.map(\.event), late)
        let resumed = try await subscriber.replay(handle.taskID, from: stored[2].id)
        XCTAssertEqual(resumed.map(\.event), Array(late.dropFirst(3)))
    }

    func testStatusLifecycleAndMetadata() async throws {
        let (_, agent) = try load(try calculator())
        let handle = try await distributed(agent, "5 + 5", redisURL: redisURL, metadata: ["user": "ada"], queue: queue)
        let pending = try await handle.status()
        XCTAssertEqual(pending?.status, .pending)
        XCTAssertEqual(pending?.metadata["user"], "ada")
        XCTAssertNotNil(pending?.traceID, "distributed() adds a traceparent")
        try startWorker(id: "w-status")
        _ = try await handle.result(timeout: .seconds(10))
        let done = try await handle.status()
        XCTAssertEqual(done?.status, .completed)
        XCTAssertEqual(done?.workerID, "w-status")
        XCTAssertEqual(done?.attempts, 1)
        XCTAssertEqual(done?.retries, 0)
        XCTAssertNotNil(done?.startedAt)
        XCTAssertNotNil(done?.completedAt)
        let list = try await broker().list(limit: 10)
        XCTAssertEqual(list.map(\.taskID), [handle.taskID])
    }

    func testMessagesAreHonouredOnWorkers() async throws {
        let (_, agent) = try load(try calculator())
        try startWorker()
        let handle = try await distributed(agent, "hello", messages: [.user("earlier"), .assistant("reply")], redisURL: redisURL, queue: queue)
        let result = try await handle.result(timeout: .seconds(10))
        XCTAssertEqual(result["output"], "history has 3 messages")
    }

    func testTheBundleTravelsAndTheWorkerNeedsNoFiles() async throws {
        let path = try calculator()
        let (runtime, agent) = try load(path)
        XCTAssertEqual(runtime.bundle.modules.count, 2)
        try FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent)
        try startWorker()
        let handle = try await distributed(agent, "20 + 22", redisURL: redisURL, queue: queue)
        let result = try await handle.result(timeout: .seconds(10))
        XCTAssertEqual(result["output"], "The answer is 42.")
    }

    func testSeveralWorkersRunEachTaskExactlyOnce() async throws {
        let (_, agent) = try load(try calculator(toolSleep: 0.02))
        for i in 0..<3 { try startWorker(concurrency: 4, id: "share-\(i)") }
        let broker = try broker()
        var handles: [TaskHandle] = []
        for i in 0..<40 { handles.append(try await distributed(agent, "\(i) + 1", broker: broker)) }
        var workersUsed = Set<String>()
        for (i, handle) in handles.enumerated() {
            let result = try await handle.result(timeout: .seconds(30))
            XCTAssertEqual(result["output"]?.stringValue, "The answer is \(i + 1).")
            let status = try await handle.status()
            XCTAssertEqual(status?.attempts, 1)
            workersUsed.insert(status?.workerID ?? "")
            let events = try await EventSubscriber(broker: broker).replay(handle.taskID)
            XCTAssertEqual(events.filter(\.event.isTerminal).count, 1)
        }
        XCTAssertGreaterThan(workersUsed.count, 1, "tasks should spread over workers")
    }

    func testAFailingRunIsReportedWithTheSeedsMessage() async throws {
        let (_, agent) = try load(try script("""
            local orbiter = require "orbiter"
            local m = orbiter.model { name = "m", respond = function() error("model exploded") end }
            return orbiter.agent { name = "a", model = m }
            """))
        try startWorker()
        let handle = try await distributed(agent, "hi", redisURL: redisURL, detailed: true, queue: queue)
        do {
            _ = try await handle.result(timeout: .seconds(10))
            XCTFail("expected a failure")
        } catch let error as DistributedError {
            XCTAssertTrue(error.description.hasPrefix("Task \(handle.taskID) failed: "), error.description)
            XCTAssertTrue(error.description.contains("model exploded"), error.description)
        }
        let events = try await collect(handle.stream())
        XCTAssertEqual(events.suffix(2).map(\.type), ["error", "status"])
        XCTAssertEqual(events.filter { $0.type == "error" }.count, 1)
        let value11 = try await handle.status()?.status
        XCTAssertEqual(value11, .failed)
    }

    func testResultComesFromTheTerminalEntryWhenSmallAndFromTheHashOtherwise() async throws {
        let (_, agent) = try load(try script("""
            local orbiter = require "orbiter"
            local m = orbiter.model { name = "m", respond = function(request)
              local text = request.messages[#request.messages].content
              if text == "big" then return string.rep("x", 20000) end
              return "echo " .. text
            end }
            return orbiter.agent { name = "a", model = m }
            """))
        try startWorker()
        let broker = try broker()
        let small = try await distributed(agent, "hi", broker: broker)
        let big = try await distributed(agent, "big", broker: broker)
        let other = try broker.handle(for: small.taskID)
        try await eventually("both finished") {
            let a = try await small.status()?.status, b = try await big.status()?.status
            return a == .completed && b == .completed
        }
        // Change the stored results: a fresh handle reads the terminal entry, an id's handle the hash.
        for id in [small.taskID, big.taskID] {
            _ = try await broker.client.send(["HSET", broker.keys.task(id), "result", #"{"output":"from the hash"}"#])
        }
        let fromEntry = try await small.result(timeout: .seconds(10))
        XCTAssertEqual(fromEntry["output"], "echo hi")
        let fromHash = try await other.result(timeout: .seconds(10))
        XCTAssertEqual(fromHash["output"], "from the hash")
        let bigResult = try await big.result(timeout: .seconds(10))
        XCTAssertEqual(bigResult["output"], "from the hash", "results over 16 KiB stay only in the hash")
        let entries = try await broker.client.send(["XRANGE", broker.keys.events(big.taskID), "-", "+"])
        let terminal = try XCTUnwrap(StreamReplies.entries(entries).last)
        XCTAssertEqual(terminal.fields["outcome"], "completed")
        XCTAssertNil(terminal.fields["result"])
    }

    func testACorruptResultInTheTerminalEntryFallsBackToTheTaskHash() async throws {
        let (_, agent) = try load(try calculator())
        try startWorker()
        let broker = try broker()
        let done = try await distributed(agent, "2 + 2", broker: broker)
        _ = try await done.result(timeout: .seconds(10))
        // Rewrite the stream: a terminal entry whose copied result is not JSON.
        let key = broker.keys.events(done.taskID)
        _ = try await broker.client.send(["DEL", key])
        _ = try await broker.client.send(["XADD", key, "*", "event", #"{"type":"status","status":"completed","agent_name":"calculator","message":""}"#,
                                          "outcome", "completed", "error", "", "result", "{not json"])
        let fresh = TaskHandle(taskID: done.taskID, broker: broker, isFresh: true)
        let result = try await fresh.result(timeout: .seconds(10))
        XCTAssertEqual(result["output"], "The answer is 4.")
    }

    func testAnIdempotentResubmitOfAFinishedTaskWithExpiredEventsAnswersAtOnce() async throws {
        let (_, agent) = try load(try calculator())
        try startWorker()
        let broker = try broker()
        let first = try await distributed(agent, "2 + 2", broker: broker, idempotencyKey: "once")
        _ = try await first.result(timeout: .seconds(10))
        _ = try await broker.client.send(["DEL", broker.keys.events(first.taskID)])
        let again = try await distributed(agent, "2 + 2", broker: broker, idempotencyKey: "once")
        XCTAssertEqual(again.taskID, first.taskID)
        let started = ContinuousClock.now
        let result = try await again.result(timeout: .seconds(10))
        XCTAssertEqual(result["output"], "The answer is 4.")
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(2), "an existing task's state is read first, not waited for")
    }
}


final class DistributedSwarmTests: DistributedTestCase {
    func testASwarmRunsOnAWorkerWithTheSameEventsAsLocally() async throws {
        let (_, swarm) = try load(try script("""
            local orbiter = require "orbiter"
            local function model(name, prefix)
              return orbiter.model { name = name, respond = function(req)
                orbiter.sleep(0.05)
                return prefix .. req.messages[#req.messages].content
              end }
            end
            local a = orbiter.agent { name = "a", model = model("ma", "A:") }
            local b = orbiter.agent { name = "b", model = model("mb", "B:") }
            local c = orbiter.agent { name = "c", model = model("mc", "C:") }
            return orbiter.swarm { name = "pipeline", agents = { a, b, c }, flow = "a >> (b | c)" }
            """))
        try startWorker()
        let handle = try await distributed(swarm, "x", redisURL: redisURL, detailed: true, queue: queue)
        let events = try await collect(handle.stream())
        let result = try await handle.result(timeout: .seconds(10))
        XCTAssertEqual(result["output"], "B:A:x\n\nC:A:x")
        XCTAssertEqual(result["steps"], 3)
        XCTAssertEqual(events.filter(\.isTerminal).count, 1)
        XCTAssertEqual(events.last, .status(StatusEvent(status: .completed, agentName: "pipeline")))
        XCTAssertEqual(Set(events.compactMap { if case .text(let t) = $0 { return t.agentName } else { return nil } }), ["a", "b", "c"])
    }
}

final class SharedStateTests: DistributedTestCase {
    /// Tasks of one script share one Lua state by default (globals persist); `isolateTasks` gives
    /// each task a fresh one.
    func testTasksShareAStatePerScriptUnlessIsolated() async throws {
        let (_, agent) = try load(try script("""
            local orbiter = require "orbiter"
            calls = calls or 0
            local m = orbiter.model { name = "m", respond = function() calls = calls + 1 return tostring(calls) end }
            return orbiter.agent { name = "counter", model = m }
            """))
        try startWorker(concurrency: 1)
        var outputs: [String] = []
        for _ in 0..<2 {
            let h = try await distributed(agent, "x", redisURL: redisURL, queue: queue)
            outputs.append(try await h.result(timeout: .seconds(10))["output"]?.stringValue ?? "")
        }
        XCTAssertEqual(outputs, ["1", "2"])
        workers[0].0.stop()
        _ = await workers[0].1.result
        workers = []
        var configuration = WorkerConfiguration(redisURL: redisURL, queue: queue, concurrency: 1)
        configuration.isolateTasks = true
        let isolated = try Worker(configuration: configuration)
        workers.append((isolated, Task { try await isolated.run() }))
        var fresh: [String] = []
        for _ in 0..<2 {
            let h = try await distributed(agent, "x", redisURL: redisURL, queue: queue)
            fresh.append(try await h.result(timeout: .seconds(10))["output"]?.stringValue ?? "")
        }
        XCTAssertEqual(fresh, ["1", "1"])
    }
}
