import Foundation
import OrbiterClient
import OrbiterCore
import OrbiterLua
@testable import OrbiterQueue
import OrbiterRedis
import OrbiterTestSupport
@testable import OrbiterWorker
import Testing

/// A run's events that still wait when it ends ride in its finish call: appended before the
/// terminal event in the same atomic step, each once, only under the run's lease.
@Suite("Events in the finish", .serialized)
struct FinishEventsTests {
    func text(_ s: String) -> String { StreamEvent.text(TextEvent(text: s, agentName: "a")).jsonString }

    /// The task's stream as (text or "<outcome>" for the terminal entry), in order.
    func streamed(_ broker: TaskBroker, _ taskID: String) async throws -> [String] {
        let reply = try await broker.client.send(["XRANGE", broker.keys.events(taskID), "-", "+"])
        return StreamReplies.entries(reply).map { entry in
            if let outcome = entry.fields["outcome"] { return "<\(outcome)>" }
            if case .text(let t)? = StreamReplies.events([entry]).first?.event { return t.text }
            return "?"
        }
    }

    func started(_ broker: TaskBroker, _ count: Int) async throws -> [(id: String, lease: String)] {
        var ids: [String] = []
        for i in 0..<count { ids.append(try await distributed(try sleeper(0), "t\(i)", broker: broker).taskID) }
        return zip(ids, try await startAsGhost(broker, count: count)).map { ($0, $1.lease) }
    }

    func finish(_ broker: TaskBroker, _ run: (id: String, lease: String), events: TaskBroker.RunEvents?,
                usage: [ModelUsage] = []) async throws -> Bool {
        try await broker.finish(run.id, status: .completed, result: #"{"output":"ok"}"#, error: "",
                                terminal: StatusEvent(status: .completed, agentName: "a"), workerID: "ghost", lease: run.lease,
                                resultInEvent: true, usage: usage, events: events)
    }

    @Test("the waiting events are stored before the terminal event, each once (also after a lost append reply); a stale lease stores none")
    func waitingEventsRideInTheFinish() async throws {
        try await withDistributedFixture { fixture in
            let broker = try fixture.broker()
            let runs = try await started(broker, 4)
            let (a, b, c, d) = (runs[0], runs[1], runs[2], runs[3])
            // a: its first event was appended on its own; the next two ride in the batched finish.
            #expect(try await broker.append([.init(taskID: a.id, lease: a.lease, firstSeq: 1, events: [text("a1")])]) == [true])
            #expect(try await finish(broker, a, events: .init(taskID: a.id, lease: a.lease, firstSeq: 2, events: [text("a2"), text("a3")])))
            #expect(try await streamed(broker, a.id) == ["a1", "a2", "a3", "<completed>"])
            // b: an append whose reply was lost stored b1 and b2; the finish carries them again.
            #expect(try await broker.append([.init(taskID: b.id, lease: b.lease, firstSeq: 1, events: [text("b1"), text("b2")])]) == [true])
            #expect(try await finish(broker, b, events: .init(taskID: b.id, lease: b.lease, firstSeq: 1, events: [text("b1"), text("b2"), text("b3")])))
            #expect(try await streamed(broker, b.id) == ["b1", "b2", "b3", "<completed>"])
            // c: the run lost its lease; neither its outcome nor its events are stored.
            _ = try await broker.client.send(["HSET", broker.keys.task(c.id), "lease", "taken-over"])
            #expect(try await finish(broker, c, events: .init(taskID: c.id, lease: c.lease, firstSeq: 1, events: [text("c1")])) == false)
            #expect(try await streamed(broker, c.id) == [])
            // d: a run that used a model finishes through finish.lua (it also counts the usage).
            let usage = [ModelUsage(model: "m", inputTokens: 3, outputTokens: 4, cost: nil)]
            #expect(try await finish(broker, d, events: .init(taskID: d.id, lease: d.lease, firstSeq: 1, events: [text("d1"), text("d2")]), usage: usage))
            #expect(try await streamed(broker, d.id) == ["d1", "d2", "<completed>"])
            #expect(try await broker.client.send(["ZSCORE", broker.keys.expiringEvents, d.id]).string != nil)
        }
    }

