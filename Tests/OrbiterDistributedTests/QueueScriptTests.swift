import Foundation
import OrbiterCore
@testable import OrbiterClient
@testable import OrbiterQueue
@testable import OrbiterWorker
import OrbiterLua
import OrbiterRedis
import OrbiterTestSupport
import Testing

/// Each server-side transition on its own, and what happens to bad input in the queue.
@Suite("Queue scripts", .serialized)
struct QueueScriptTests {
    func submitRaw(_ broker: TaskBroker, payload: String = TaskPayload(node: ["type": "agent", "name": "a", "model": "lua:m"], input: "x").json.jsonString) async throws -> (String, String) {
        let id = TaskID.make()
        let entry = try await broker.client.run(QueueScripts.submit,
                                                keys: [broker.keys.task(id), broker.keys.stream, broker.keys.index, broker.keys.bundle("none"), broker.keys.idempotency(nil)],
                                                args: [id, payload, "", "1000", "", 60, 1000, "", 60])
        #expect(entry.array?.map(\.string) == ["new", id])
        let stored = try await broker.client.send(["HGET", broker.keys.task(id), "entry"])
        return (id, stored.string ?? "")
    }

    @Test("start drops a cancelled task")
    func startOnACancelledTaskDropsIt() async throws {
        try await withDistributedFixture { fixture in
            let broker = try fixture.broker()
            _ = try? await broker.client.send(["XGROUP", "CREATE", broker.keys.stream, QueueKeys.group, "0", "MKSTREAM"])
            let (id, entry) = try await submitRaw(broker)
            #expect(try await broker.cancel(id) == .cancelled)
            let reply = try await broker.start([ClaimedEntry(entryID: entry, taskID: id)], workerID: "w", now: 2000)
            #expect(reply == [.drop(reason: "cancelled")])
            #expect(try await broker.client.send(["XLEN", broker.keys.stream]).int == 0, "the entry is deleted")
        }
    }

    @Test("start, then finish only by the running worker")
    func startThenFinishOnlyByTheRunningWorker() async throws {
        try await withDistributedFixture { fixture in
            let broker = try fixture.broker()
            let (id, entry) = try await submitRaw(broker)
            let start = try await broker.start([ClaimedEntry(entryID: entry, taskID: id)], workerID: "w1", now: 2000)
            guard case .run(_, let attempt, _, _, let lease, _)? = start.first else { Issue.record("not started: \(start)"); return }
            #expect(attempt == 1)
            let again = try await broker.start([ClaimedEntry(entryID: entry, taskID: id)], workerID: "w2", now: 2000)
            #expect(again == [.drop(reason: "running")])
            func finish(_ worker: String, _ token: String? = nil) async throws -> Int64? {
                try await broker.client.run(QueueScripts.finish, keys: [broker.keys.task(id), broker.keys.stream, broker.keys.events(id), broker.keys.dead,
                                                                       broker.keys.counter("completed", minute: 0),
                                                                       broker.keys.expiringTasks, broker.keys.expiringEvents],
                                            args: [QueueKeys.group, worker, "completed", #"{"output":"ok"}"#, "", #"{"type":"status","status":"completed","agent_name":"a","message":""}"#,
                                                   "3000", 60, 60, id, "1", token ?? lease, 1000, 1, 0]).int
            }
            #expect(try await finish("w2") == 0)
            let stale = try await finish("w1", "not-the-lease")
            #expect(stale == 0, "the running worker with another run's lease token cannot finish")
            #expect(try await finish("w1") == 1)
            #expect(try await finish("w1") == 0, "finishing twice does nothing")
            #expect(try await broker.status(id)?.status == .completed)
            // Retention: the hash goes 60 s and the stream 60 s after completed_at (3000 ms), by the workers' sweep.
            #expect(try await broker.client.send(["ZSCORE", broker.keys.expiringTasks, id]).string == "63000")
            #expect(try await broker.client.send(["ZSCORE", broker.keys.expiringEvents, id]).string == "63000")
            #expect(try await EventSubscriber(broker: broker).replay(id).count == 1)
        }
    }

