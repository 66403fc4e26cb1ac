import Foundation
import OrbiterCore
@testable import OrbiterClient
@testable import OrbiterQueue
@testable import OrbiterWorker
import OrbiterLua
import OrbiterRedis
import OrbiterTestSupport
import Testing

/// Every way the queue could lose a task or run it twice, tried against the real Redis.
@Suite("Loss paths", .serialized)
struct LossPathTests {
    @Test("a full queue refuses submits and keeps every queued task")
    func aFullQueueRefusesSubmitsAndKeepsEveryQueuedTask() async throws {
        try await withDistributedFixture { fixture in
            let full = try TaskBroker(redisURL: fixture.redisURL, queue: fixture.queue, settings: QueueSettings(maxPending: 3))
            let agent = try sleeper(0)
            var handles: [TaskHandle] = []
            for _ in 0..<3 { handles.append(try await distributed(agent, "x", broker: full)) }
            do {
                _ = try await distributed(agent, "x", broker: full)
                Issue.record("a fourth task does not fit")
            } catch let error as DistributedError {
                guard case .queueFull = error else { Issue.record("\(error)"); return }
                #expect("\(error)" == "queue '\(fixture.queue)' is full: 3 tasks waiting or running (max pending 3); try again later")
            }
            let held = try await full.client.send(["XLEN", full.keys.stream]).int
            #expect(held == 3, "nothing trimmed, nothing added")
            let stored = try await full.list(limit: 10).count
            #expect(stored == 3, "the refused submit stored nothing")
            // The CLI says so too, with exit status 1.
            let cli = try await OrbiterBinary.run(["submit", "examples/calculator.lua", "1 + 1", "--queue", fixture.queue, "--max-pending", "3"],
                                                  environment: ["ORBITER_REDIS_URL": fixture.redisURL])
            #expect(cli.status == 1, "\(cli.stderr)")
            #expect(cli.stderr.contains("is full: 3 tasks waiting or running"), "\(cli.stderr)")
            try fixture.startWorker()
            for handle in handles {
                let output = try await handle.result(timeout: .seconds(10))["output"]
                #expect(output == "woke up")
            }
            let room = try await distributed(agent, "x", broker: full).result(timeout: .seconds(10))["output"]
            #expect(room == "woke up", "a drained queue takes tasks again")
        }
    }

    @Test("reclaim walks past many live leases to a dead worker's task")
    func reclaimWalksPastManyLiveLeasesToADeadWorkersTask() async throws {
        try await withDistributedFixture { fixture in
            let broker = try fixture.broker()
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
            try fixture.start(WorkerConfiguration(redisURL: fixture.redisURL, queue: fixture.queue, concurrency: 1, workerID: "rescuer",
                                                  leaseSeconds: 1))
            let output = try await lost.result(timeout: .seconds(20))["output"]
            #expect(output == "woke up")
            let status = try await lost.status()
            #expect(status?.workerID == "rescuer")
            #expect(status?.attempts == 2)
            for handle in live {
                let state = try await handle.status()
                #expect(state?.status == .running)
                #expect(state?.workerID == "live", "a live lease is never taken over")
            }
        }
    }

