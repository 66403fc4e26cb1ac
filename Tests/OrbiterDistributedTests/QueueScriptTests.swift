import Foundation
import OrbiterCore
@testable import OrbiterClient
@testable import OrbiterQueue
@testable import OrbiterWorker
import OrbiterLua
import OrbiterRedis
import OrbiterTestSupport
import XCTest

/// Each server-side transition on its own, and what happens to bad input in the queue.
final class QueueScriptTests: DistributedTestCase {
    func submitRaw(_ broker: TaskBroker, payload: String = TaskPayload(node: ["type": "agent", "name": "a", "model": "lua:m"], input: "x").json.jsonString) async throws -> (String, String) {
        let id = TaskID.make()
        let entry = try await broker.client.run(QueueScripts.submit,
                                                keys: [broker.keys.task(id), broker.keys.stream, broker.keys.index, broker.keys.bundle("none"), broker.keys.idempotency(nil)],
                                                args: [id, payload, "", "1000", "", 60, 1000, "", 60])
        XCTAssertEqual(entry.array?.map(\.string), ["new", id])
        let stored = try await broker.client.send(["HGET", broker.keys.task(id), "entry"])
        return (id, stored.string ?? "")
    }

    func testStartOnACancelledTaskDropsIt() async throws {
        let broker = try broker()
        _ = try? await broker.client.send(["XGROUP", "CREATE", broker.keys.stream, QueueKeys.group, "0", "MKSTREAM"])
        let (id, entry) = try await submitRaw(broker)
        let value1 = try await broker.cancel(id)
        XCTAssertEqual(value1, .cancelled)
        let reply = try await broker.start([ClaimedEntry(entryID: entry, taskID: id)], workerID: "w", now: 2000)
        XCTAssertEqual(reply, [.drop(reason: "cancelled")])
        let value2 = try await broker.client.send(["XLEN", broker.keys.stream]).int
        XCTAssertEqual(value2, 0, "the entry is deleted")
    }

    func testStartThenFinishOnlyByTheRunningWorker() async throws {
        let broker = try broker()
        let (id, entry) = try await submitRaw(broker)
        let start = try await broker.start([ClaimedEntry(entryID: entry, taskID: id)], workerID: "w1", now: 2000)
        guard case .run(_, let attempt, _, _, let lease)? = start.first else { return XCTFail("not started: \(start)") }
        XCTAssertEqual(attempt, 1)
        let again = try await broker.start([ClaimedEntry(entryID: entry, taskID: id)], workerID: "w2", now: 2000)
        XCTAssertEqual(again, [.drop(reason: "running")])
        func finish(_ worker: String, _ token: String? = nil) async throws -> Int64? {
            try await broker.client.run(QueueScripts.finish, keys: [broker.keys.task(id), broker.keys.stream, broker.keys.events(id), broker.keys.dead,
                                                                   broker.keys.counter("completed", minute: 0)],
                                        args: [QueueKeys.group, worker, "completed", #"{"output":"ok"}"#, "", #"{"type":"status","status":"completed","agent_name":"a","message":""}"#,
                                               "3000", 60, 60, id, "1", token ?? lease]).int
        }
        let value3 = try await finish("w2")
        XCTAssertEqual(value3, 0)
        let stale = try await finish("w1", "not-the-lease")
        XCTAssertEqual(stale, 0, "the running worker with another run's lease token cannot finish")
        let value4 = try await finish("w1")
        XCTAssertEqual(value4, 1)
        let value5 = try await finish("w1")
        XCTAssertEqual(value5, 0, "finishing twice does nothing")
        let value6 = try await broker.status(id)?.status
        XCTAssertEqual(value6, .completed)
        let value7 = try await broker.client.send(["TTL", broker.keys.task(id)]).int ?? -1
        XCTAssertGreaterThan(value7, 0)
        let value8 = try await broker.client.send(["TTL", broker.keys.events(id)]).int ?? -1
        XCTAssertGreaterThan(value8, 0)
        let value9 = try await EventSubscriber(broker: broker).replay(id).count
        XCTAssertEqual(value9, 1)
    }

