import Foundation
import Logging
import OrbiterCore
@testable import OrbiterClient
@testable import OrbiterQueue
@testable import OrbiterWorker
import OrbiterLua
import OrbiterRedis
import OrbiterTestSupport
import Synchronization
import XCTest

/// Collects a worker's log lines.
final class LogLines: Sendable {
    private let lines = Mutex<[String]>([])
    var all: [String] { lines.withLock { $0 } }
    var logger: Logger {
        var logger = Logger(label: "test") { _ in Handler(sink: self) }
        logger.logLevel = .info
        return logger
    }
    private struct Handler: LogHandler {
        let sink: LogLines
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .info
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata?, source: String,
                 file: String, function: String, line: UInt) {
            sink.lines.withLock { $0.append("\(level): \(message)") }
        }
    }
}

/// Every way the queue could lose a task or run it twice, tried against the real Redis.
final class LossPathTests: DistributedTestCase {
    /// Claims the next queue entry as `consumer` (a worker that then vanishes) and starts it.
    func startAsGhost(_ broker: TaskBroker, consumer: String = "ghost", count: Int = 1) async throws -> [(entry: String, lease: String)] {
        _ = try? await broker.client.send(["XGROUP", "CREATE", broker.keys.stream, QueueKeys.group, "0", "MKSTREAM"])
        let claimed = try await broker.client.send(["XREADGROUP", "GROUP", QueueKeys.group, consumer, "COUNT", count, "STREAMS", broker.keys.stream, ">"])
        let entries = StreamReplies.firstStream(claimed)
        XCTAssertEqual(entries.count, count)
        let outcomes = try await broker.start(entries.map { ClaimedEntry(entryID: $0.id, taskID: $0.fields["task"] ?? "") }, workerID: consumer)
        return zip(entries, outcomes).map { entry, outcome in
            guard case .run(_, _, _, _, let lease) = outcome else { return (entry.id, "") }
            return (entry.id, lease)
        }
    }

    func testAFullQueueRefusesSubmitsAndKeepsEveryQueuedTask() async throws {
        let full = try TaskBroker(redisURL: redisURL, queue: queue, settings: QueueSettings(maxPending: 3))
        let agent = try sleeper(0)
        var handles: [TaskHandle] = []
        for _ in 0..<3 { handles.append(try await distributed(agent, "x", broker: full)) }
        do {
            _ = try await distributed(agent, "x", broker: full)
            XCTFail("a fourth task does not fit")
        } catch let error as DistributedError {
            guard case .queueFull = error else { return XCTFail("\(error)") }
            XCTAssertEqual("\(error)", "queue '\(queue)' is full: 3 tasks waiting or running (max pending 3); try again later")
        }
        let held = try await full.client.send(["XLEN", full.keys.stream]).int
        XCTAssertEqual(held, 3, "nothing trimmed, nothing added")
        let stored = try await full.list(limit: 10).count
        XCTAssertEqual(stored, 3, "the refused submit stored nothing")
        // The CLI says so too, with exit status 1.
        let cli = try await OrbiterBinary.run(["submit", "examples/calculator.lua", "1 + 1", "--queue", queue, "--max-pending", "3"],
                                              environment: ["ORBITER_REDIS_URL": redisURL])
        XCTAssertEqual(cli.status, 1, cli.stderr)
        XCTAssertTrue(cli.stderr.contains("is full: 3 tasks waiting or running"), cli.stderr)
        try startWorker()
        for handle in handles {
            let output = try await handle.result(timeout: .seconds(10))["output"]
            XCTAssertEqual(output, "woke up")
        }
        let room = try await distributed(agent, "x", broker: full).result(timeout: .seconds(10))["output"]
        XCTAssertEqual(room, "woke up", "a drained queue takes tasks again")
    }

