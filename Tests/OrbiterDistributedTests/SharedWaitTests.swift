import Foundation
import OrbiterClient
import OrbiterCore
import OrbiterLua
@testable import OrbiterQueue
@testable import OrbiterRedis
import OrbiterTestSupport
import OrbiterWorker
import Synchronization
import Testing

/// Waiters on one client share one blocking connection: a hundred `result()` waits hold one
/// `XREAD` connection, not a hundred.
@Suite(.serialized) struct SharedWaitTests {
    func connectedClients(_ probe: RedisClient) async throws -> Int {
        let info = try await probe.send(["INFO", "clients"]).string ?? ""
        let line = info.split(whereSeparator: \.isNewline).first { $0.hasPrefix("connected_clients:") } ?? ""
        return Int(line.split(separator: ":").last ?? "") ?? -1
    }

    /// A first wait on `quiet` (it starts the client's shared read); `joinAfter` later a second on
    /// `busy`; `addAfter` later an entry on `busy`. Returns the entries the second wait got, the time
    /// from its join to its reply, and the first wait (still waiting).
    func joinWhileBlocked(_ client: RedisClient, quiet: String, busy: String, joinAfter: Duration, addAfter: Duration)
        async throws -> (entries: Int, waited: Duration, idle: Task<RedisReply, any Error>) {
        let idle = Task { try await client.streamReader.read(key: quiet, after: "0", block: .seconds(5)) }
        if joinAfter > .zero { try await Task.sleep(for: joinAfter) }
        let started = ContinuousClock.now
        let joined = Task { try await client.streamReader.read(key: busy, after: "0", block: .seconds(5)) }
        try await Task.sleep(for: addAfter)
        _ = try await client.send(["XADD", busy, "*", "event", "x"])
        let reply = try await joined.value
        return (StreamReplies.firstStream(reply).count, ContinuousClock.now - started, idle)
    }

    @Test("100 waits for results share one connection, and each gets its own task's result")
    func hundredWaitsOneConnection() async throws {
        let folder = try temporaryFolder("shared-wait", files: ["echo.lua": """
            return orbiter.agent { name = "echo", model = orbiter.model { name = "m", respond = function(req)
              orbiter.sleep(0.3)
              return "echo " .. req.messages[#req.messages].content
            end } }
            """])
        let root = try LuaRuntime(file: folder.appendingPathComponent("echo.lua").path).root()
        let queue = "shared-" + UUID().uuidString.prefix(8).lowercased(), url = try TestRedis.url()
        let probe = RedisClient(url: try RedisURL(url))
        let broker = try TaskBroker(redisURL: url, queue: queue)
        var handles: [TaskHandle] = []
        for i in 0..<100 { handles.append(try await distributed(root, "n\(i)", broker: broker)) }
        let before = try await connectedClients(probe)

        let worker = try Worker(configuration: WorkerConfiguration(redisURL: url, queue: queue, concurrency: 100))
        let running = Task { try await worker.run() }
        defer { worker.stop() }
        final class Peak: Sendable { let value = Mutex(0) }
        let peak = Peak()
        let outputs = try await withThrowingTaskGroup(of: (Int, String).self) { group in
            for (i, handle) in handles.enumerated() {
                group.addTask { (i, try await handle.result(timeout: .seconds(30))["output"]?.stringValue ?? "") }
            }
            // While they wait (the tasks sleep 0.3 s), count this process's connections.
            group.addTask {
                for _ in 0..<5 {
                    try await Task.sleep(for: .milliseconds(40))
                    let now = try await connectedClients(probe)
                    peak.value.withLock { $0 = max($0, now) }
                }
                return (-1, "")
            }
            var outputs = [String](repeating: "", count: handles.count)
            for try await (i, output) in group where i >= 0 { outputs[i] = output }
            return outputs
        }
        #expect(outputs == (0..<100).map { "echo n\($0)" })
        // Each result() read its task's stream to the end: none is left in the shared read.
        #expect(handles.filter { broker.client.streamReader.isFollowing(key: broker.keys.events($0.taskID)) }.isEmpty)
        // The worker's own connections (main, claim, control, leases…) are a handful; the 100
        // waits add one shared reader, where before each held its own.
        let added = peak.value.withLock { $0 } - before
        #expect(added < 20, "the waits and the worker added \(added) connections")
        worker.stop()
        try await running.value
    }

