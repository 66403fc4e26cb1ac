import Foundation
import OrbiterCore
import OrbiterLua
@testable import OrbiterClient
@testable import OrbiterQueue
import OrbiterRedis
import OrbiterTestSupport
import Synchronization
import Testing

/// The transitions that do many tasks' work in one script call (`submit_many.lua`,
/// `finish_many.lua`) and submit's bundle probe: each task ends as the one-task script would
/// leave it, and nothing is stored twice or without its TTL.
@Suite("Grouped transitions", .serialized)
struct GroupedTransitionTests {
    /// submit_many.lua's KEYS and ARGV for `ids` (no bundle, no idempotency keys unless given).
    func submitMany(_ broker: TaskBroker, _ ids: [String], idem: [String?]? = nil, maxPending: Int = 0, priority: String = "",
                    runAt: String = "", sha: String = "", bundle: String = "") async throws -> RedisReply {
        var keys = [broker.keys.stream, broker.keys.index, broker.keys.bundle(sha.isEmpty ? "none" : sha), broker.keys.scheduled]
        var args: [any RedisArgument] = ["1000", sha, bundle, 60, maxPending, 60]
        for (i, id) in ids.enumerated() {
            keys += [broker.keys.task(id), broker.keys.idempotency(idem?[i])]
            args += [id, #"{"input":"\#(id)"}"#, "", idem?[i] == nil ? "" : "digest-\(id.prefix(4))", "{}", priority, runAt, "agent-\(i)"]
        }
        return try await broker.client.run(QueueScripts.submitMany, keys: keys, args: args)
    }

    func verdicts(_ reply: RedisReply) -> [[String]] {
        (reply.array ?? []).map { ($0.array ?? []).map { $0.string ?? "?" } }
    }

    @Test("submit_many: a batch sent again (lost reply) makes no second task; an id given twice is stored once")
    func bulkSubmitIsIdempotent() async throws {
        try await withDistributedFixture { fixture in
            let broker = try fixture.broker()
            let ids = (0..<5).map { _ in TaskID.make() }
            let first = verdicts(try await submitMany(broker, ids + [ids[0]]))
            #expect(first == ids.map { ["new", $0] } + [["existing", ids[0]]])
            let again = verdicts(try await submitMany(broker, ids))
            #expect(again == ids.map { ["existing", $0] })
            #expect(try await broker.client.send(["XLEN", broker.keys.stream]).int == 5)
            #expect(try await broker.client.send(["ZCARD", broker.keys.index]).int == 5)
            for (i, id) in ids.enumerated() {
                let fields = try await broker.client.send(["HMGET", broker.keys.task(id), "status", "attempts", "entry", "agent"]).array?.map(\.string)
                #expect(fields?[0] == "pending" && fields?[1] == "0" && (fields?[2]?.isEmpty == false), "\(id): \(String(describing: fields))")
                #expect(fields?[3] == "agent-\(i)", "the agent's name is kept for lists")
            }
        }
    }

    @Test("submit_many: idempotency keys, max pending and placement per task; a missing bundle stores nothing")
    func bulkSubmitChecksEachTask() async throws {
        try await withDistributedFixture { fixture in
            let broker = try fixture.broker()
            let ids = (0..<4).map { _ in TaskID.make() }
            // The same key twice with the same digest prefix rule: the second names the first task.
            let keyed = verdicts(try await submitMany(broker, [ids[0]], idem: ["order-1"]))
            #expect(keyed == [["new", ids[0]]])
            let reused = verdicts(try await submitMany(broker, [ids[1]], idem: ["order-1"]))
            #expect(reused.first?.first == "error" && reused.first?[1].hasPrefix("IDEMPOTENCY \(ids[0])") == true, "\(reused)")
            #expect(try await (broker.client.send(["TTL", broker.keys.idempotency("order-1")]).int ?? -1) > 0)
            // Max pending 2 with one task held: one more fits, the next is refused, alone.
            let full = verdicts(try await submitMany(broker, [ids[2], ids[3]], maxPending: 2))
            #expect(full.first == ["new", ids[2]])
            #expect(full.last?.first == "error" && full.last?[1].hasPrefix("FULL 2 tasks") == true, "\(full)")
            #expect(try await broker.client.send(["EXISTS", broker.keys.task(ids[3])]).int == 0)
            // Priority and start time as submit.lua places them.
            let high = TaskID.make(), later = TaskID.make()
            _ = try await submitMany(broker, [high], priority: "9")
            #expect(try await broker.client.send(["XLEN", broker.keys.stream + ":p9"]).int == 1)
            #expect(try await broker.client.send(["HGET", broker.keys.task(high), "priority"]).string == "9")
            _ = try await submitMany(broker, [later], runAt: "5000")
            #expect(try await broker.client.send(["HGET", broker.keys.task(later), "status"]).string == "scheduled")
            #expect(try await broker.client.send(["ZSCORE", broker.keys.scheduled, later]).string == "5000")
            // A bundle that is not stored: the whole batch is refused before anything is written.
            let orphan = TaskID.make()
            do {
                _ = try await submitMany(broker, [orphan], sha: "abc")
                Issue.record("a task was queued for a bundle that is gone")
            } catch RedisError.server(let m) {
                #expect(m.hasPrefix("NOBUNDLE"), "\(m)")
            }
            #expect(try await broker.client.send(["EXISTS", broker.keys.task(orphan)]).int == 0)
            let stored = verdicts(try await submitMany(broker, [orphan], sha: "abc", bundle: #"{"files":{}}"#))
            #expect(stored == [["new", orphan]])
            #expect(try await (broker.client.send(["TTL", broker.keys.bundle("abc")]).int ?? -1) > 0)
        }
    }

    @Test("submit's bundle probe: a bundle deleted within the refresh window is stored again, never skipped")
    func bundleProbeNoticesAGoneBundle() async throws {
        try await withDistributedFixture { fixture in
            let broker = try fixture.broker()
            let bundle = ScriptBundle(entry: "main", modules: ["main": "return 1"])
            let payload = TaskPayload(node: ["type": "agent", "name": "a", "model": "lua:m"], input: "x", bundle: bundle.sha256)
            _ = try await broker.submit(payload, bundle: bundle)
            // Within the window the next submit checks the bundle in its EXISTS and does not refresh it.
            _ = try await broker.client.send(["EXPIRE", broker.keys.bundle(bundle.sha256), 50])
            _ = try await broker.submit(payload, bundle: bundle)
            let ttl = try await broker.client.send(["TTL", broker.keys.bundle(bundle.sha256)]).int ?? -1
            #expect(ttl > 0 && ttl <= 50, "not refreshed within the window: \(ttl)")
            // Gone (evicted, deleted): the probe says so and the client stores it again with the task.
            _ = try await broker.client.send(["DEL", broker.keys.bundle(bundle.sha256)])
            let id = try await broker.submit(payload, bundle: bundle)
            #expect(try await broker.client.send(["EXISTS", broker.keys.bundle(bundle.sha256)]).int == 1)
            #expect(try await broker.status(id)?.status == .pending)
            // Past the window, the TTL is refreshed again.
            broker.storedBundles.withLock { $0[bundle.sha256] = 0 }
            _ = try await broker.client.send(["EXPIRE", broker.keys.bundle(bundle.sha256), 50])
            _ = try await broker.submit(payload, bundle: bundle)
            #expect(try await (broker.client.send(["TTL", broker.keys.bundle(bundle.sha256)]).int ?? -1) > 50)
        }
    }

    func evalshaCount(_ broker: TaskBroker) async throws -> Int {
        let info = try await broker.client.send(["INFO", "commandstats"]).string ?? ""
        let line = info.split(separator: "\r\n").first { $0.hasPrefix("cmdstat_evalsha:") } ?? ""
        return Int(line.split(separator: ",").first?.split(separator: "=").last ?? "0") ?? 0
    }

    @Test("submits made at once share submit_many calls; each gets its own task, and its own refusal (idempotency, max pending)")
    func concurrentSubmitsAreGrouped() async throws {
        try await withDistributedFixture { fixture in
            let broker = try TaskBroker(redisURL: fixture.redisURL, queue: fixture.queue, settings: QueueSettings(maxPending: 150))
            let root = try sleeper(0)
            let bundle = try LoadedBundles.bundle(for: root)
            let node = root.toDict()
            func payload(_ input: String) -> TaskPayload { TaskPayload(node: node, input: input, bundle: bundle?.sha256) }
            _ = try await broker.submit(payload("warm-up"), bundle: bundle) // stores the bundle
            let before = try await evalshaCount(broker)
            let n = 200
            // Tasks 0..<10 share an idempotency key: the same work (input "same") for even ones, other work for odd ones.
            let outcomes = await withTaskGroup(of: (Int, Result<String, any Error>).self) { group in
                for i in 0..<n {
                    group.addTask {
                        let keyed = i < 10
                        let work = keyed ? (i % 2 == 0 ? "same" : "other-\(i)") : "t\(i)"
                        do {
                            return (i, .success(try await broker.submit(payload(work), bundle: bundle, idempotencyKey: keyed ? "order-7" : nil)))
                        } catch {
                            return (i, .failure(error))
                        }
                    }
                }
                var out: [Int: Result<String, any Error>] = [:]
                for await (i, result) in group { out[i] = result }
                return out
            }
            let calls = try await evalshaCount(broker) - before
            #expect(calls < n / 4, "\(calls) script calls for \(n) submits")
            var ids: Set<String> = [], full = 0, conflicts = 0, keyedIDs: Set<String> = []
            for i in 0..<n {
                switch outcomes[i]! {
                case .success(let id):
                    if i < 10 { keyedIDs.insert(id) } else { ids.insert(id) }
                case .failure(DistributedError.queueFull): full += 1
                case .failure(DistributedError.idempotencyConflict): conflicts += 1
                case .failure(let error): Issue.record("task \(i): \(error)")
                }
            }
            #expect(keyedIDs.count <= 1, "one task for the key: \(keyedIDs)")
            let stored = try await broker.client.send(["XLEN", broker.keys.stream]).int ?? 0
            #expect(stored == 150, "max pending holds: \(stored) queued")
            #expect(ids.count + keyedIDs.count + 1 == 150, "each accepted submit its own task")
            #expect(full + conflicts + ids.count + keyedIDs.count > 0)
            #expect(full >= 40, "\(full) refused as full")
            for id in ids {
                let text = try await broker.client.send(["HGET", broker.keys.task(id), "payload"]).string ?? ""
                let input = try TaskPayload(jsonText: text).input
                #expect(input.hasPrefix("t"), "\(id): \(input)")
            }
        }
    }

    @Test("finishes that arrive together go out in fewer calls; each ends as finish.lua ends it, a stale lease is left alone")
    func finishesAreGrouped() async throws {
        try await withDistributedFixture { fixture in
            let broker = try fixture.broker()
            let n = 40
            for i in 0..<n {
                _ = try await broker.submit(TaskPayload(node: ["type": "agent", "name": "a", "model": "lua:m"], input: "t\(i)"), bundle: nil)
            }
            let batch = try await broker.claim(limit: n, workerID: "w1", starvationAgeMs: 0)
            let runs: [(String, String)] = batch.items.compactMap {
                if case .run(_, _, _, _, let lease, _) = $0.outcome { return ($0.claim.taskID, lease) }
                return nil
            }
            #expect(runs.count == n)
            func evalshaCalls() async throws -> Int { try await evalshaCount(broker) }
            let before = try await evalshaCalls()
            let flags = try await withThrowingTaskGroup(of: (Int, Bool).self) { group in
                for (i, (id, lease)) in runs.enumerated() {
                    group.addTask {
                        let failed = i % 10 == 1
                        let ok = try await broker.finish(id, status: failed ? .failed : .completed, result: failed ? "" : #"{"output":"ok"}"#,
                                                         error: failed ? "boom" : "",
                                                         terminal: StatusEvent(status: failed ? .error : .completed, agentName: "a"),
                                                         workerID: "w1", lease: i == 0 ? "stale" : lease, resultInEvent: true)
                        return (i, ok)
                    }
                }
                var out = [Bool](repeating: false, count: n)
                for try await (i, ok) in group { out[i] = ok }
                return out
            }
            let calls = try await evalshaCalls() - before
            #expect(flags[0] == false && flags.dropFirst().allSatisfy { $0 }, "\(flags)")
            #expect(calls < n, "\(calls) script calls for \(n) finishes")
            #expect(try await broker.status(runs[0].0)?.status == .running, "the stale lease's outcome is not recorded")
            #expect(try await broker.client.send(["XLEN", broker.keys.stream]).int == 1, "only the stale one's entry is left")
            let pending = try await broker.client.send(["XPENDING", broker.keys.stream, QueueKeys.group]).array?.first?.int
            #expect(pending == 1)
            #expect(try await broker.client.send(["XLEN", broker.keys.dead]).int == 4)
            for (id, _) in runs.dropFirst() {
                let goes = try await broker.client.pipeline([["ZSCORE", broker.keys.expiringTasks, id], ["ZSCORE", broker.keys.expiringEvents, id]])
                    .map { Int64($0.string ?? "") ?? 0 }
                #expect(goes[0] > TaskBroker.nowMs() + Int64(broker.settings.taskTTL - 60) * 1000, "the hash is kept for the task TTL")
                #expect(goes[1] > TaskBroker.nowMs() + Int64(broker.settings.eventsTTL - 60) * 1000, "the stream for the events TTL")
                #expect(try await broker.client.send(["XLEN", broker.keys.events(id)]).int == 1)
            }
            let minute = TaskBroker.nowMs() / 60_000
            var completed = 0, failed = 0
            for m in [minute - 1, minute] {
                completed += Int(try await broker.client.send(["GET", broker.keys.counter("completed", minute: m)]).string ?? "0") ?? 0
                failed += Int(try await broker.client.send(["GET", broker.keys.counter("failed", minute: m)]).string ?? "0") ?? 0
                #expect(try await broker.client.send(["TTL", broker.keys.counter("completed", minute: m)]).int ?? 0 != -1)
            }
            #expect(completed == n - 5 && failed == 4, "completed \(completed), failed \(failed)")
        }
    }

    @Test("the finish batcher keeps at most `lanes` calls under way, answers each outcome with its own flag and loses none")
    func batcherLanes() async throws {
        let batcher = GroupCommit<Int, Bool>(limit: 8, lanes: 2)
        final class Tally: Sendable { let counts = Mutex((now: 0, most: 0, calls: 0, items: 0)) }
        let tally = Tally()
        let flags = try await withThrowingTaskGroup(of: (Int, Bool).self) { group in
            for i in 0..<60 {
                group.addTask {
                    (i, try await batcher.run(i) { batch in
                        tally.counts.withLock { $0.now += 1; $0.most = max($0.most, $0.now); $0.calls += 1; $0.items += batch.count }
                        try await Task.sleep(for: .milliseconds(5))
                        tally.counts.withLock { $0.now -= 1 }
                        #expect(batch.count <= 8)
                        return batch.map { $0 % 3 != 0 }
                    })
                }
            }
            var out: [Int: Bool] = [:]
            for try await (i, flag) in group { out[i] = flag }
            return out
        }
        #expect(flags.count == 60 && flags.allSatisfy { $0.value == ($0.key % 3 != 0) }, "each caller gets its own item's flag")
        let seen = tally.counts.withLock { $0 }
        #expect(seen.most <= 2, "\(seen.most) calls under way at once")
        #expect(seen.items == 60 && seen.calls < 60, "\(seen.calls) calls for 60 outcomes")
    }
}
