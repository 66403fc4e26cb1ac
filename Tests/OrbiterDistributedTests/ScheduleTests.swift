import Foundation
import OrbiterCore
@testable import OrbiterClient
@testable import OrbiterQueue
@testable import OrbiterWorker
import OrbiterLua
import OrbiterTestSupport
import Testing

/// Schedules: each tick one task however many workers race, missed ticks per misfire policy,
/// `schedule run`, removal, and hostile schedule hashes in Redis.
@Suite("Schedules", .serialized)
struct ScheduleTests {
    /// An agent whose Lua model answers "tick" at once.
    func tickAgent() throws -> (LuaRuntime, Runnable) {
        try load(try temporaryScript("""
            local orbiter = require "orbiter"
            local m = orbiter.model { name = "m", respond = function() return "tick" end }
            return orbiter.agent { name = "ticker", model = m }
            """))
    }

    func schedule(_ name: String, _ timing: ScheduleTiming, misfire: MisfirePolicy = .once, input: String = "go") throws -> Schedule {
        let (runtime, root) = try tickAgent()
        let template = TaskPayload(node: root.toDict(), input: input, metadata: ["team": "ops"], bundle: runtime.bundle.sha256)
        return try Schedule(name: name, timing: timing, misfire: misfire, template: template, bundle: runtime.bundle)
    }

    /// Tasks of the queue made by schedule `name`, by tick.
    func tasks(of name: String, _ broker: TaskBroker) async throws -> [TaskResult] {
        try await broker.list(limit: 1000).filter { $0.metadata[Schedule.nameKey] == name }
    }

    func score(_ name: String, _ broker: TaskBroker) async throws -> Double? {
        try await broker.client.send(["ZSCORE", broker.keys.schedules, name]).string.flatMap(Double.init)
    }

    func worker(_ fixture: DistributedFixture, _ id: String, sweep: Duration = .milliseconds(50), secret: String? = nil) throws {
        var configuration = WorkerConfiguration(redisURL: fixture.redisURL, queue: fixture.queue, concurrency: 4, workerID: id,
                                                heartbeatTTL: 3, drainTimeout: .seconds(5),
                                                settings: QueueSettings(secret: secret))
        configuration.scheduleSweepInterval = sweep
        try fixture.start(configuration)
    }