    @Test("a run that lost its lease can no longer write")
    func aRunThatLostItsLeaseCanNoLongerWrite() async throws {
        try await withDistributedFixture { fixture in
            let broker = try fixture.broker()
            let handle = try await distributed(try sleeper(0), "x", broker: broker)
            let id = handle.taskID
            let first = try await startAsGhost(broker, consumer: "w1")[0]
            // w1 stalls past its lease; the task is taken over — by w1 itself after a restart, so the
            // worker id alone cannot tell the two runs apart.
            let event = #"{"type":"status","status":"retrying","agent_name":"sleeper","message":"taken over"}"#
            let reclaimed = try await broker.client.run(QueueScripts.reclaim, keys: [broker.keys.task(id), broker.keys.stream, broker.keys.events(id), broker.keys.dead],
                                                        args: [QueueKeys.group, first.entry, String(TaskBroker.nowMs()), 3, event, event, 60, 60, id, event])
            #expect(reclaimed.string == "run")
            let again = try await broker.start([ClaimedEntry(entryID: first.entry, taskID: id)], workerID: "w1")
            guard case .run(_, 2, _, _, let current, _)? = again.first else { Issue.record("not restarted: \(again)"); return }
            #expect(current != first.lease)

            func checkpoint(_ lease: String, _ text: String) async throws -> Int64? {
                try await broker.client.run(QueueScripts.checkpoint, keys: [broker.keys.task(id)], args: [lease, text]).int
            }
            func append(_ lease: String, _ seq: Int, _ text: String) async throws -> Int64? {
                let json = StreamEvent.text(TextEvent(text: text, agentName: "sleeper")).jsonString
                return try await broker.client.run(QueueScripts.append, keys: [broker.keys.task(id), broker.keys.events(id)],
                                                   args: [1000, 60, lease, seq, 1, json]).array?.first?.int
            }
            let staleCheckpoint = try await checkpoint(first.lease, #"{"stale":true}"#)
            #expect(staleCheckpoint == 0)
            let newCheckpoint = try await checkpoint(current, #"{"steps":1}"#)
            #expect(newCheckpoint == 1)
            let stored = try await broker.client.send(["HGET", broker.keys.task(id), "checkpoint"]).string
            #expect(stored == #"{"steps":1}"#)

            let staleEvent = try await append(first.lease, 1, "stale")
            #expect(staleEvent == 0)
            let appended = try await [append(current, 1, "one"), append(current, 1, "one"), append(current, 2, "two")]
            #expect(appended == [1, 2, 1], "a resent number is stored once")
            let texts = try await EventSubscriber(broker: broker).replay(id).compactMap { stored -> String? in
                if case .text(let t) = stored.event { return t.text } else { return nil }
            }
            #expect(texts == ["one", "two"])

            let renew = try await broker.client.run(QueueScripts.renew, keys: [broker.keys.stream, broker.keys.task(id)],
                                                    args: [QueueKeys.group, "w1", first.entry, first.lease])
            #expect(renew.array?.compactMap(\.int) == [1], "renew reports the lost lease")
            let retried = try await broker.client.run(QueueScripts.retry, keys: [broker.keys.task(id), broker.keys.stream, broker.keys.events(id), broker.keys.delayed],
                                                      args: [QueueKeys.group, "w1", "1", "boom", event, id, first.lease])
            #expect(retried.int == 0)
            func finish(_ lease: String) async throws -> Int64? {
                try await broker.client.run(QueueScripts.finish, keys: [broker.keys.task(id), broker.keys.stream, broker.keys.events(id), broker.keys.dead,
                                                                       broker.keys.counter("completed", minute: 0),
                                                                       broker.keys.expiringTasks, broker.keys.expiringEvents],
                                            args: [QueueKeys.group, "w1", "completed", #"{"output":"ok"}"#, "",
                                                   #"{"type":"status","status":"completed","agent_name":"sleeper","message":""}"#,
                                                   String(TaskBroker.nowMs()), 60, 60, id, "1", lease, 1000, 1, 0]).int
            }
            let staleFinish = try await finish(first.lease)
            #expect(staleFinish == 0)
            let finished = try await finish(current)
            #expect(finished == 1)
            let output = try await handle.result(timeout: .seconds(5))["output"]
            #expect(output == "ok")
        }
    }

    @Test("a task cancelled while its worker was dead ends cancelled without running again")
    func aTaskCancelledWhileItsWorkerWasDeadEndsCancelledWithoutRunningAgain() async throws {
        try await withDistributedFixture { fixture in
            let broker = try fixture.broker()
            let handle = try await distributed(try sleeper(0), "x", broker: broker, detailed: true)
            _ = try await startAsGhost(broker)
            let asked = try await handle.cancel()
            #expect(asked == .cancelling, "the task is running (on a worker that is gone)")
            try fixture.start(WorkerConfiguration(redisURL: fixture.redisURL, queue: fixture.queue, workerID: "rescuer", leaseSeconds: 1))
            do {
                _ = try await handle.result(timeout: .seconds(10))
                Issue.record("the task was cancelled")
            } catch let error as DistributedError {
                #expect(error == .taskCancelled(handle.taskID))
            }
            let status = try await handle.status()
            #expect(status?.status == .cancelled)
            #expect(status?.attempts == 1, "not started again")
            #expect(status?.workerID == "ghost")
            #expect(status?.error?.contains("cancelled while its worker ghost was lost") == true, "\(String(describing: status?.error))")
            let events = try await collectOrThrow(handle.stream())
            #expect(events.filter(\.isTerminal).count == 1)
            #expect(!(events.contains { if case .status(let s) = $0 { return s.status == .retrying } else { return false } }))
            let queued = try await broker.client.send(["XLEN", broker.keys.stream]).int
            #expect(queued == 0)
            let dead = try await broker.deadLetters()
            #expect(dead.isEmpty)
        }
    }

    @Test("a submit whose reply is lost is sent again and makes one task")
    func aSubmitWhoseReplyIsLostIsSentAgainAndMakesOneTask() async throws {
        try await withDistributedFixture { fixture in
            let proxy = try ReplyDroppingProxy(redisURL: fixture.redisURL)
            defer { proxy.close() }
            let direct = try fixture.broker()
            // Loaded, so the first send is the one that runs (not a NOSCRIPT answer).
            _ = try await direct.client.send(["SCRIPT", "LOAD", QueueScripts.submit.source])
            let viaProxy = try TaskBroker(redisURL: proxy.url, queue: fixture.queue)
            let (_, agent) = try load(try calculator())
            proxy.arm("lost-reply-submit")
            let handle = try await distributed(agent, "lost-reply-submit: 1 + 1", broker: viaProxy)
            #expect(proxy.dropped == 1, "the first reply was lost")
            let ids = try await direct.client.send(["ZRANGE", direct.keys.index, 0, -1]).array?.compactMap(\.string)
            #expect(ids == [handle.taskID], "exactly one task")
            let queued = try await direct.client.send(["XLEN", direct.keys.stream]).int
            #expect(queued == 1)
            try fixture.startWorker()
            let output = try await handle.result(timeout: .seconds(10))["output"]
            #expect(output == "The answer is 2.")
        }
    }

    @Test("an event append whose reply is lost is stored once")
    func anEventAppendWhoseReplyIsLostIsStoredOnce() async throws {
        try await withDistributedFixture { fixture in
            let proxy = try ReplyDroppingProxy(redisURL: fixture.redisURL)
            defer { proxy.close() }
            let direct = try fixture.broker()
            _ = try await direct.client.send(["SCRIPT", "LOAD", QueueScripts.append.source])
            let (_, agent) = try load(try temporaryScript("""
                local orbiter = require "orbiter"
                local m = orbiter.model { name = "m", respond = function() return "lost-reply-" .. "event" end }
                return orbiter.agent { name = "echo", model = m }
                """))
            try fixture.start(WorkerConfiguration(redisURL: proxy.url, queue: fixture.queue, workerID: "behind-proxy"))
            proxy.arm("lost-reply-event")
            let handle = try await distributed(agent, "hi", broker: direct)
            let output = try await handle.result(timeout: .seconds(15))["output"]
            #expect(output == "lost-reply-event")
            #expect(proxy.dropped == 1, "the append's reply was lost")
            let texts = try await collectOrThrow(handle.stream()).filter { if case .text(let t) = $0 { return t.text == "lost-reply-event" } else { return false } }
            #expect(texts.count == 1, "the resent append was not stored twice")
        }
    }

    @Test("stop with every slot busy drains within the drain timeout")
    func stopWithEverySlotBusyDrainsWithinTheDrainTimeout() async throws {
        try await withDistributedFixture { fixture in
            let worker = try fixture.startWorker(concurrency: 2, drain: .milliseconds(500))
            let agent = try sleeper(30)
            let a = try await distributed(agent, "a", redisURL: fixture.redisURL, queue: fixture.queue)
            let b = try await distributed(agent, "b", redisURL: fixture.redisURL, queue: fixture.queue)
            try await eventually("both slots busy") {
                let sa = try await a.status()?.status, sb = try await b.status()?.status
                return sa == .running && sb == .running
            }
            try await Task.sleep(for: .milliseconds(300)) // the claim loop now waits for a free slot
            let asked = ContinuousClock.now
            await fixture.stop(worker)
            #expect(ContinuousClock.now - asked < .seconds(3), "drained (handed back) within the drain timeout, not after a task ended")
            for handle in [a, b] {
                let status = try await handle.status()
                #expect(status?.status == .pending, "back on the queue for another worker")
            }
            let broker = try fixture.broker()
            let queued = try await broker.client.send(["XLEN", broker.keys.stream]).int
            #expect(queued == 2)
        }
    }

    @Test("a worker warns at start when Redis has no append-only file")
    func aWorkerWarnsAtStartWhenRedisHasNoAppendOnlyFile() async throws {
        try await withDistributedFixture { fixture in
            let broker = try fixture.broker()
            let setting = try await broker.client.send(["CONFIG", "GET", "appendonly"]).array?.last?.string
            #expect(setting == "no", "scripts/test.sh runs Redis without AOF")
            func startLogged() async throws -> [String] {
                let lines = LogLines()
                let worker = try fixture.start(WorkerConfiguration(redisURL: fixture.redisURL, queue: fixture.queue, logger: lines.logger()))
                try await eventually("the start line") { lines.all.contains { $0.contains("started: redis") } }
                await fixture.stop(worker)
                return lines.all
            }
            let without = try await startLogged()
            #expect(without.contains { $0.hasPrefix("warning:") && $0.contains("Redis has appendonly no") }, "\(without)")
            #expect(!(without.contains { $0.contains("warning: warning") }), "the level is said once: \(without)")
            _ = try await broker.client.send(["CONFIG", "SET", "appendonly", "yes"])
            let with: [String]
            do {
                with = try await startLogged()
            } catch {
                _ = try? await broker.client.send(["CONFIG", "SET", "appendonly", "no"])
                throw error
            }
            _ = try await broker.client.send(["CONFIG", "SET", "appendonly", "no"])
            #expect(!(with.contains { $0.contains("appendonly") }), "\(with)")
        }
    }

    // MARK: Worker processes, stopped and killed

    @Test("a stalled owner resumed after a takeover writes nothing")
    func aStalledOwnerResumedAfterATakeoverWritesNothing() async throws {
        try await withDistributedFixture { fixture in
            let broker = try fixture.broker()
            let env = ["ORBITER_REDIS_URL": fixture.redisURL]
            // The owner renews only every 10 s (lease 30 s), so after it wakes its late tool result
            // reaches Redis before its next renewal: the append itself must be refused. The rescuer
            // takes over entries idle for 1 s.
            let owner = try OrbiterBinary.start(["start", "worker", "--queue", fixture.queue, "--worker-id", "owner", "--lease", "30"], environment: env)
            defer { owner.signal(SIGKILL) }
            try await owner.waitFor { _, err in err.contains("worker owner started") }
            let handle = try await distributed(try sleeper(2), "x", broker: broker, detailed: true)
            try await eventually("the owner runs the task") {
                let s = try await handle.status()
                return s?.status == .running && s?.workerID == "owner"
            }
            try await Task.sleep(for: .milliseconds(300)) // inside the 2 s tool call
            owner.signal(SIGSTOP) // alive but frozen past its lease
            try fixture.start(WorkerConfiguration(redisURL: fixture.redisURL, queue: fixture.queue, workerID: "rescuer", leaseSeconds: 1))
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
            #expect(output == "woke up")
            let status = try await handle.status()
            #expect(status?.status == .completed)
            #expect(status?.workerID == "rescuer")
            #expect(status?.attempts == 2)
            let events = try await EventSubscriber(broker: broker).replay(handle.taskID).map(\.event)
            let toolResults = events.filter { if case .toolResult = $0 { return true } else { return false } }
            #expect(toolResults.count == 1, "only the new owner's tool result; the old owner's late one was refused")
            #expect(events.filter(\.isTerminal).count == 1)
            #expect(events.filter { if case .text = $0 { return true } else { return false } }.count == 1)
            owner.signal(SIGTERM)
            let end = try await owner.finish(timeout: .seconds(15))
            #expect(!end.stderr.contains("task \(handle.taskID) completed"), "\(end.stderr)")
        }
    }

    @Test("a task that kills every worker is dead-lettered after its attempts")
    func aTaskThatKillsEveryWorkerIsDeadLetteredAfterItsAttempts() async throws {
        try await withDistributedFixture { fixture in
            let broker = try fixture.broker()
            let env = ["ORBITER_REDIS_URL": fixture.redisURL]
            // It "crashes" each worker that runs it (kill -9 mid-task); 1 + 1 retry = 2 attempts.
            let handle = try await distributed(try sleeper(30), "x", broker: broker, maxRetries: 1)
            for attempt in 1...2 {
                let victim = try OrbiterBinary.start(["start", "worker", "--queue", fixture.queue, "--worker-id", "crash-\(attempt)", "--lease", "1"],
                                                     environment: env)
                try await eventually("attempt \(attempt) runs", timeout: .seconds(20)) {
                    let s = try await handle.status()
                    return s?.status == .running && s?.workerID == "crash-\(attempt)" && s?.attempts == attempt
                }
                victim.signal(SIGKILL)
                _ = try await victim.finish(timeout: .seconds(10))
            }
            let survivor = try OrbiterBinary.start(["start", "worker", "--queue", fixture.queue, "--worker-id", "survivor", "--lease", "1"],
                                                   environment: env)
            defer { survivor.signal(SIGKILL) }
            try await eventually("dead-lettered", timeout: .seconds(20)) { try await handle.status()?.status == .failed }
            let status = try await handle.status()
            #expect(status?.attempts == 2, "never started a third time")
            #expect(status?.workerID == "crash-2")
            #expect(status?.error?.contains("used all 2 attempts") == true, "\(String(describing: status?.error))")
            let dead = try await broker.deadLetters()
            #expect(dead.first?.taskID == handle.taskID)
            #expect(dead.first?.attempts == 2)
            survivor.signal(SIGTERM)
            let end = try await survivor.finish(timeout: .seconds(15))
            #expect(end.stderr.contains("no attempts left"), "\(end.stderr)")
        }
    }
}