    func testStartTakesABatchAndDropsOnlyTheUnrunnable() async throws {
        let broker = try broker()
        _ = try? await broker.client.send(["XGROUP", "CREATE", broker.keys.stream, QueueKeys.group, "0", "MKSTREAM"])
        let first = try await submitRaw(broker), second = try await submitRaw(broker), third = try await submitRaw(broker)
        _ = try await broker.cancel(second.0)
        let gone = ClaimedEntry(entryID: "1-1", taskID: TaskID.make())
        let outcomes = try await broker.start([ClaimedEntry(entryID: first.1, taskID: first.0), ClaimedEntry(entryID: second.1, taskID: second.0),
                                               gone, ClaimedEntry(entryID: third.1, taskID: third.0)], workerID: "w1", now: 2000)
        XCTAssertEqual(outcomes.count, 4)
        guard case .run(let payload, 1, "", "", let lease1) = outcomes[0], case .run(_, 1, "", "", let lease4) = outcomes[3] else {
            return XCTFail("the pending tasks start: \(outcomes)")
        }
        XCTAssertTrue(payload.contains("\"input\""), payload)
        XCTAssertNotEqual(lease1, lease4, "each start gets its own lease token")
        XCTAssertEqual(outcomes[1], .drop(reason: "cancelled"))
        XCTAssertEqual(outcomes[2], .drop(reason: "missing"))
        for id in [first.0, third.0] {
            let state = try await broker.client.send(["HMGET", broker.keys.task(id), "status", "worker_id", "started_at"])
            XCTAssertEqual(state.array?.map(\.string), ["running", "w1", "2000"])
        }
        let empty = try await broker.start([], workerID: "w1")
        XCTAssertEqual(empty, [])
    }

    func testRenewOnlyRenewsTheLeasesOfTheRunningWorker() async throws {
        let broker = try broker()
        _ = try? await broker.client.send(["XGROUP", "CREATE", broker.keys.stream, QueueKeys.group, "0", "MKSTREAM"])
        let (id, _) = try await submitRaw(broker)
        let claimed = try await broker.client.send(["XREADGROUP", "GROUP", QueueKeys.group, "w1", "COUNT", 1, "STREAMS", broker.keys.stream, ">"])
        let entry = StreamReplies.firstStream(claimed)[0].id
        let started = try await broker.start([ClaimedEntry(entryID: entry, taskID: id)], workerID: "w1", now: 2000)
        guard case .run(_, _, _, _, let lease)? = started.first else { return XCTFail("not started: \(started)") }
        func renew(_ worker: String, _ token: String) async throws -> [Int64] {
            try await broker.client.run(QueueScripts.renew, keys: [broker.keys.stream, broker.keys.task(id)],
                                        args: [QueueKeys.group, worker, entry, token]).array?.compactMap(\.int) ?? [-1]
        }
        let stolen = try await renew("w2", lease)
        XCTAssertEqual(stolen, [], "a worker that does not run the task cannot take its lease")
        let pending = try await broker.client.send(["XPENDING", broker.keys.stream, QueueKeys.group, "-", "+", 10])
        XCTAssertEqual(pending.array?.first?.array?[1].string, "w1")
        let renewed = try await renew("w1", lease)
        XCTAssertEqual(renewed, [], "renewed, nothing lost")
        let lost = try await renew("w1", "an-older-lease")
        XCTAssertEqual(lost, [1], "a run whose token is not the task's lost its lease")
    }

    func testSubmitAnswersExistingForAKnownIdAndRefusesAMissingBundle() async throws {
        let broker = try broker()
        let id = TaskID.make()
        let args: [any RedisArgument] = [id, "{}", "", "1000", "", 60, 1000, "", 60]
        let keys = [broker.keys.task(id), broker.keys.stream, broker.keys.index, broker.keys.bundle("none"), broker.keys.idempotency(nil)]
        let first = try await broker.client.run(QueueScripts.submit, keys: keys, args: args)
        XCTAssertEqual(first.array?.map(\.string), ["new", id])
        let again = try await broker.client.run(QueueScripts.submit, keys: keys, args: args)
        XCTAssertEqual(again.array?.map(\.string), ["existing", id], "a resent submit (lost reply) makes no second task")
        let queued = try await broker.client.send(["XLEN", broker.keys.stream]).int
        XCTAssertEqual(queued, 1)
        let id2 = TaskID.make()
        do {
            _ = try await broker.client.run(QueueScripts.submit, keys: [broker.keys.task(id2), broker.keys.stream, broker.keys.index, broker.keys.bundle("abc"), broker.keys.idempotency(nil)],
                                            args: [id2, "{}", "", "1000", "abc", 60, 1000, "", 60])
            XCTFail()
        } catch RedisError.server(let m) {
            XCTAssertTrue(m.hasPrefix("NOBUNDLE"), m)
        }
    }