    @Test("a hand-back does not use up an attempt: the next start is attempt 1 again, and reclaim counts only failed runs")
    func handBacksDoNotUseAttempts() async throws {
        try await withDistributedFixture { fixture in
            let broker = try fixture.broker()
            let (id, entry) = try await submitRaw(broker)
            let event = StreamEvent.status(StatusEvent(status: .retrying, agentName: "a", message: "handed back"))
            var claim = ClaimedEntry(entryID: entry, taskID: id)
            for round in 1...3 {
                let start = try await broker.start([claim], workerID: "w\(round)")
                guard case .run(_, let attempt, _, _, let lease, _)? = start.first else { Issue.record("not started: \(start)"); return }
                #expect(attempt == 1, "round \(round): stops of earlier workers are not failures")
                #expect(try await broker.handBack(id, event: event, workerID: "w\(round)", lease: lease) == .requeued)
                let newEntry = try #require(try await broker.client.send(["HGET", broker.keys.task(id), "entry"]).string)
                claim = ClaimedEntry(entryID: newEntry, taskID: id)
            }
            #expect(try await broker.status(id)?.attempts == 3, "attempts still counts every start")
            // The fourth start runs, its worker dies: with one attempt allowed, that run (the first
            // that could fail) is what takeover counts, so the task is dead-lettered now, not before.
            guard case .run(_, let attempt, _, _, _, _)? = try await broker.start([claim], workerID: "w4").first else {
                Issue.record("not started"); return
            }
            #expect(attempt == 1)
            let dead = StreamEvent.status(StatusEvent(status: .error, agentName: "a", message: "lost"))
            let outcome = try await broker.reclaim(id, entryID: claim.entryID, allowedAttempts: 2, retrying: event, dead: dead, cancelled: dead)
            #expect(outcome == .run, "1 failed run of 2 allowed: taken over and run again")
        }
    }

    @Test("start takes a batch and drops only the unrunnable")
    func startTakesABatchAndDropsOnlyTheUnrunnable() async throws {
        try await withDistributedFixture { fixture in
            let broker = try fixture.broker()
            _ = try? await broker.client.send(["XGROUP", "CREATE", broker.keys.stream, QueueKeys.group, "0", "MKSTREAM"])
            let first = try await submitRaw(broker), second = try await submitRaw(broker), third = try await submitRaw(broker)
            _ = try await broker.cancel(second.0)
            let gone = ClaimedEntry(entryID: "1-1", taskID: TaskID.make())
            let outcomes = try await broker.start([ClaimedEntry(entryID: first.1, taskID: first.0), ClaimedEntry(entryID: second.1, taskID: second.0),
                                                   gone, ClaimedEntry(entryID: third.1, taskID: third.0)], workerID: "w1", now: 2000)
            #expect(outcomes.count == 4)
            guard case .run(let payload, 1, "", "", let lease1, _) = outcomes[0], case .run(_, 1, "", "", let lease4, _) = outcomes[3] else {
                Issue.record("the pending tasks start: \(outcomes)")
                return
            }
            #expect(payload.contains("\"input\""), "\(payload)")
            #expect(lease1 != lease4, "each start gets its own lease token")
            #expect(outcomes[1] == .drop(reason: "cancelled"))
            #expect(outcomes[2] == .drop(reason: "missing"))
            for id in [first.0, third.0] {
                let state = try await broker.client.send(["HMGET", broker.keys.task(id), "status", "worker_id", "started_at"])
                #expect(state.array?.map(\.string) == ["running", "w1", "2000"])
            }
            let empty = try await broker.start([], workerID: "w1")
            #expect(empty == [])
        }
    }