    @Test("a waiter that joins while the shared read blocks is served at once, not after the block")
    func joiningWaiterIsServedAtOnce() async throws {
        let url = try TestRedis.url()
        let client = RedisClient(url: try RedisURL(url))
        let quiet = "shared-quiet-" + UUID().uuidString, busy = "shared-busy-" + UUID().uuidString
        // One waiter keeps the shared read blocked on a quiet stream.
        let (entries, waited, idle) = try await joinWhileBlocked(client, quiet: quiet, busy: busy, joinAfter: .milliseconds(100),
                                                                 addAfter: .milliseconds(20))
        #expect(entries == 1)
        #expect(waited < .milliseconds(500), "served after \(waited): the block of the first read (5 s) was not cut short")
        idle.cancel()
        await #expect(throws: CancellationError.self) { _ = try await idle.value }
        _ = try await client.send(["DEL", busy])
    }

    @Test("a waiter that joins while the shared read's connection is being made is read too, not after the block")
    func waiterJoiningDuringConnectIsRead() async throws {
        let url = try TestRedis.url()
        // Each round a fresh client: its reader's first loop opens a connection (CLIENT ID is a
        // round trip) before its first read. The second waiter joins a moment after the first,
        // at a different moment each round, so some rounds join during that round trip.
        for round in 0..<24 {
            let client = RedisClient(url: try RedisURL(url))
            let quiet = "shared-cq-" + UUID().uuidString
            var busy = "shared-cb-" + UUID().uuidString
            // The same part of the reader (keys are spread over parts by hash), so one read has both.
            while SharedStreamReader.shard(of: busy) != SharedStreamReader.shard(of: quiet) { busy = "shared-cb-" + UUID().uuidString }
            let (entries, waited, idle) = try await joinWhileBlocked(client, quiet: quiet, busy: busy, joinAfter: .microseconds(50 * round),
                                                                     addAfter: .milliseconds(10))
            #expect(entries == 1)
            #expect(waited < .milliseconds(500), "round \(round): served after \(waited), when the first read's block ended (up to 1 s)")
            idle.cancel()
            _ = try? await idle.value
            _ = try await client.send(["DEL", busy])
        }
    }

    @Test("forget drops a stream nobody waits on from the shared read at once; a stream still waited on stays")
    func forgetDropsIdleStreams() async throws {
        let client = RedisClient(url: try RedisURL(try TestRedis.url()))
        let key = "shared-f-" + UUID().uuidString
        _ = try await client.send(["XADD", key, "*", "event", "x"])
        let reply = try await client.streamReader.read(key: key, after: "0", block: .seconds(1))
        let served = ContinuousClock.now
        #expect(StreamReplies.firstStream(reply).count == 1)
        // Without forget the stream lingers (200 ms) for a follower that comes back.
        let lingering = client.streamReader.isFollowing(key: key)
        if ContinuousClock.now - served < .milliseconds(150) { #expect(lingering) }
        client.streamReader.forget(key: key)
        #expect(!client.streamReader.isFollowing(key: key))
        // With a waiter on it, forget leaves the stream: the waiter still gets its entry.
        let last = try #require(StreamReplies.firstStream(reply).last).id
        let waiting = Task { try await client.streamReader.read(key: key, after: last, block: .seconds(5)) }
        try await Task.sleep(for: .milliseconds(50))
        client.streamReader.forget(key: key)
        #expect(client.streamReader.isFollowing(key: key))
        _ = try await client.send(["XADD", key, "*", "event", "y"])
        #expect(StreamReplies.firstStream(try await waiting.value).count == 1)
        _ = try await client.send(["DEL", key])
    }

    @Test("a wait ends empty when its time is up, and cancelling one wait leaves the others")
    func timeoutsAndCancellation() async throws {
        let client = RedisClient(url: try RedisURL(try TestRedis.url()))
        let key = "shared-t-" + UUID().uuidString
        let started = ContinuousClock.now
        let timedOut = try await client.streamReader.read(key: key, after: "0", block: .milliseconds(200))
        #expect(timedOut == .null)
        #expect(ContinuousClock.now - started >= .milliseconds(190))
        let cancelled = Task { try await client.streamReader.read(key: key, after: "0", block: .seconds(5)) }
        let kept = Task { try await client.streamReader.read(key: key, after: "0", block: .seconds(5)) }
        try await Task.sleep(for: .milliseconds(50))
        cancelled.cancel()
        _ = try await client.send(["XADD", key, "*", "event", "y"])
        #expect(StreamReplies.firstStream(try await kept.value).count == 1)
        await #expect(throws: CancellationError.self) { _ = try await cancelled.value }
        _ = try await client.send(["DEL", key])
    }
}
