import Foundation
@testable import OrbiterRedis
import OrbiterTestSupport
import Testing

/// Tests against the shared server from `ORBITER_TEST_REDIS_URL` (keys are unique per test).
/// Serialized: many bound how long a call, a cancellation or a connect takes.
@Suite("Redis client", .serialized)
struct RedisClientTests {
    @Test("reply types")
    func replyTypes() async throws {
        let client = try await sharedClient()
        defer { client.close() }
        let key = uniqueKey(), list = uniqueKey()
        #expect(try await client.send(["PING"]) == .status("PONG"))
        #expect(try await client.send(["SET", key, "41"]) == .status("OK"))
        #expect(try await client.send(["INCR", key]) == .integer(42))
        #expect(try await client.send(["GET", key]).int == 42)
        #expect(try await client.send(["GET", key]).string == "42")
        #expect(try await client.send(["GET", uniqueKey()]).isNull)
        _ = try await client.send(["RPUSH", list, "a", "b", "c"])
        #expect(try await client.send(["LRANGE", list, 0, -1]).array?.compactMap(\.string) == ["a", "b", "c"])
        #expect(try await client.send(["EVAL", "return {1, {'x', 2}}", 0])
                == .array([.integer(1), .array([.bulk(Array("x".utf8)), .integer(2)])]))
        await #expect {
            try await client.send(["LPUSH", key, "x"])
        } throws: { error in
            guard case RedisError.server(let m) = error else { return false }
            return m.hasPrefix("WRONGTYPE")
        }
        #expect(try await client.send(["PING"]) == .status("PONG"), "an error reply leaves the connection usable")
        _ = try await client.send(["DEL", key, list])
    }

    @Test("bulk strings are binary-safe")
    func bulkStringsAreBinarySafe() async throws {
        let client = try await sharedClient()
        defer { client.close() }
        let value = (0..<2048).map { UInt8(truncatingIfNeeded: $0 &* 7) } + [0, 13, 10, 0]
        var key = Array(uniqueKey().utf8)
        key += [0, 13, 10, 255]
        #expect(try await client.send(["SET", key, value]) == .status("OK"))
        #expect(try await client.send(["GET", key]) == .bulk(value))
        #expect(try await client.send(["STRLEN", key]) == .integer(Int64(value.count)))
        #expect(try await client.send(["SET", key, [UInt8]()]) == .status("OK"))
        #expect(try await client.send(["GET", key]) == .bulk([]))
        _ = try await client.send(["DEL", key])
    }

    @Test("a pipeline keeps errors inline")
    func pipelineKeepsErrorsInline() async throws {
        let client = try await sharedClient()
        defer { client.close() }
        let key = uniqueKey()
        let replies = try await client.pipeline([
            ["SET", key, "abc"],
            ["INCR", key],
            ["GET", key],
            ["DEL", key],
        ])
        #expect(replies.count == 4)
        #expect(replies[0] == .status("OK"))
        guard case .error(let m) = replies[1] else { Issue.record("expected an error, got \(replies[1])"); return }
        #expect(m.hasPrefix("ERR"))
        #expect(replies[2].string == "abc")
        #expect(replies[3] == .integer(1))
        #expect(try await client.pipeline([]) == [])
    }

    @Test("many concurrent sends are all answered correctly")
    func manyConcurrentSendsAreAllAnsweredCorrectly() async throws {
        let client = try await sharedClient()
        defer { client.close() }
        let counter = uniqueKey()
        let tasks = 64, perTask = 157   // 10 048 commands
        let mismatches = try await withThrowingTaskGroup(of: Int.self) { group in
            for t in 0..<tasks {
                group.addTask {
                    var bad = 0
                    for i in 0..<perTask {
                        if i % 2 == 0 {
                            let payload = "task \(t) call \(i)"
                            if try await client.send(["ECHO", payload]).string != payload { bad += 1 }
                        } else {
                            if try await client.send(["INCR", counter]).int == nil { bad += 1 }
                        }
                    }
                    return bad
                }
            }
            return try await group.reduce(0, +)
        }
        #expect(mismatches == 0)
        #expect(try await client.send(["GET", counter]).int == Int64(tasks * (perTask / 2)))
        _ = try await client.send(["DEL", counter])
    }

    @Test("scripts run by SHA")
    func scriptsRunBySha() async throws {
        let client = try await sharedClient()
        defer { client.close() }
        let key = uniqueKey()
        let script = RedisScript(name: "incrby", source: "return redis.call('INCRBY', KEYS[1], ARGV[1])")
        #expect(try await client.run(script, keys: [key], args: [5]) == .integer(5))
        #expect(try await client.run(script, keys: [key], args: [2]) == .integer(7))
        let loaded = try await client.send(["SCRIPT", "LOAD", script.source])
        #expect(loaded.string == script.sha1)
        let broken = RedisScript(name: "broken", source: "return (")
        await #expect {
            try await client.run(broken, keys: [], args: [])
        } throws: { error in
            guard case RedisError.server(let m) = error else { return false }
            return m.contains("broken")
        }
        _ = try await client.send(["DEL", key])
    }

    @Test("a blocking read gets data")
    func blockingReadGetsData() async throws {
        let client = try await sharedClient()
        defer { client.close() }
        let list = uniqueKey(), stream = uniqueKey()
        async let popped = client.blocking(["BLPOP", list, 5])
        async let read = client.blocking(["XREAD", "BLOCK", 5000, "STREAMS", stream, "$"])
        try await Task.sleep(for: .milliseconds(200))
        _ = try await client.send(["RPUSH", list, "job-1"])
        _ = try await client.send(["XADD", stream, "*", "field", "value"])
        let p = try await popped
        #expect(p.array?.compactMap(\.string) == [list, "job-1"])
        let r = try await read
        // [[stream, [[id, [field, value]]]]]
        let entry = r.array?.first?.array?[1].array?.first?.array?[1].array?.compactMap(\.string)
        #expect(entry == ["field", "value"])
        #expect(try await client.blocking(["BLPOP", list, "0.05"]).isNull, "a timed-out BLPOP is nil")
        await #expect(throws: RedisError.self) { try await client.blocking(["BLPOP"]) }
        _ = try await client.send(["DEL", list, stream])
    }

    @Test("cancelling a blocking call returns promptly")
    func cancellingABlockingCallReturnsPromptly() async throws {
        let client = try await sharedClient()
        defer { client.close() }
        let list = uniqueKey()
        let task = Task { try await client.blocking(["BLPOP", list, 0]) }
        try await Task.sleep(for: .milliseconds(300))
        #expect(try await client.send(["PING"]) == .status("PONG"), "main connection serves while another blocks")
        let start = ContinuousClock.now
        task.cancel()
        let result = await task.result
        let elapsed = seconds(since: start)
        #expect(elapsed < 0.5, "cancellation took \(elapsed)s")
        #expect(throws: RedisError.self) { try result.get() }
        if case .failure(let e) = result { #expect("\(e)" == "\(RedisError.cancelled)") }
        // Still fully usable, including the blocking pool.
        #expect(try await client.send(["PING"]) == .status("PONG"))
        _ = try await client.send(["RPUSH", list, "after"])
        #expect(try await client.blocking(["BLPOP", list, 1]).array?.last?.string == "after")

        // Already-cancelled callers fail at once without touching Redis.
        let pre = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await client.blocking(["BLPOP", list, 0])
        }
        let preResult = await pre.result
        #expect(throws: RedisError.self) { try preResult.get() }
    }

    @Test("blocking calls do not stall the cooperative pool")
    func blockingCallsDoNotStallTheCooperativePool() async throws {
        let client = try await sharedClient()
        defer { client.close() }
        let list = uniqueKey()
        let blocked = (0..<4).map { _ in Task { try await client.blocking(["BLPOP", list, 1]) } }
        try await Task.sleep(for: .milliseconds(100))
        let start = ContinuousClock.now
        for _ in 0..<20 {
            try await Task.sleep(for: .milliseconds(5))
            _ = try await client.send(["PING"])
        }
        let elapsed = seconds(since: start)
        #expect(elapsed < 0.6, "20 short sleeps + pings took \(elapsed)s while 4 BLPOPs were pending")
        for t in blocked { #expect(try await t.value.isNull) }
    }

    @Test("subscribe receives published messages")
    func subscribeReceivesPublishedMessages() async throws {
        let client = try await sharedClient()
        defer { client.close() }
        let channel = uniqueKey(), other = uniqueKey()
        let stream = try await client.subscribeConfirmed([channel, other])
        #expect(try await client.send(["PUBLISH", channel, [UInt8]([0, 1, 2, 255])]) == .integer(1))
        #expect(try await client.send(["PUBLISH", other, "second"]) == .integer(1))
        var it = stream.makeAsyncIterator()
        let first = try await it.next()
        #expect(first?.channel == channel)
        #expect(first?.message == [0, 1, 2, 255])
        let second = try await it.next()
        #expect(second?.channel == other)
        #expect(second?.message == Array("second".utf8))
    }

    @Test("a plain subscribe ends when the consumer is cancelled")
    func plainSubscribeEndsWhenTheConsumerIsCancelled() async throws {
        let client = try await sharedClient()
        defer { client.close() }
        let channel = uniqueKey()
        let stream = client.subscribe([channel])
        let consumer = Task { () -> [String] in
            var got: [String] = []
            for try await m in stream { got.append(String(decoding: m.message, as: UTF8.self)) }
            return got
        }
        // Publish until the subscription is live (PUBLISH answers the number of receivers).
        var receivers: Int64 = 0
        let deadline = ContinuousClock.now + .seconds(5)
        while receivers == 0 && ContinuousClock.now < deadline {
            receivers = try await client.send(["PUBLISH", channel, "hello"]).int ?? 0
            if receivers == 0 { try await Task.sleep(for: .milliseconds(10)) }
        }
        #expect(receivers == 1)
        try await Task.sleep(for: .milliseconds(100))
        let start = ContinuousClock.now
        consumer.cancel()
        let got = try await consumer.value
        #expect(seconds(since: start) < 0.5)
        #expect(got.first == "hello")
        // The dedicated connection is gone: nobody listens any more.
        try await Task.sleep(for: .milliseconds(100))
        #expect(try await client.send(["PUBLISH", channel, "late"]) == .integer(0))
    }

    @Test("reconnects after CLIENT KILL")
    func reconnectsAfterClientKill() async throws {
        let client = try await sharedClient()
        let admin = try await sharedClient()
        defer { client.close(); admin.close() }
        let id = try #require(try await client.send(["CLIENT", "ID"]).int)
        #expect(try await admin.send(["CLIENT", "KILL", "ID", id]) == .integer(1))
        try await Task.sleep(for: .milliseconds(50))
        #expect(try await client.send(["PING"]) == .status("PONG"), "the dead idle connection is replaced")
        let newID = try #require(try await client.send(["CLIENT", "ID"]).int)
        #expect(newID != id)
    }

    @Test("selects the database")
    func selectsTheDatabase() async throws {
        var url = try sharedRedisURL()
        url.database = 3
        let db3 = RedisClient(url: url)
        url.database = 4
        let db4 = RedisClient(url: url)
        defer { db3.close(); db4.close() }
        let key = uniqueKey()
        _ = try await db3.send(["SET", key, "three"])
        #expect(try await db3.send(["GET", key]).string == "three")
        #expect(try await db4.send(["GET", key]).isNull)
        _ = try await db3.send(["DEL", key])
    }

    @Test("a closed port fails fast, with the URL masked")
    func closedPortFailsFastWithMaskedURL() async throws {
        let port = try freePort()
        let client = RedisClient(url: try RedisURL("redis://:hunter2@127.0.0.1:\(port)"), connectTimeout: .seconds(2))
        defer { client.close() }
        let start = ContinuousClock.now
        do {
            try await client.connect()
            Issue.record("connect to a closed port succeeded")
        } catch RedisError.connection(let message) {
            #expect(message.contains("redis://:***@127.0.0.1:\(port)"), "\(message)")
            #expect(message.contains("Connection refused"), "\(message)")
            #expect(!message.contains("hunter2"))
        }
        await #expect(throws: RedisError.self) { try await client.send(["PING"]) }
        await #expect(throws: RedisError.self) { try await client.blocking(["BLPOP", "k", 0]) }
        #expect(seconds(since: start) < 1)
    }

    @Test("an unroutable host: the connect timeout holds")
    func unroutableHostHonoursConnectTimeout() async throws {
        let client = RedisClient(url: try RedisURL("redis://10.255.255.1:6379"), connectTimeout: .milliseconds(300))
        defer { client.close() }
        let start = ContinuousClock.now
        await #expect(throws: RedisError.self) { try await client.connect() }
        #expect(seconds(since: start) < 2)
    }

    @Test("a silent server: the connect timeout holds, with and without AUTH and SELECT",
          arguments: ["redis://127.0.0.1:PORT", "redis://:pw@127.0.0.1:PORT/2"])
    func silentServerHonoursConnectTimeout(template: String) async throws {
        // A listening socket that never accepts: TCP connects, but no Redis ever answers.
        let silent = SilentListener()
        defer { withExtendedLifetime(silent) {} }
        let url = template.replacingOccurrences(of: "PORT", with: "\(silent.port)")
        let client = RedisClient(url: try RedisURL(url), connectTimeout: .milliseconds(300))
        defer { client.close() }
        let start = ContinuousClock.now
        await #expect(throws: RedisError.self) { try await client.send(["PING"]) }
        let elapsed = seconds(since: start)
        #expect(elapsed < 1.5, "\(url) took \(elapsed)s")
    }

    @Test("close fails later commands and ends streams")
    func closeFailsLaterCommandsAndEndsStreams() async throws {
        let client = try await sharedClient()
        let list = uniqueKey()
        let stream = try await client.subscribeConfirmed([uniqueKey()])
        let blocked = Task { try await client.blocking(["BLPOP", list, 0]) }
        try await Task.sleep(for: .milliseconds(200))
        client.close()
        var count = 0
        for try await _ in stream { count += 1 }
        #expect(count == 0)
        let blockedResult = await blocked.result
        #expect(throws: RedisError.self) { try blockedResult.get() }
        await #expect(throws: RedisError.self) { try await client.send(["PING"]) }
    }
}