    func testScriptsSurviveAScriptFlushBetweenSubmitAndClaim() async throws {
        let (_, agent) = try load(try calculator())
        let broker = try broker()
        let handle = try await distributed(agent, "1 + 2", broker: broker)
        _ = try await broker.client.send(["SCRIPT", "FLUSH"])
        try startWorker()
        let result = try await handle.result(timeout: .seconds(10))
        XCTAssertEqual(result["output"], "The answer is 3.")
    }

    func testCorruptPayloadsFailWithAReasonAndTheWorkerGoesOn() async throws {
        let broker = try broker()
        try startWorker()
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
                XCTFail("\(payload) should fail")
            } catch {
                XCTAssertTrue("\(error)".contains(fragment), "\(payload): \(error)")
            }
        }
        let (_, agent) = try load(try calculator())
        let ok = try await distributed(agent, "2 + 2", broker: broker)
        let value10 = try await ok.result(timeout: .seconds(10))["output"]
        XCTAssertEqual(value10, "The answer is 4.")
    }

    func testHeartbeatAndWorkerList() async throws {
        try startWorker(id: "hb-worker", heartbeatTTL: 1)
        let broker = try broker()
        try await eventually("a heartbeat") { try await broker.workers().contains { $0.id == "hb-worker" && $0.alive } }
        let alive = try await broker.workers().first { $0.id == "hb-worker" }
        XCTAssertEqual(alive?.fields["version"], OrbiterVersion.current)
        XCTAssertEqual(alive?.fields["concurrency"], "4")
        let (_, agent) = try load(try calculator())
        _ = try await distributed(agent, "1 + 1", broker: broker).result(timeout: .seconds(10))
        try await eventually("the count in a heartbeat") {
            try await broker.workers().first { $0.id == "hb-worker" }?.fields["tasks_processed"] == "1"
        }
        let info = try await broker.workers().first { $0.id == "hb-worker" }
        let json = try XCTUnwrap(info?.json)
        let now = Date().timeIntervalSince1970
        for key in ["last_heartbeat", "started_at"] {
            let seconds = try XCTUnwrap(json[key]?.doubleValue, key)
            XCTAssertLessThan(abs(seconds - now), 60, "\(key) is in seconds since 1970: \(seconds)")
        }
        XCTAssertNil(json["instance"], "the instance token stays internal")
        workers[0].0.stop()
        _ = await workers[0].1.result
        let stopped = try await broker.workers().first { $0.id == "hb-worker" }
        XCTAssertEqual(stopped?.state, "stopped")
        XCTAssertEqual(stopped?.alive, false, "a stopped worker is not alive")
        // As if it had been killed: the last heartbeat said running, and it is older than the TTL.
        _ = try await broker.client.send(["HSET", broker.keys.worker("hb-worker"), "status", "running"])
        try await Task.sleep(for: .milliseconds(1300))
        let listed = try await broker.workers().first { $0.id == "hb-worker" }
        XCTAssertEqual(listed?.alive, false, "a worker whose heartbeat expired is dead")
        XCTAssertEqual(listed?.state, "dead")
        XCTAssertEqual(listed?.fields["tasks_processed"], "1", "a dead worker keeps its counts")
        XCTAssertEqual(listed?.fields["concurrency"], "4")
    }

    func testTaskIdsAreValidAndDistinctAcrossRandomPoolRefills() throws {
        // 4 KiB of randomness per refill is 256 ids: 2,000 cross several refills.
        let ids = (0..<2000).map { _ in TaskID.make() }
        XCTAssertEqual(Set(ids).count, ids.count)
        for id in ids { XCTAssertNoThrow(try TaskID.validate(id)) }
        let bytes = RandomBytes.take(5000)
        XCTAssertEqual(bytes.count, 5000)
        XCTAssertGreaterThan(Set(bytes).count, 200, "random bytes cover the byte range")
    }

    func testInvalidQueueNamesAndIdsAreRefused() throws {
        XCTAssertThrowsError(try TaskBroker(redisURL: redisURL, queue: "bad queue{x}"))
        XCTAssertThrowsError(try TaskID.validate("ZZZ"))
    }
}