    func testReclaimWalksPastManyLiveLeasesToADeadWorkersTask() async throws {
        let broker = try broker()
        let agent = try sleeper(0)
        // 40 tasks held by a live worker that keeps renewing: more than 10 × COUNT (COUNT is 1 for
        // a one-slot worker), which is all one XAUTOCLAIM call looks at.
        var live: [TaskHandle] = []
        for _ in 0..<40 { live.append(try await distributed(agent, "live", broker: broker)) }
        let held = try await startAsGhost(broker, consumer: "live", count: 40)
        let lost = try await distributed(agent, "lost", broker: broker)
        _ = try await startAsGhost(broker, consumer: "ghost")
        let renewer = Task { [stream = broker.keys.stream, client = broker.client] in
            while !Task.isCancelled {
                _ = try? await client.send(["XCLAIM", stream, QueueKeys.group, "live", 0] + held.map { $0.entry as any RedisArgument } + ["JUSTID"])
                try? await Task.sleep(for: .milliseconds(200))
            }
        }
        defer { renewer.cancel() }
        let rescuer = try Worker(configuration: WorkerConfiguration(redisURL: redisURL, queue: queue, concurrency: 1, workerID: "rescuer",
                                                                    leaseSeconds: 1))
        workers.append((rescuer, Task { try await rescuer.run() }))
        let output = try await lost.result(timeout: .seconds(20))["output"]
        XCTAssertEqual(output, "woke up")
        let status = try await lost.status()
        XCTAssertEqual(status?.workerID, "rescuer")
        XCTAssertEqual(status?.attempts, 2)
        for handle in live {
            let state = try await handle.status()
            XCTAssertEqual(state?.status, .running)
            XCTAssertEqual(state?.workerID, "live", "a live lease is never taken over")
        }
    }

