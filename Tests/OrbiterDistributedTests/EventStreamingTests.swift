import Foundation
import OrbiterClient
import OrbiterCore
import OrbiterLua
import OrbiterModels
@testable import OrbiterQueue
import OrbiterRedis
import OrbiterTestSupport
@testable import OrbiterWorker
import Synchronization
import Testing

/// Streaming at scale: one `append.lua` call carries many runs' events (each run still judged by
/// its own lease), and followers sharing one `XREAD` see every event of their task, in order.
@Suite("Event streaming", .serialized)
struct EventStreamingTests {
    /// The texts of a task's stored text events, in stream order.
    func storedTexts(_ broker: TaskBroker, _ taskID: String) async throws -> [String] {
        try await EventSubscriber(broker: broker).replay(taskID).compactMap { stored in
            if case .text(let t) = stored.event { return t.text } else { return nil }
        }
    }

    func text(_ s: String) -> String { StreamEvent.text(TextEvent(text: s, agentName: "a")).jsonString }

    @Test("one append call stores several runs' events; a run whose lease is lost gets none, the others all")
    func batchedAppendJudgesEachRunByItsLease() async throws {
        try await withDistributedFixture { fixture in
            let broker = try fixture.broker()
            var ids: [String] = []
            for i in 0..<3 { ids.append(try await distributed(try sleeper(0), "t\(i)", broker: broker).taskID) }
            let started = try await startAsGhost(broker, count: 3)
            // Claimed in submit order: lease i is task i's.
            let (a, b, c) = (ids[0], ids[1], ids[2])
            // Another worker took b over: start.lua gave it a new token.
            _ = try await broker.client.send(["HSET", broker.keys.task(b), "lease", "taken-over"])
            let runs = [
                TaskBroker.RunEvents(taskID: a, lease: started[0].lease, firstSeq: 1, events: [text("a1"), text("a2")]),
                TaskBroker.RunEvents(taskID: b, lease: started[1].lease, firstSeq: 1, events: [text("b1")]),
                TaskBroker.RunEvents(taskID: c, lease: started[2].lease, firstSeq: 1, events: [text("c1"), text("c2"), text("c3")]),
            ]
            #expect(try await broker.append(runs) == [true, false, true])
            #expect(try await storedTexts(broker, a) == ["a1", "a2"])
            #expect(try await storedTexts(broker, b) == [])
            #expect(try await storedTexts(broker, c) == ["c1", "c2", "c3"])
            let ttl = try await broker.client.send(["TTL", broker.keys.events(a)]).int ?? -1
            #expect(ttl > 0, "the run's first event sets the stream's TTL")

            // The same call again (its reply was lost): nothing is stored twice; a run's next
            // batch follows on, in the same call as another run's resend.
            let raw = try await broker.client.run(QueueScripts.append,
                                                  keys: [broker.keys.task(a), broker.keys.events(a), broker.keys.task(c), broker.keys.events(c)],
                                                  args: [1000, 60, started[0].lease, 1, 2, text("a1"), text("a2"),
                                                         started[2].lease, 3, 2, text("c3"), text("c4")])
            #expect(raw.array?.compactMap(\.int) == [2, 1])
            #expect(try await storedTexts(broker, a) == ["a1", "a2"])
            #expect(try await storedTexts(broker, c) == ["c1", "c2", "c3", "c4"], "c3 resent is stored once, c4 follows")
            #expect(try await broker.client.send(["HGET", broker.keys.task(c), "seq"]).int == 4)
        }
    }

    @Test("many runs publishing at once share append calls, and every event is stored once, in order")
    func publishersShareAppendCalls() async throws {
        try await withDistributedFixture { fixture in
            let broker = try fixture.broker()
            let runs = 20, perRun = 30
            var ids: [String] = []
            for i in 0..<runs { ids.append(try await distributed(try sleeper(0), "t\(i)", broker: broker).taskID) }
            let started = try await startAsGhost(broker, count: runs)
            let appender = EventAppender(broker: broker, window: .milliseconds(5))
            final class Count: Sendable { let value = Mutex(0) }
            let lost = Count()
            await withTaskGroup(of: Void.self) { group in
                for (id, run) in zip(ids, started) {
                    group.addTask {
                        let publisher = EventPublisher(appender: appender, taskID: id, lease: run.lease) { lost.value.withLock { $0 += 1 } }
                        for n in 0..<perRun { await publisher.publish(.text(TextEvent(text: "\(n)", agentName: "a"))) }
                        await publisher.flush()
                    }
                }
            }
            for id in ids {
                #expect(try await storedTexts(broker, id) == (0..<perRun).map(String.init))
            }
            #expect(lost.value.withLock { $0 } == 0)
            let calls = appender.calls
            #expect(calls < runs * perRun / 4, "\(runs * perRun) events took \(calls) append calls")
        }
    }

    /// A worker whose `openai` provider is `server`, running `count` tasks of an agent that streams.
    func streamingSetup(_ fixture: DistributedFixture, server: FakeModelServer, concurrency: Int) throws -> Runnable {
        let providers = BuiltinProviders.registry(environment: ["OPENAI_BASE_URL": server.baseURL + "/v1", "OPENAI_API_KEY": "sk-test"])
        var options = LuaRuntime.Options()
        options.providers = providers
        let folder = try temporaryFolder("streaming", files: [
            "streamer.lua": #"return orbiter.agent { name = "streamer", model = "openai:fake", max_steps = 1 }"#,
        ])
        let root = try LuaRuntime(file: folder.appendingPathComponent("streamer.lua").path, options: options).root()
        var configuration = WorkerConfiguration(redisURL: fixture.redisURL, queue: fixture.queue, concurrency: concurrency)
        configuration.providers = providers
        try fixture.start(configuration)
        return root
    }

