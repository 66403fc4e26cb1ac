import Foundation
import OrbiterCore
@testable import OrbiterClient
@testable import OrbiterQueue
@testable import OrbiterWorker
import OrbiterLua
import OrbiterRedis
import OrbiterTestSupport
import Testing

/// Tasks submitted with `distributed()` and run by in-process workers: events, results, status.
@Suite("Distributed runs", .serialized)
struct DistributedRunTests {
    @Test("a wait that times out names the time it waited")
    func aWaitThatTimesOutNamesTheTimeItWaited() async throws {
        try await withDistributedFixture { fixture in
            let (_, agent) = try load(try calculator())
            let handle = try await distributed(agent, "1 + 1", redisURL: fixture.redisURL, queue: fixture.queue) // no worker: it stays pending
            let start = ContinuousClock.now
            do {
                _ = try await handle.result(timeout: .milliseconds(400))
                Issue.record("no worker runs it")
            } catch let error as DistributedError {
                #expect(error == .waitTimedOut(id: handle.taskID, seconds: 0.4))
                #expect("\(error)".contains("timed out after 0.4 s"), "\(error)")
            }
            #expect(ContinuousClock.now - start >= .milliseconds(400))
        }
    }

    @Test("streamed events match a local run")
    func streamedEventsMatchALocalRun() async throws {
        try await withDistributedFixture { fixture in
            let (_, agent) = try load(try calculator())
            let local = try await collectOrThrow(OrbiterCore.run.stream(agent, "2 + 40", detailed: true))
            try fixture.startWorker()
            let handle = try await distributed(agent, "2 + 40", redisURL: fixture.redisURL, detailed: true, queue: fixture.queue)
            let remote = try await collectOrThrow(handle.stream())
            #expect(normalized(remote) == normalized(local))
            let result = try await handle.result()
            #expect(result["output"] == "The answer is 42.")
            #expect(result["steps"] == 2)
            #expect(result["usage"]?["input_tokens"] == 5)
        }
    }

    @Test("without detail the stream still ends with a terminal status")
    func withoutDetailedTheStreamStillEndsWithATerminalStatus() async throws {
        try await withDistributedFixture { fixture in
            let (_, agent) = try load(try calculator())
            try fixture.startWorker()
            let handle = try await distributed(agent, "1 + 1", redisURL: fixture.redisURL, queue: fixture.queue)
            let events = try await collectOrThrow(handle.stream())
            #expect(events.map(\.type) == ["tool_call", "text", "text", "text", "status"])
            #expect(events.last == .status(StatusEvent(status: .completed, agentName: "calculator")))
        }
    }

    @Test("a late subscriber gets every event, and a replay has ids")
    func aLateSubscriberGetsEveryEventAndReplayHasIds() async throws {
        try await withDistributedFixture { fixture in
            let (_, agent) = try load(try calculator())
            try fixture.startWorker()
            let handle = try await distributed(agent, "3 + 4", redisURL: fixture.redisURL, detailed: true, queue: fixture.queue)
            _ = try await handle.result()
            let late = try await collectOrThrow(handle.stream())
            #expect(late.first?.type == "status")
            #expect(late.filter(\.isTerminal).count == 1)
            let subscriber = try EventSubscriber(fixture.redisURL, queue: fixture.queue)
            try await subscriber.connect()
            let stored = try await subscriber.replay(handle.taskID)
            #expect(stored.map(\.event) == late)
            let resumed = try await subscriber.replay(handle.taskID, from: stored[2].id)
            #expect(resumed.map(\.event) == Array(late.dropFirst(3)))
        }
    }

    @Test("status through the lifecycle, with metadata")
    func statusLifecycleAndMetadata() async throws {
        try await withDistributedFixture { fixture in
            let (_, agent) = try load(try calculator())
            let handle = try await distributed(agent, "5 + 5", redisURL: fixture.redisURL, metadata: ["user": "ada"], queue: fixture.queue)
            let pending = try await handle.status()
            #expect(pending?.status == .pending)
            #expect(pending?.metadata["user"] == "ada")
            #expect(pending?.traceID != nil, "distributed() adds a traceparent")
            try fixture.startWorker(id: "w-status")
            _ = try await handle.result(timeout: .seconds(10))
            let done = try await handle.status()
            #expect(done?.status == .completed)
            #expect(done?.workerID == "w-status")
            #expect(done?.attempts == 1)
            #expect(done?.retries == 0)
            #expect(done?.startedAt != nil)
            #expect(done?.completedAt != nil)
            let list = try await fixture.broker().list(limit: 10)
            #expect(list.map(\.taskID) == [handle.taskID])
        }
    }