    func testARunThatLostItsLeaseCanNoLongerWrite() async throws {
        let broker = try broker()
        let handle = try await distributed(try sleeper(0), "x", broker: broker)
        let id = handle.taskID
        let first = try await startAsGhost(broker, consumer: "w1")[0]
        // w1 stalls past its lease; the task is taken over — by w1 itself after a restart, so the
        // worker id alone cannot tell the two runs apart.
        let event = #"{"type":"status","status":"retrying","agent_name":"sleeper","message":"taken over"}"#
        let reclaimed = try await broker.client.run(QueueScripts.reclaim, keys: [broker.keys.task(id), broker.keys.stream, broker.keys.events(id), broker.keys.dead],
                                                    args: [QueueKeys.group, first.entry, String(TaskBroker.nowMs()), 3, event, event, 60, 60, id, event])
        XCTAssertEqual(reclaimed.string, "run")
        let again = try await broker.start([ClaimedEntry(entryID: first.entry, taskID: id)], workerID: "w1")
        guard case .run(_, 2, _, _, let current)? = again.first else { return XCTFail("not restarted: \(again)") }
        XCTAssertNotEqual(current, first.lease)

        func checkpoint(_ lease: String, _ text: String) async throws -> Int64? {
            try await broker.client.run(QueueScripts.checkpoint, keys: [broker.keys.task(id)], args: [lease, text]).int
        }
        func append(_ lease: String, _ seq: Int, _ text: String) async throws -> Int64? {
            let json = StreamEvent.text(TextEvent(text: text, agentName: "sleeper")).jsonString
            return try await broker.client.run(QueueScripts.append, keys: [broker.keys.task(id), broker.keys.events(id)],
                                               args: [lease, seq, 1000, 60, json]).int
        }
        let staleCheckpoint = try await checkpoint(first.lease, #"{"stale":true}"#)
        XCTAssertEqual(staleCheckpoint, 0)
        let newCheckpoint = try await checkpoint(current, #"{"steps":1}"#)
        XCTAssertEqual(newCheckpoint, 1)
        let stored = try await broker.client.send(["HGET", broker.keys.task(id), "checkpoint"]).string
        XCTAssertEqual(stored, #"{"steps":1}"#)

        let staleEvent = try await append(first.lease, 1, "stale")
        XCTAssertEqual(staleEvent, 0)
        let appended = try await [append(current, 1, "one"), append(current, 1, "one"), append(current, 2, "two")]
        XCTAssertEqual(appended, [1, 2, 1], "a resent number is stored once")
        let texts = try await EventSubscriber(broker: broker).replay(id).compactMap { stored -> String? in
            if case .text(let t) = stored.event { return t.text } else { return nil }
        }
        XCTAssertEqual(texts, ["one", "two"])

        let renew = try await broker.client.run(QueueScripts.renew, keys: [broker.keys.stream, broker.keys.task(id)],
                                                args: [QueueKeys.group, "w1", first.entry, first.lease])
        XCTAssertEqual(renew.array?.compactMap(\.int), [1], "renew reports the lost lease")
        let retried = try await broker.client.run(QueueScripts.retry, keys: [broker.keys.task(id), broker.keys.stream, broker.keys.events(id), broker.keys.delayed],
                                                  args: [QueueKeys.group, "w1", "1", "boom", event, id, first.lease])
        XCTAssertEqual(retried.int, 0)
        func finish(_ lease: String) async throws -> Int64? {
            try await broker.client.run(QueueScripts.finish, keys: [broker.keys.task(id), broker.keys.stream, broker.keys.events(id), broker.keys.dead,
                                                                   broker.keys.counter("completed", minute: 0)],
                                        args: [QueueKeys.group, "w1", "completed", #"{"output":"ok"}"#, "",
                                               #"{"type":"status","status":"completed","agent_name":"sleeper","message":""}"#,
                                               String(TaskBroker.nowMs()), 60, 60, id, "1", lease]).int
        }
        let staleFinish = try await finish(first.lease)
        XCTAssertEqual(staleFinish, 0)
        let finished = try await finish(current)
        XCTAssertEqual(finished, 1)
        let output = try await handle.result(timeout: .seconds(5))["output"]
        XCTAssertEqual(output, "ok")
    }

    func testATaskCancelledWhileItsWorkerWasDeadEndsCancelledWithoutRunningAgain() async throws {
        let broker = try broker()
        let handle = try await distributed(try sleeper(0), "x", broker: broker, detailed: true)
        _ = try await startAsGhost(broker)
        let asked = try await handle.cancel()
        XCTAssertEqual(asked, .cancelling, "the task is running (on a worker that is gone)")
        let rescuer = try Worker(configuration: WorkerConfiguration(redisURL: redisURL, queue: queue, workerID: "rescuer", leaseSeconds: 1))
        workers.append((rescuer, Task { try await rescuer.run() }))
        do {
            _ = try await handle.result(timeout: .seconds(10))
            XCTFail("the task was cancelled")
        } catch let error as DistributedError {
            XCTAssertEqual(error, .taskCancelled(handle.taskID))
        }
        let status = try await handle.status()
        XCTAssertEqual(status?.status, .cancelled)
        XCTAssertEqual(status?.attempts, 1, "not started again")
        XCTAssertEqual(status?.workerID, "ghost")
        XCTAssertTrue(status?.error?.contains("cancelled while its worker ghost was lost") == true, "\(String(describing: status?.error))")
        let events = try await collect(handle.stream())
        XCTAssertEqual(events.filter(\.isTerminal).count, 1)
        XCTAssertFalse(events.contains { if case .status(let s) = $0 { return s.status == .retrying } else { return false } })
        let queued = try await broker.client.send(["XLEN", broker.keys.stream]).int
        XCTAssertEqual(queued, 0)
        let dead = try await broker.deadLetters()
        XCTAssertTrue(dead.isEmpty)
    }

    func testASubmitWhoseReplyIsLostIsSentAgainAndMakesOneTask() async throws {
        let proxy = try ReplyDroppingProxy(redisURL: redisURL)
        defer { proxy.close() }
        let direct = try broker()
        // Loaded, so the first send is the one that runs (not a NOSCRIPT answer).
        _ = try await direct.client.send(["SCRIPT", "LOAD", QueueScripts.submit.source])
        let viaProxy = try TaskBroker(redisURL: proxy.url, queue: queue)
        let (_, agent) = try load(try calculator())
        proxy.arm("lost-reply-submit")
        let handle = try await distributed(agent, "lost-reply-submit: 1 + 1", broker: viaProxy)
        XCTAssertEqual(proxy.dropped, 1, "the first reply was lost")
        let ids = try await direct.client.send(["ZRANGE", direct.keys.index, 0, -1]).array?.compactMap(\.string)
        XCTAssertEqual(ids, [handle.taskID], "exactly one task")
        let queued = try await direct.client.send(["XLEN", direct.keys.stream]).int
        XCTAssertEqual(queued, 1)
        try startWorker()
        let output = try await handle.result(timeout: .seconds(10))["output"]
        XCTAssertEqual(output, "The answer is 2.")
    }

    func testAnEventAppendWhoseReplyIsLostIsStoredOnce() async throws {
        let proxy = try ReplyDroppingProxy(redisURL: redisURL)
        defer { proxy.close() }
        let direct = try broker()
        _ = try await direct.client.send(["SCRIPT", "LOAD", QueueScripts.append.source])
        let (_, agent) = try load(try script("""
            local orbiter = require "orbiter"
            local m = orbiter.model { name = "m", respond = function() return "lost-reply-" .. "event" end }
            return orbiter.agent { name = "echo", model = m }
            """))
        let worker = try Worker(configuration: WorkerConfiguration(redisURL: proxy.url, queue: queue, workerID: "behind-proxy"))
        workers.append((worker, Task { try await worker.run() }))
        proxy.arm("lost-reply-event")
        let handle = try await distributed(agent, "hi", broker: direct)
        let output = try await handle.result(timeout: .seconds(15))["output"]
        XCTAssertEqual(output, "lost-reply-event")
        XCTAssertEqual(proxy.dropped, 1, "the append's reply was lost")
        let texts = try await collect(handle.stream()).filter { if case .text(let t) = $0 { return t.text == "lost-reply-event" } else { return false } }
        XCTAssertEqual(texts.count, 1, "the resent append was not stored twice")
    }

    func testStopWithEverySlotBusyDrainsWithinTheDrainTimeout() async throws {
        let worker = try startWorker(concurrency: 2, drain: .milliseconds(500))
        let agent = try sleeper(30)
        let a = try await distributed(agent, "a", redisURL: redisURL, queue: queue)
        let b = try await distributed(agent, "b", redisURL: redisURL, queue: queue)
        try await eventually("both slots busy") {
            let sa = try await a.status()?.status, sb = try await b.status()?.status
            return sa == .running && sb == .running
        }
        try await Task.sleep(for: .milliseconds(300)) // the claim loop now waits for a free slot
        let asked = ContinuousClock.now
        worker.stop()
        _ = await workers[0].1.result
        XCTAssertLessThan(ContinuousClock.now - asked, .seconds(3), "drained (handed back) within the drain timeout, not after a task ended")
        for handle in [a, b] {
            let status = try await handle.status()
            XCTAssertEqual(status?.status, .pending, "back on the queue for another worker")
        }
        let queue = try broker()
        let queued = try await queue.client.send(["XLEN", queue.keys.stream]).int
        XCTAssertEqual(queued, 2)
    }

    func testAWorkerWarnsAtStartWhenRedisHasNoAppendOnlyFile() async throws {
        let broker = try broker()
        let setting = try await broker.client.send(["CONFIG", "GET", "appendonly"]).array?.last?.string
        XCTAssertEqual(setting, "no", "scripts/test.sh runs Redis without AOF")
        func startLogged() async throws -> [String] {
            let lines = LogLines()
            let worker = try Worker(configuration: WorkerConfiguration(redisURL: redisURL, queue: queue, logger: lines.logger))
            let task = Task { try await worker.run() }
            try await eventually("the start line") { lines.all.contains { $0.contains("started: redis") } }
            worker.stop()
            _ = await task.result
            return lines.all
        }
        let without = try await startLogged()
        XCTAssertTrue(without.contains { $0.hasPrefix("warning:") && $0.contains("Redis has appendonly no") }, "\(without)")
        XCTAssertFalse(without.contains { $0.contains("warning: warning") }, "the level is said once: \(without)")
        _ = try await broker.client.send(["CONFIG", "SET", "appendonly", "yes"])
        let with: [String]
        do {
            with = try await startLogged()
        } catch {
            _ = try? await broker.client.send(["CONFIG", "SET", "appendonly", "no"])
            throw error
        }
        _ = try await broker.client.send(["CONFIG", "SET", "appendonly", "no"])
        XCTAssertFalse(with.contains { $0.contains("appendonly") }, "\(with)")
    }

    // MARK: Worker processes, stopped and killed

    func testAStalledOwnerResumedAfterATakeoverWritesNothing() async throws {
        let broker = try broker()
        let env = ["ORBITER_REDIS_URL": redisURL]
        // The owner renews only every 10 s (lease 30 s), so after it wakes its late tool result
        // reaches Redis before its next renewal: the append itself must be refused. The rescuer
        // takes over entries idle for 1 s.
        let owner = try OrbiterBinary.start(["start", "worker", "--queue", queue, "--worker-id", "owner", "--lease", "30"], environment: env)
        defer { owner.signal(SIGKILL) }
        try await owner.waitFor { _, err in err.contains("worker owner started") }
        let handle = try await distributed(try sleeper(2), "x", broker: broker, detailed: true)
        try await eventually("the owner runs the task") {
            let s = try await handle.status()
            return s?.status == .running && s?.workerID == "owner"
        }
        try await Task.sleep(for: .milliseconds(300)) // inside the 2 s tool call
        owner.signal(SIGSTOP) // alive but frozen past its lease
        let rescuer = try Worker(configuration: WorkerConfiguration(redisURL: redisURL, queue: queue, workerID: "rescuer", leaseSeconds: 1))
        workers.append((rescuer, Task { try await rescuer.run() }))
        try await eventually("the rescuer runs the task") {
            let s = try await handle.status()
            return s?.status == .running && s?.workerID == "rescuer"
        }
        // The old owner wakes up while the new one is mid-run: its tool call ends and its result
        // event goes out under the old lease token.
        owner.signal(SIGCONT)
        try await owner.waitFor(timeout: .seconds(15)) { _, err in
            err.contains("task \(handle.taskID): event refused: the lease is lost")
        }
        let output = try await handle.result(timeout: .seconds(20))["output"]
        XCTAssertEqual(output, "woke up")
        let status = try await handle.status()
        XCTAssertEqual(status?.status, .completed)
        XCTAssertEqual(status?.workerID, "rescuer")
        XCTAssertEqual(status?.attempts, 2)
        let events = try await EventSubscriber(broker: broker).replay(handle.taskID).map(\.event)
        let toolResults = events.filter { if case .toolResult = $0 { return true } else { return false } }
        XCTAssertEqual(toolResults.count, 1, "only the new owner's tool result; the old owner's late one was refused")
        XCTAssertEqual(events.filter(\.isTerminal).count, 1)
        XCTAssertEqual(events.filter { if case .text = $0 { return true } else { return false } }.count, 1)
        owner.signal(SIGTERM)
        let end = try await owner.finish(timeout: .seconds(15))
        XCTAssertFalse(end.stderr.contains("task \(handle.taskID) completed"), end.stderr)
    }

    func testATaskThatKillsEveryWorkerIsDeadLetteredAfterItsAttempts() async throws {
        let broker = try broker()
        let env = ["ORBITER_REDIS_URL": redisURL]
        // It "crashes" each worker that runs it (kill -9 mid-task); 1 + 1 retry = 2 attempts.
        let handle = try await distributed(try sleeper(30), "x", broker: broker, maxRetries: 1)
        for attempt in 1...2 {
            let victim = try OrbiterBinary.start(["start", "worker", "--queue", queue, "--worker-id", "crash-\(attempt)", "--lease", "1"],
                                                 environment: env)
            try await eventually("attempt \(attempt) runs", timeout: .seconds(20)) {
                let s = try await handle.status()
                return s?.status == .running && s?.workerID == "crash-\(attempt)" && s?.attempts == attempt
            }
            victim.signal(SIGKILL)
            _ = try await victim.finish(timeout: .seconds(10))
        }
        let survivor = try OrbiterBinary.start(["start", "worker", "--queue", queue, "--worker-id", "survivor", "--lease", "1"],
                                               environment: env)
        defer { survivor.signal(SIGKILL) }
        try await eventually("dead-lettered", timeout: .seconds(20)) { try await handle.status()?.status == .failed }
        let status = try await handle.status()
        XCTAssertEqual(status?.attempts, 2, "never started a third time")
        XCTAssertEqual(status?.workerID, "crash-2")
        XCTAssertTrue(status?.error?.contains("used all 2 attempts") == true, "\(String(describing: status?.error))")
        let dead = try await broker.deadLetters()
        XCTAssertEqual(dead.first?.taskID, handle.taskID)
        XCTAssertEqual(dead.first?.attempts, 2)
        survivor.signal(SIGTERM)
        let end = try await survivor.finish(timeout: .seconds(15))
        XCTAssertTrue(end.stderr.contains("no attempts left"), end.stderr)
    }
}