    @Test("three workers racing fire each tick exactly once, and a removed schedule stops")
    func threeWorkersFireEachTickOnce() async throws {
        try await withDistributedFixture { fixture in
            let broker = try fixture.broker()
            for i in 1...3 { try worker(fixture, "race-\(i)-\(fixture.queue)") }
            try await broker.addSchedule(try schedule("beat", .every(seconds: 1)))
            try await eventually("four ticks", timeout: .seconds(15)) { try await tasks(of: "beat", broker).count >= 4 }
            #expect(try await broker.removeSchedule("beat"))
            let removedAt = Date()
            // Nothing is due any more: wait out two would-be ticks, then count.
            try await Task.sleep(for: .milliseconds(2200))
            let made = try await tasks(of: "beat", broker)
            let ticks = made.compactMap { $0.metadata[Schedule.tickKey] }
            #expect(Set(ticks).count == made.count, "one task per tick: \(ticks.sorted())")
            let times = ticks.compactMap { ISO8601DateFormatter().date(from: $0) }.sorted()
            #expect(times.count == made.count)
            for (a, b) in zip(times, times.dropFirst()) { #expect(b > a && b.timeIntervalSince(a).rounded() == b.timeIntervalSince(a)) }
            #expect(times.allSatisfy { $0 <= removedAt.addingTimeInterval(0.5) }, "no tick after the removal")
            #expect(made.allSatisfy { $0.metadata["team"] == "ops" })
            try await eventually("every tick's task to complete") {
                try await tasks(of: "beat", broker).allSatisfy { $0.status == .completed }
            }
            #expect(try await score("beat", broker) == nil)
            #expect(try await broker.removeSchedule("beat") == false, "removing twice says there was none")
        }
    }

    @Test("misfire once: ticks missed while no worker ran make one task, then the schedule goes on from now")
    func misfireOnceWithAWorker() async throws {
        try await withDistributedFixture { fixture in
            let broker = try fixture.broker()
            try await broker.addSchedule(try schedule("late", .every(seconds: 1)))
            // No worker for five ticks: the member still points at a tick five seconds ago.
            let missed = (TaskBroker.nowMs() / 1000 - 5) * 1000
            _ = try await broker.client.send(["ZADD", broker.keys.schedules, missed, "late"])
            let started = Date()
            try worker(fixture, "late-\(fixture.queue)")
            try await eventually("a tick after the worker started", timeout: .seconds(10)) {
                try await tasks(of: "late", broker).contains { ISO8601DateFormatter().date(from: $0.metadata[Schedule.tickKey] ?? "")! > started }
            }
            let made = try await tasks(of: "late", broker)
            let old = made.filter { ISO8601DateFormatter().date(from: $0.metadata[Schedule.tickKey] ?? "")! < started.addingTimeInterval(-1) }
            #expect(old.count == 1, "one task for the missed ticks: \(made.map { $0.metadata[Schedule.tickKey] ?? "" })")
            #expect(old.first?.metadata[Schedule.tickKey] == Schedule.tickText(missed))
            _ = try await broker.removeSchedule("late")
        }
    }

    @Test("misfire policies: once fires one task, all fires each missed tick, skip drops them")
    func misfirePolicies() async throws {
        try await withDistributedFixture { fixture in
            let broker = try fixture.broker()
            let t0 = Date(timeIntervalSince1970: 1_899_999_960) // 2030-03-17T17:46:00Z, a whole minute
            let now = Int64(1_899_999_960 + 6 * 60 + 1) * 1000  // ticks at +1 … +6 minutes have passed
            for policy in MisfirePolicy.allCases {
                try await broker.addSchedule(try schedule("m-\(policy)", .every(seconds: 60), misfire: policy), now: t0)
            }
            var fired: [String: [String]] = [:]
            for _ in 0..<10 {
                for case .fired(let name, let tick, _, true) in try await broker.fireDueSchedules(now: now).firings {
                    fired[name, default: []].append(tick)
                }
            }
            #expect(fired["m-once"] == ["2030-03-17T17:47:00Z"])
            #expect(fired["m-all"] == (1...6).map { Schedule.tickText((1_899_999_960 + Int64($0) * 60) * 1000) })
            #expect(fired["m-skip"] == nil)
            let next = Double((1_899_999_960 + 7 * 60) * 1000)
            for policy in MisfirePolicy.allCases { #expect(try await score("m-\(policy)", broker) == next, "\(policy)") }
            // On time, skip fires as the others do.
            let onTime = try await broker.fireDueSchedules(now: Int64(next) + 200).firings
            #expect(onTime.filter { if case .fired(_, _, _, true) = $0 { return true } else { return false } }.count == 3)
            let info = try #require(try await broker.schedule(named: "m-skip"))
            #expect(info.lastTick == Schedule.tickText(Int64(next)))
            #expect(info.lastTaskID != nil)
        }
    }

    @Test("schedule run submits a task now, and leaves the ticks alone")
    func runNow() async throws {
        try await withDistributedFixture { fixture in
            let broker = try fixture.broker()
            try await broker.addSchedule(try schedule("hand", .cron(try CronExpression("0 0 1 1 *")), input: "manual please"))
            let before = try await score("hand", broker)
            try worker(fixture, "hand-\(fixture.queue)")
            let id = try await broker.runSchedule("hand")
            let result = try await TaskHandle(taskID: id, broker: broker).result(timeout: .seconds(10))
            #expect(result["output"]?.stringValue == "tick")
            let status = try #require(try await broker.status(id))
            #expect(status.metadata[Schedule.nameKey] == "hand")
            #expect(status.metadata[Schedule.tickKey] == "manual")
            #expect(status.metadata["team"] == "ops")
            #expect(try await score("hand", broker) == before)
            await #expect(throws: DistributedError.self) { _ = try await broker.runSchedule("nope") }
        }
    }

    @Test("a schedule name is taken until replaced; bad names are refused")
    func namesAndReplace() async throws {
        try await withDistributedFixture { fixture in
            let broker = try fixture.broker()
            try await broker.addSchedule(try schedule("twice", .every(seconds: 60)))
            await #expect { try await broker.addSchedule(try schedule("twice", .every(seconds: 30))) } throws: { error in
                "\(error)".contains("already exists") && "\(error)".contains("--replace")
            }
            let (replaced, _) = try await broker.addSchedule(try schedule("twice", .every(seconds: 30)), replace: true)
            #expect(replaced)
            #expect(try await broker.schedule(named: "twice")?.schedule?.timing == .every(seconds: 30))
            for bad in ["", "has space", String(repeating: "x", count: 65), "a/b", "ü"] {
                #expect(throws: DistributedError.self) { _ = try schedule(bad, .every(seconds: 1)) }
            }
            #expect(try await broker.knownQueues().contains(fixture.queue))
        }
    }

    @Test("hostile schedule hashes neither crash nor wedge a worker")
    func hostileScheduleHashes() async throws {
        try await withDistributedFixture { fixture in
            let broker = try fixture.broker()
            let good = try schedule("good", .every(seconds: 1))
            let fields = Dictionary(uniqueKeysWithValues: good.fields(signature: ""))
            func plant(_ name: String, score: String = "0", _ change: (inout [String: String]) -> Void) async throws {
                var f = fields
                f["name"] = name
                change(&f)
                if !f.isEmpty { _ = try await broker.client.send(["HSET", broker.keys.schedule(name)] + f.flatMap { [$0.key, $0.value] }) }
                _ = try await broker.client.send(["ZADD", broker.keys.schedules, score, name])
            }
            try await plant("ghost") { $0 = [:] }                                   // a tick without a definition
            try await plant("bad-timing") { $0["timing"] = "every:banana" }
            try await plant("bad-cron") { $0["timing"] = "cron:99 * * * *" }
            try await plant("no-bundle") { $0["bundle"] = "" }
            try await plant("wrong-bundle") { $0["bundle"] = #"{"entry":"main.lua","modules":{"main.lua":"return 1"}}"# }
            try await plant("bad-template") { $0["template"] = "{not json" }
            try await plant("bad-misfire") { $0["misfire"] = "sometimes" }
            try await plant("no-created") { $0["created_at"] = nil }
            try await plant("minus-inf", score: "-inf") { _ in }
            let now = TaskBroker.nowMs()
            let sweep = try await broker.fireDueSchedules(now: now, limit: 20)
            func firing(_ name: String) -> ScheduleFiring? {
                sweep.firings.first {
                    switch $0 {
                    case .fired(let n, _, _, _), .skipped(let n, _), .broken(let n, _), .removed(let n), .failed(let n, _): return n == name
                    }
                }
            }
            #expect(firing("ghost") == .removed(name: "ghost"))
            for (name, field) in [("bad-timing", "timing"), ("bad-cron", "timing"), ("no-bundle", "bundle"), ("wrong-bundle", "bundle"),
                                  ("bad-template", "template"), ("bad-misfire", "misfire"), ("no-created", "created_at")] {
                guard case .broken(_, let reason)? = firing(name) else { Issue.record("\(name): \(String(describing: firing(name)))"); continue }
                #expect(reason.contains("field '\(field)'"), "\(name): \(reason)")
                #expect(try await score(name, broker) == Double(now + TaskBroker.brokenRetryMs), "looked at again in a minute")
                #expect(try await broker.schedule(named: name)?.lastError?.contains(field) == true)
            }
            guard case .skipped(_, let reason)? = firing("minus-inf") else { Issue.record("\(sweep.firings)"); return }
            #expect(reason.contains("not a time"))
            #expect((try await score("minus-inf", broker) ?? 0) > Double(now))
            #expect(try await score("ghost", broker) == nil)
            #expect(try await tasks(of: "minus-inf", broker).isEmpty)
            // `schedule list` shows the broken ones with their problem.
            let listed = try await broker.schedules()
            #expect(listed.first { $0.name == "bad-template" }?.problem?.contains("template") == true)

            // A worker meets them all again, and still fires a good schedule and runs ordinary tasks.
            for name in ["bad-timing", "bad-cron", "no-bundle", "wrong-bundle", "bad-template", "bad-misfire", "no-created"] {
                _ = try await broker.client.send(["ZADD", broker.keys.schedules, "0", name])
            }
            try await plant("ghost") { $0 = [:] }
            try await plant("minus-inf", score: "-inf") { _ in }
            try worker(fixture, "hostile-\(fixture.queue)")
            try await broker.addSchedule(good)
            try await eventually("the good schedule to fire", timeout: .seconds(10)) { try await !tasks(of: "good", broker).isEmpty }
            let (_, root) = try tickAgent()
            #expect(try await distributed(root, "x", broker: broker).result(timeout: .seconds(10))["output"]?.stringValue == "tick")
            #expect(try await score("ghost", broker) == nil)
            #expect((try await score("bad-template", broker) ?? 0) > Double(TaskBroker.nowMs()), "set aside for a minute")
        }
    }

    @Test("with ORBITER_SECRET, workers fire only schedules signed with it")
    func signedSchedules() async throws {
        try await withDistributedFixture { fixture in
            let signed = try TaskBroker(redisURL: fixture.redisURL, queue: fixture.queue, settings: QueueSettings(secret: "s3cret-value"))
            let unsigned = try TaskBroker(redisURL: fixture.redisURL, queue: fixture.queue, settings: QueueSettings(secret: nil))
            let other = try TaskBroker(redisURL: fixture.redisURL, queue: fixture.queue, settings: QueueSettings(secret: "another-secret"))
            try await signed.addSchedule(try schedule("ok", .every(seconds: 60)), now: Date(timeIntervalSince1970: 1_900_000_000))
            try await unsigned.addSchedule(try schedule("forged", .every(seconds: 60)), now: Date(timeIntervalSince1970: 1_900_000_000))
            try await other.addSchedule(try schedule("foreign", .every(seconds: 60)), now: Date(timeIntervalSince1970: 1_900_000_000))
            // Tampering with a signed definition breaks it too.
            _ = try await signed.client.send(["HSET", signed.keys.schedule("ok"), "misfire", "all"])
            try await signed.addSchedule(try schedule("fine", .every(seconds: 60)), now: Date(timeIntervalSince1970: 1_900_000_000))
            let firings = try await signed.fireDueSchedules(now: (1_900_000_000 + 61) * 1000).firings
            var outcome: [String: String] = [:]
            for firing in firings {
                switch firing {
                case .fired(let n, _, _, _): outcome[n] = "fired"
                case .broken(let n, let reason): outcome[n] = reason
                default: break
                }
            }
            #expect(outcome["fine"] == "fired")
            for name in ["ok", "forged", "foreign"] {
                #expect(outcome[name]?.contains("signature") == true, "\(name): \(outcome[name] ?? "nil")")
            }
            await #expect(throws: DistributedError.self) { _ = try await signed.runSchedule("forged") }
        }
    }
}