    @Test("messages are honoured on workers")
    func messagesAreHonouredOnWorkers() async throws {
        try await withDistributedFixture { fixture in
            let (_, agent) = try load(try calculator())
            try fixture.startWorker()
            let handle = try await distributed(agent, "hello", messages: [.user("earlier"), .assistant("reply")],
                                               redisURL: fixture.redisURL, queue: fixture.queue)
            let result = try await handle.result(timeout: .seconds(10))
            #expect(result["output"] == "history has 3 messages")
        }
    }

    @Test("the bundle travels and the worker needs no files")
    func theBundleTravelsAndTheWorkerNeedsNoFiles() async throws {
        try await withDistributedFixture { fixture in
            let path = try calculator()
            let (runtime, agent) = try load(path)
            #expect(runtime.bundle.modules.count == 2)
            try FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent)
            try fixture.startWorker()
            let handle = try await distributed(agent, "20 + 22", redisURL: fixture.redisURL, queue: fixture.queue)
            let result = try await handle.result(timeout: .seconds(10))
            #expect(result["output"] == "The answer is 42.")
        }
    }

    @Test("several workers run each task exactly once")
    func severalWorkersRunEachTaskExactlyOnce() async throws {
        try await withDistributedFixture { fixture in
            let (_, agent) = try load(try calculator(toolSleep: 0.02))
            for i in 0..<3 { try fixture.startWorker(concurrency: 4, id: "share-\(i)") }
            let broker = try fixture.broker()
            var handles: [TaskHandle] = []
            for i in 0..<40 { handles.append(try await distributed(agent, "\(i) + 1", broker: broker)) }
            var workersUsed = Set<String>()
            for (i, handle) in handles.enumerated() {
                let result = try await handle.result(timeout: .seconds(30))
                #expect(result["output"]?.stringValue == "The answer is \(i + 1).")
                let status = try await handle.status()
                #expect(status?.attempts == 1)
                workersUsed.insert(status?.workerID ?? "")
                let events = try await EventSubscriber(broker: broker).replay(handle.taskID)
                #expect(events.filter(\.event.isTerminal).count == 1)
            }
            #expect(workersUsed.count > 1, "tasks should spread over workers")
        }
    }

    @Test("a failing run is reported with the seed's message")
    func aFailingRunIsReportedWithTheSeedsMessage() async throws {
        try await withDistributedFixture { fixture in
            let agent = try failingAgent("model exploded")
            try fixture.startWorker()
            let handle = try await distributed(agent, "hi", redisURL: fixture.redisURL, detailed: true, queue: fixture.queue)
            do {
                _ = try await handle.result(timeout: .seconds(10))
                Issue.record("expected a failure")
            } catch let error as DistributedError {
                #expect(error.description.hasPrefix("Task \(handle.taskID) failed: "), "\(error.description)")
                #expect(error.description.contains("model exploded"), "\(error.description)")
            }
            let events = try await collectOrThrow(handle.stream())
            #expect(events.suffix(2).map(\.type) == ["error", "status"])
            #expect(events.filter { $0.type == "error" }.count == 1)
            #expect(try await handle.status()?.status == .failed)
        }
    }

    @Test("result comes from the terminal entry when small and from the hash otherwise")
    func resultComesFromTheTerminalEntryWhenSmallAndFromTheHashOtherwise() async throws {
        try await withDistributedFixture { fixture in
            let (_, agent) = try load(try temporaryScript("""
                local orbiter = require "orbiter"
                local m = orbiter.model { name = "m", respond = function(request)
                  local text = request.messages[#request.messages].content
                  if text == "big" then return string.rep("x", 20000) end
                  return "echo " .. text
                end }
                return orbiter.agent { name = "a", model = m }
                """))
            try fixture.startWorker()
            let broker = try fixture.broker()
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
            #expect(fromEntry["output"] == "echo hi")
            let fromHash = try await other.result(timeout: .seconds(10))
            #expect(fromHash["output"] == "from the hash")
            let bigResult = try await big.result(timeout: .seconds(10))
            #expect(bigResult["output"] == "from the hash", "results over 16 KiB stay only in the hash")
            let entries = try await broker.client.send(["XRANGE", broker.keys.events(big.taskID), "-", "+"])
            let terminal = try #require(StreamReplies.entries(entries).last)
            #expect(terminal.fields["outcome"] == "completed")
            #expect(terminal.fields["result"] == nil)
        }
    }

    @Test("a corrupt result in the terminal entry falls back to the task hash")
    func aCorruptResultInTheTerminalEntryFallsBackToTheTaskHash() async throws {
        try await withDistributedFixture { fixture in
            let (_, agent) = try load(try calculator())
            try fixture.startWorker()
            let broker = try fixture.broker()
            let done = try await distributed(agent, "2 + 2", broker: broker)
            _ = try await done.result(timeout: .seconds(10))
            // Rewrite the stream: a terminal entry whose copied result is not JSON.
            let key = broker.keys.events(done.taskID)
            _ = try await broker.client.send(["DEL", key])
            _ = try await broker.client.send(["XADD", key, "*", "event", #"{"type":"status","status":"completed","agent_name":"calculator","message":""}"#,
                                              "outcome", "completed", "error", "", "result", "{not json"])
            let fresh = TaskHandle(taskID: done.taskID, broker: broker, isFresh: true)
            let result = try await fresh.result(timeout: .seconds(10))
            #expect(result["output"] == "The answer is 4.")
        }
    }

    @Test("an idempotent resubmit of a finished task with expired events answers at once")
    func anIdempotentResubmitOfAFinishedTaskWithExpiredEventsAnswersAtOnce() async throws {
        try await withDistributedFixture { fixture in
            let (_, agent) = try load(try calculator())
            try fixture.startWorker()
            let broker = try fixture.broker()
            let first = try await distributed(agent, "2 + 2", broker: broker, idempotencyKey: "once")
            _ = try await first.result(timeout: .seconds(10))
            _ = try await broker.client.send(["DEL", broker.keys.events(first.taskID)])
            let again = try await distributed(agent, "2 + 2", broker: broker, idempotencyKey: "once")
            #expect(again.taskID == first.taskID)
            let started = ContinuousClock.now
            let result = try await again.result(timeout: .seconds(10))
            #expect(result["output"] == "The answer is 4.")
            #expect(ContinuousClock.now - started < .seconds(2), "an existing task's state is read first, not waited for")
        }
    }
}


