import Foundation
@testable import OrbiterRedis
import OrbiterTestSupport
import Testing

/// `redis-sentinel://` against real servers: a master, a replica and three sentinels on loopback.
@Suite("Redis Sentinel", .serialized)
struct SentinelTests {
    @Test("finds the master through the sentinels, skips a dead sentinel, and follows a failover")
    func followsAFailover() async throws {
        let group = try PrivateSentinels()
        let deadSentinel = try freePort()
        let url = try RedisURL(group.url.replacingOccurrences(of: "://", with: "://127.0.0.1:\(deadSentinel),"))
        let client = RedisClient(url: url, connectTimeout: .seconds(1))
        defer { client.close() }
        #expect(try await client.send(["SET", "before", "1"]) == .status("OK"))
        #expect(try await port(of: client) == group.master.port)

        group.master.kill()
        var failures = 0
        let deadline = ContinuousClock.now + .seconds(30)
        while true {
            do {
                _ = try await client.send(["SET", "after", "2"])
                break
            } catch RedisError.connection(let m) {
                failures += 1
                #expect(m.contains("127.0.0.1:\(group.master.port)") || m.contains("no Redis master 'mymaster'"), "\(m)")
                guard ContinuousClock.now < deadline else { throw TestFailure("no failover within 30 s: \(m)") }
                try await Task.sleep(for: .milliseconds(200))
            }
        }
        #expect(failures > 0, "the master's death was noticed")
        #expect(try await port(of: client) == group.replica.port, "the promoted replica is the master now")
        #expect(try await client.send(["GET", "after"]).string == "2")
        #expect(try await client.blocking(["BLPOP", "nothing", "0.05"]).isNull, "dedicated connections follow too")
    }

    @Test("a demoted master's READONLY drops the connection, and ROLE refuses a sentinel's stale answer")
    func demotedMasterIsNotUsed() async throws {
        let group = try PrivateSentinels()
        let client = RedisClient(url: try RedisURL(group.url), connectTimeout: .seconds(1))
        defer { client.close() }
        #expect(try await client.send(["SET", "k", "1"]) == .status("OK"))

        // Demote the master behind the sentinels' back (its clients stay connected).
        let admin = RedisClient(url: try RedisURL("redis://127.0.0.1:\(group.master.port)"))
        defer { admin.close() }
        _ = try await admin.send(["REPLICAOF", "127.0.0.1", group.replica.port])
        do {
            _ = try await client.send(["SET", "k", "2"])
            Issue.record("a write on a demoted master succeeded")
        } catch RedisError.connection(let m) {
            #expect(m.contains("is no longer the master of 'mymaster'") && m.contains("READONLY"), "\(m)")
        }
        // The sentinels still name the old master; ROLE shows it is a replica, so it is not used.
        do {
            _ = try await client.send(["PING"])
            Issue.record("connected to a demoted master")
        } catch RedisError.connection(let m) {
            #expect(m.contains("named 127.0.0.1:\(group.master.port), which is a slave now"), "\(m)")
            for port in group.sentinelPorts { #expect(m.contains("sentinel 127.0.0.1:\(port)"), "\(m)") }
        }

        let unknown = RedisClient(url: try RedisURL(group.url.replacingOccurrences(of: "/mymaster", with: "/othermaster")))
        defer { unknown.close() }
        await #expect {
            try await unknown.connect()
        } throws: { error in
            "\(error)".contains("does not monitor a master named 'othermaster'")
        }
    }

    @Test("all sentinels down: a clear error naming each of them")
    func allSentinelsDown() async throws {
        let ports = [try freePort(), try freePort()]
        let client = RedisClient(url: try RedisURL("redis-sentinel://:pw@127.0.0.1:\(ports[0]),127.0.0.1:\(ports[1])/mymaster?sentinel_password=spw"),
                                 connectTimeout: .seconds(1))
        defer { client.close() }
        let start = ContinuousClock.now
        do {
            try await client.connect()
            Issue.record("connected without sentinels")
        } catch RedisError.connection(let m) {
            #expect(m.contains("no Redis master 'mymaster' found through the sentinels"), "\(m)")
            for port in ports { #expect(m.contains("sentinel 127.0.0.1:\(port): cannot connect"), "\(m)") }
            #expect(!m.contains("spw") && !m.contains(":pw@"), "\(m)")
        }
        #expect(ContinuousClock.now - start < .seconds(3))
    }

    @Test("a plain Redis server listed as a sentinel is named as not being one")
    func plainServerIsNotASentinel() async throws {
        let shared = try sharedRedisURL()
        let client = RedisClient(url: try RedisURL("redis-sentinel://127.0.0.1:\(shared.port)/mymaster"), connectTimeout: .seconds(1))
        defer { client.close() }
        do {
            _ = try await client.send(["PING"])
            Issue.record("a plain server was taken for a sentinel")
        } catch RedisError.connection(let m) {
            #expect(m.contains("sentinel 127.0.0.1:\(shared.port):") && m.contains("not a sentinel"), "\(m)")
        }
    }

    private func port(of client: RedisClient) async throws -> Int? {
        let reply = try await client.send(["CONFIG", "GET", "port"])
        return reply.array?.last?.string.flatMap { Int($0) }
    }
}