    @Test("renew only renews the leases of the running worker")
    func renewOnlyRenewsTheLeasesOfTheRunningWorker() async throws {
        try await withDistributedFixture { fixture in
            let broker = try fixture.broker()
            _ = try? await broker.client.send(["XGROUP", "CREATE", broker.keys.stream, QueueKeys.group, "0", "MKSTREAM"])
            let (id, _) = try await submitRaw(broker)
            let claimed = try await broker.client.send(["XREADGROUP", "GROUP", QueueKeys.group, "w1", "COUNT", 1, "STREAMS", broker.keys.stream, ">"])
            let entry = StreamReplies.firstStream(claimed)[0].id
            let started = try await broker.start([ClaimedEntry(entryID: entry, taskID: id)], workerID: "w1", now: 2000)
            guard case .run(_, _, _, _, let lease, _)? = started.first else { Issue.record("not started: \(started)"); return }
            func renew(_ worker: String, _ token: String) async throws -> [Int64] {
                try await broker.client.run(QueueScripts.renew, keys: [broker.keys.stream, broker.keys.task(id)],
                                            args: [QueueKeys.group, worker, entry, token]).array?.compactMap(\.int) ?? [-1]
            }
            let stolen = try await renew("w2", lease)
            #expect(stolen == [], "a worker that does not run the task cannot take its lease")
            let pending = try await broker.client.send(["XPENDING", broker.keys.stream, QueueKeys.group, "-", "+", 10])
            #expect(pending.array?.first?.array?[1].string == "w1")
            let renewed = try await renew("w1", lease)
            #expect(renewed == [], "renewed, nothing lost")
            let lost = try await renew("w1", "an-older-lease")
            #expect(lost == [1], "a run whose token is not the task's lost its lease")
        }
    }

    @Test("submit answers `existing` for a known id and refuses a missing bundle")
    func submitAnswersExistingForAKnownIdAndRefusesAMissingBundle() async throws {
        try await withDistributedFixture { fixture in
            let broker = try fixture.broker()
            let id = TaskID.make()
            let args: [any RedisArgument] = [id, "{}", "", "1000", "", 60, 1000, "", 60]
            let keys = [broker.keys.task(id), broker.keys.stream, broker.keys.index, broker.keys.bundle("none"), broker.keys.idempotency(nil)]
            let first = try await broker.client.run(QueueScripts.submit, keys: keys, args: args)
            #expect(first.array?.map(\.string) == ["new", id])
            let again = try await broker.client.run(QueueScripts.submit, keys: keys, args: args)
            #expect(again.array?.map(\.string) == ["existing", id], "a resent submit (lost reply) makes no second task")
            let queued = try await broker.client.send(["XLEN", broker.keys.stream]).int
            #expect(queued == 1)
            let id2 = TaskID.make()
            do {
                _ = try await broker.client.run(QueueScripts.submit, keys: [broker.keys.task(id2), broker.keys.stream, broker.keys.index, broker.keys.bundle("abc"), broker.keys.idempotency(nil)],
                                                args: [id2, "{}", "", "1000", "abc", 60, 1000, "", 60])
                Issue.record()
            } catch RedisError.server(let m) {
                #expect(m.hasPrefix("NOBUNDLE"), "\(m)")
            }
        }
    }

    @Test("scripts survive a SCRIPT FLUSH between submit and claim")
    func scriptsSurviveAScriptFlushBetweenSubmitAndClaim() async throws {
        try await withDistributedFixture { fixture in
            let (_, agent) = try load(try calculator())
            let broker = try fixture.broker()
            let handle = try await distributed(agent, "1 + 2", broker: broker)
            _ = try await broker.client.send(["SCRIPT", "FLUSH"])
            try fixture.startWorker()
            let result = try await handle.result(timeout: .seconds(10))
            #expect(result["output"] == "The answer is 3.")
        }
    }