    /// A reply of `count` deltas `<i>;`, one every `interval`.
    func deltaTurn(_ count: Int, every interval: Duration) -> FakeModelServer.Turn {
        .openAIStream((0..<count).map { OpenAIChunk.text("\($0);").after(interval) }
                      + [OpenAIChunk.finish("stop"), OpenAIChunk.usage(prompt: 5, completion: count)])
    }

    @Test("one follower per task, many tasks streaming at once: each follower sees every delta of its task, in order")
    func everyFollowerSeesEveryDeltaInOrder() async throws {
        try await withDistributedFixture { fixture in
            let server = try await FakeModelServer.start()
            defer { Task { try? await server.stop() } }
            let tasks = 40, deltas = 50
            server.enqueue(Array(repeating: deltaTurn(deltas, every: .milliseconds(4)), count: tasks))
            let root = try streamingSetup(fixture, server: server, concurrency: tasks)
            let broker = try fixture.broker()
            let seen = try await withThrowingTaskGroup(of: [String].self) { group in
                for i in 0..<tasks {
                    group.addTask {
                        let handle = try await distributed(root, "go \(i)", broker: broker, detailed: true)
                        return try await collectOrThrow(handle.stream()).compactMap { event in
                            if case .text(let t) = event { return t.text } else { return nil }
                        }
                    }
                }
                return try await group.reduce(into: [[String]]()) { $0.append($1) }
            }
            let expected = (0..<deltas).map { "\($0);" }
            #expect(seen.count == tasks)
            for texts in seen { #expect(texts == expected) }
        }
    }

    @Test("a run that loses its lease while its deltas share append calls with others stops; the others stream on complete")
    func lostLeaseDuringBatchedAppends() async throws {
        try await withDistributedFixture { fixture in
            let server = try await FakeModelServer.start()
            defer { Task { try? await server.stop() } }
            let tasks = 8, deltas = 60
            server.enqueue(Array(repeating: deltaTurn(deltas, every: .milliseconds(10)), count: tasks))
            let root = try streamingSetup(fixture, server: server, concurrency: tasks)
            let broker = try fixture.broker()
            var handles: [TaskHandle] = []
            for i in 0..<tasks { handles.append(try await distributed(root, "go \(i)", broker: broker, detailed: true)) }
            let victim = handles[0].taskID
            try await eventually("the victim's deltas to flow") { try await storedTexts(broker, victim).count >= 5 }
            // Another worker takes the task over (start.lua gives it a new lease token).
            _ = try await broker.client.send(["HSET", broker.keys.task(victim), "lease", "taken-over"])
            let expected = (0..<deltas).map { "\($0);" }
            for handle in handles.dropFirst() {
                let texts = try await collectOrThrow(handle.stream()).compactMap { event -> String? in
                    if case .text(let t) = event { return t.text } else { return nil }
                }
                #expect(texts == expected)
            }
            let stored = try await storedTexts(broker, victim)
            #expect(stored.count < deltas, "the run went on appending after its lease was lost")
            #expect(stored == Array(expected.prefix(stored.count)), "what it stored is a gapless prefix")
            try await Task.sleep(for: .milliseconds(300))
            #expect(try await storedTexts(broker, victim) == stored, "the cancelled run stopped appending")
        }
    }

    @Test("followers sharing one read, with writers appending to many streams at once, each see every entry in order")
    func sharedReaderUnderConcurrentWriters() async throws {
        let client = RedisClient(url: try RedisURL(try TestRedis.url()))
        let writer = RedisClient(url: try RedisURL(try TestRedis.url()))
        let prefix = "shared-many-" + UUID().uuidString.prefix(8) + "-"
        let streams = 200, entries = 40
        let seen = try await withThrowingTaskGroup(of: (Int, [String]).self) { group in
            for s in 0..<streams {
                group.addTask {
                    var last = "0", got: [String] = []
                    while got.count < entries {
                        let reply = try await client.streamReader.read(key: prefix + "\(s)", after: last, block: .seconds(10))
                        let read = StreamReplies.firstStream(reply)
                        #expect(!read.isEmpty, "a wait for stream \(s) ended empty after \(got.count) entries")
                        if read.isEmpty { break }
                        for entry in read { got.append(entry.fields["n"] ?? "?") }
                        last = read.last!.id
                        // Some followers take their time, so entries pile up while they are away.
                        if s % 7 == 0 { try await Task.sleep(for: .milliseconds(3)) }
                    }
                    return (s, got)
                }
            }
            group.addTask {
                for n in 0..<entries {
                    _ = try await writer.pipeline((0..<streams).map { ["XADD", prefix + "\($0)", "*", "n", "\(n)"] })
                    try await Task.sleep(for: .milliseconds(2))
                }
                return (-1, [])
            }
            var seen: [Int: [String]] = [:]
            for try await (s, got) in group where s >= 0 { seen[s] = got }
            return seen
        }
        let expected = (0..<entries).map(String.init)
        #expect(seen.count == streams)
        for (s, got) in seen.sorted(by: { $0.key < $1.key }) { #expect(got == expected, "stream \(s)") }
        // A second follower from the start of a stream the first has read is served all of it.
        let again = StreamReplies.firstStream(try await client.streamReader.read(key: prefix + "3", after: "0", block: .seconds(2)))
        #expect(again.map { $0.fields["n"] ?? "?" } == expected)
        _ = try await writer.pipeline((0..<streams).map { ["DEL", prefix + "\($0)"] })
    }
}