@Suite("Distributed swarms", .serialized)
struct DistributedSwarmTests {
    @Test("a swarm runs on a worker with the same events as locally")
    func aSwarmRunsOnAWorkerWithTheSameEventsAsLocally() async throws {
        try await withDistributedFixture { fixture in
            let (_, swarm) = try load(try temporaryScript("""
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
            try fixture.startWorker()
            let handle = try await distributed(swarm, "x", redisURL: fixture.redisURL, detailed: true, queue: fixture.queue)
            let events = try await collectOrThrow(handle.stream())
            let result = try await handle.result(timeout: .seconds(10))
            #expect(result["output"] == "B:A:x\n\nC:A:x")
            #expect(result["steps"] == 3)
            #expect(events.filter(\.isTerminal).count == 1)
            #expect(events.last == .status(StatusEvent(status: .completed, agentName: "pipeline")))
            #expect(Set(events.compactMap { if case .text(let t) = $0 { return t.agentName } else { return nil } }) == ["a", "b", "c"])
        }
    }
}

/// Tasks of one script share one Lua state by default (globals persist); `isolateTasks` gives
/// each task a fresh one.
@Suite("Shared Lua state", .serialized)
struct SharedStateTests {
    @Test("tasks share a Lua state per script unless isolated")
    func tasksShareAStatePerScriptUnlessIsolated() async throws {
        try await withDistributedFixture { fixture in
            let (_, agent) = try load(try temporaryScript("""
                local orbiter = require "orbiter"
                calls = calls or 0
                local m = orbiter.model { name = "m", respond = function() calls = calls + 1 return tostring(calls) end }
                return orbiter.agent { name = "counter", model = m }
                """))
            let shared = try fixture.startWorker(concurrency: 1)
            var outputs: [String] = []
            for _ in 0..<2 {
                let h = try await distributed(agent, "x", redisURL: fixture.redisURL, queue: fixture.queue)
                outputs.append(try await h.result(timeout: .seconds(10))["output"]?.stringValue ?? "")
            }
            #expect(outputs == ["1", "2"])
            await fixture.stop(shared)
            var configuration = WorkerConfiguration(redisURL: fixture.redisURL, queue: fixture.queue, concurrency: 1)
            configuration.isolateTasks = true
            try fixture.start(configuration)
            var fresh: [String] = []
            for _ in 0..<2 {
                let h = try await distributed(agent, "x", redisURL: fixture.redisURL, queue: fixture.queue)
                fresh.append(try await h.result(timeout: .seconds(10))["output"]?.stringValue ?? "")
            }
            #expect(fresh == ["1", "1"])
        }
    }
}