    @Test("corrupt payloads fail with a reason and the worker goes on")
    func corruptPayloadsFailWithAReasonAndTheWorkerGoesOn() async throws {
        try await withDistributedFixture { fixture in
            let broker = try fixture.broker()
            try fixture.startWorker()
            let cases: [(String, String)] = [
                ("{not json", "not valid JSON"),
                (#"{"version": 99, "agent": {}, "input": ""}"#, "version 99 is not supported"),
                (TaskPayload(node: ["type": "agent", "name": "a", "model": "lua:m"], input: "x", bundle: String(repeating: "ab", count: 32)).json.jsonString,
                 "is not stored in Redis"),
                (TaskPayload(node: ["type": "agent", "name": "a"], input: "x").json.jsonString, "'model' is missing"),
            ]
            for (payload, fragment) in cases {
                let (id, _) = try await submitRaw(broker, payload: payload)
                let handle = TaskHandle(taskID: id, broker: broker)
                do {
                    _ = try await handle.result(timeout: .seconds(10))
                    Issue.record("\(payload) should fail")
                } catch {
                    #expect("\(error)".contains(fragment), "\(payload): \(error)")
                }
            }
            let (_, agent) = try load(try calculator())
            let ok = try await distributed(agent, "2 + 2", broker: broker)
            #expect(try await ok.result(timeout: .seconds(10))["output"] == "The answer is 4.")
        }
    }

    @Test("heartbeat and worker list")
    func heartbeatAndWorkerList() async throws {
        try await withDistributedFixture { fixture in
            let worker = try fixture.startWorker(id: "hb-worker", heartbeatTTL: 1)
            let broker = try fixture.broker()
            try await eventually("a heartbeat") { try await broker.workers().contains { $0.id == "hb-worker" && $0.alive } }
            let alive = try await broker.workers().first { $0.id == "hb-worker" }
            #expect(alive?.fields["version"] == OrbiterVersion.current)
            #expect(alive?.fields["concurrency"] == "4")
            let (_, agent) = try load(try calculator())
            _ = try await distributed(agent, "1 + 1", broker: broker).result(timeout: .seconds(10))
            try await eventually("the count in a heartbeat") {
                try await broker.workers().first { $0.id == "hb-worker" }?.fields["tasks_processed"] == "1"
            }
            let info = try await broker.workers().first { $0.id == "hb-worker" }
            let json = try #require(info?.json)
            let now = Date().timeIntervalSince1970
            for key in ["last_heartbeat", "started_at"] {
                let seconds = try #require(json[key]?.doubleValue, "\(key)")
                #expect(abs(seconds - now) < 60, "\(key) is in seconds since 1970: \(seconds)")
            }
            #expect(json["instance"] == nil, "the instance token stays internal")
            await fixture.stop(worker)
            let stopped = try await broker.workers().first { $0.id == "hb-worker" }
            #expect(stopped?.state == "stopped")
            #expect(stopped?.alive == false, "a stopped worker is not alive")
            // As if it had been killed: the last heartbeat said running, and it is older than the TTL.
            _ = try await broker.client.send(["HSET", broker.keys.worker("hb-worker"), "status", "running"])
            try await Task.sleep(for: .milliseconds(1300))
            let listed = try await broker.workers().first { $0.id == "hb-worker" }
            #expect(listed?.alive == false, "a worker whose heartbeat expired is dead")
            #expect(listed?.state == "dead")
            #expect(listed?.fields["tasks_processed"] == "1", "a dead worker keeps its counts")
            #expect(listed?.fields["concurrency"] == "4")
        }
    }

    @Test("task IDs are valid and distinct across random pool refills")
    func taskIDsAreValidAndDistinctAcrossRandomPoolRefills() throws {
        // 4 KiB of randomness per refill is 256 ids: 2,000 cross several refills.
        let ids = (0..<2000).map { _ in TaskID.make() }
        #expect(Set(ids).count == ids.count)
        for id in ids { #expect(throws: Never.self) { try TaskID.validate(id) } }
        let bytes = RandomBytes.take(5000)
        #expect(bytes.count == 5000)
        #expect(Set(bytes).count > 200, "random bytes cover the byte range")
    }

    @Test("invalid queue names and task IDs are refused")
    func invalidQueueNamesAndIDsAreRefused() throws {
        let redisURL = try TestRedis.url()
        #expect(throws: (any Error).self) { try TaskBroker(redisURL: redisURL, queue: "bad queue{x}") }
        #expect(throws: (any Error).self) { try TaskID.validate("ZZZ") }
    }
}