    @Test("finish and finish_many refuse event counts that do not add up, naming the script, and change nothing")
    func malformedBatchIsRefused() async throws {
        try await withDistributedFixture { fixture in
            let broker = try fixture.broker()
            let run = try await started(broker, 1)[0]
            let keys = [broker.keys.stream, broker.keys.dead, broker.keys.expiringTasks, broker.keys.expiringEvents,
                        broker.keys.task(run.id), broker.keys.events(run.id),
                        broker.keys.counter("completed", minute: 0)]
            let head: [any RedisArgument] = [QueueKeys.group, 60, 60, 1000, run.id, "ghost", run.lease, "completed", "{}", "", "{}", "1", "1", 1]
            let counts: [any RedisArgument] = [3, -1, "x", "0.5"]
            for count in counts {
                let args: [any RedisArgument] = head + [count, text("e")]
                let error = await #expect(throws: RedisError.self) {
                    _ = try await broker.client.run(QueueScripts.finishMany, keys: keys, args: args)
                }
                #expect(error.map { "\($0)" }?.contains("finish_many") == true, "\(String(describing: error))")
            }
            // finish.lua: an event count that is not the count of the values after it.
            let one = [broker.keys.task(run.id), broker.keys.stream, broker.keys.events(run.id), broker.keys.dead,
                       broker.keys.counter("completed", minute: 0), broker.keys.expiringTasks, broker.keys.expiringEvents]
            for count in counts {
                let args: [any RedisArgument] = [QueueKeys.group, "ghost", "completed", "{}", "", "{}", "1", 60, 60, run.id, "1", run.lease,
                                                 1000, 1, count, text("e")]
                let error = await #expect(throws: RedisError.self) {
                    _ = try await broker.client.run(QueueScripts.finish, keys: one, args: args)
                }
                #expect(error.map { "\($0)" }?.contains("finish") == true, "\(String(describing: error))")
            }
            #expect(try await broker.status(run.id)?.status == .running)
            #expect(try await streamed(broker, run.id) == [])
        }
    }

    @Test("publish does not wait for each event: what waits when the run ends is handed to its finish, after what is on its way")
    func handOffTakesTheWaitingEvents() async throws {
        try await withDistributedFixture { fixture in
            let broker = try fixture.broker()
            let run = try await started(broker, 1)[0]
            // A long window: after its first call the appender sends nothing for 30 s.
            let appender = EventAppender(broker: broker, window: .seconds(30))
            let publisher = EventPublisher(appender: appender, taskID: run.id, lease: run.lease) {}
            await publisher.publish(.text(TextEvent(text: "e1", agentName: "a")))
            try await eventually("e1 stored") { try await streamed(broker, run.id) == ["e1"] }
            await publisher.publish(.text(TextEvent(text: "e2", agentName: "a")))
            await publisher.publish(.text(TextEvent(text: "e3", agentName: "a")))
            #expect(try await streamed(broker, run.id) == ["e1"], "e2 and e3 wait for the appender's next call")
            let handed = await publisher.handOff()
            #expect(handed?.firstSeq == 2)
            #expect(handed?.events == [text("e2"), text("e3")])
            #expect(await publisher.handOff() == nil, "handed over once")
            await publisher.publish(.text(TextEvent(text: "late", agentName: "a")))
            await publisher.flush()
            #expect(try await finish(broker, run, events: handed))
            #expect(try await streamed(broker, run.id) == ["e1", "e2", "e3", "<completed>"])
            #expect(appender.calls == 1)
        }
    }

    @Test("a busy worker's short tasks: every stream holds the task's text, then its terminal event; their texts mostly ride in the finish")
    func busyWorkerStreamsStayWhole() async throws {
        try await withDistributedFixture { fixture in
            let root = try load(try temporaryScript("""
                local orbiter = require "orbiter"
                local m = orbiter.model { name = "m", respond = function(req) return "echo " .. req.messages[#req.messages].content end }
                return orbiter.agent { name = "echo", model = m }
                """)).1
            try fixture.startWorker(concurrency: 32)
            let broker = try fixture.broker()
            let n = 300
            let handles = try await distributedMany(root, (0..<n).map { BatchInput("t\($0)") }, broker: broker)
            for handle in handles { _ = try await handle.result(timeout: .seconds(30)) }
            var rodeInFinish = 0
            for (i, handle) in handles.enumerated() {
                #expect(try await streamed(broker, handle.taskID) == ["echo t\(i)", "<completed>"])
                let seq = try await broker.client.send(["HGET", broker.keys.task(handle.taskID), "seq"]).string
                if seq == "0" { rodeInFinish += 1 }
            }
            #expect(rodeInFinish > 0, "no task's text rode in its finish")
            print("events in the finish: \(rodeInFinish) of \(n) tasks")
        }
    }
}
