import Foundation
@testable import OrbiterRedis
import OrbiterTestSupport
import Testing

/// `redis-cluster://` against a real cluster of six servers on loopback (three masters, three replicas).
@Suite("Redis Cluster", .serialized)
struct ClusterTests {
    /// A client of the cluster, with short timeouts so a dead node fails fast.
    static func client(_ cluster: PrivateCluster) throws -> RedisClient {
        RedisClient(url: try RedisURL(cluster.url), connectTimeout: .seconds(1))
    }

    /// One key per master (`{prefixN}:k`), with that master's port.
    static func keysOnEachMaster(_ cluster: PrivateCluster, prefix: String) -> [(key: String, port: Int)] {
        cluster.onEachMaster { "{\(prefix)\($0)}:k" }.map { (key: $0.name, port: $0.port) }
    }

    /// A plain client of one node (no routing): what that node itself holds.
    static func direct(_ port: Int) throws -> RedisClient {
        RedisClient(url: try RedisURL("redis://127.0.0.1:\(port)"), connectTimeout: .seconds(1))
    }

    @Test("commands and split pipelines reach the master of each key's slot; replies come back in order")
    func routesBySlot() async throws {
        let cluster = try PrivateCluster()
        let client = try Self.client(cluster)
        defer { client.close() }
        try await client.connect()
        let keys = Self.keysOnEachMaster(cluster, prefix: "route")
        #expect(keys.count == 3)
        for (i, k) in keys.enumerated() { #expect(try await client.send(["SET", k.key, "v\(i)"]) == .status("OK")) }
        for (i, k) in keys.enumerated() {
            let node = try Self.direct(k.port)
            defer { node.close() }
            #expect(try await node.send(["GET", k.key]).string == "v\(i)", "\(k.key) is stored on its master \(k.port)")
        }
        // One pipeline over three nodes, interleaved, with an error reply inline and a keyless command.
        let replies = try await client.pipeline(keys.flatMap { k in [["GET", k.key], ["INCR", k.key] as [any RedisArgument]] } + [["PING"]])
        #expect(replies.count == 7)
        for i in 0..<3 {
            #expect(replies[2 * i].string == "v\(i)")
            if case .error(let m) = replies[2 * i + 1] { #expect(m.contains("not an integer")) } else { Issue.record("INCR of text: \(replies[2 * i + 1])") }
        }
        #expect(replies[6] == .status("PONG"))
        // Scripts: NOSCRIPT on every node after SCRIPT FLUSH, loaded where they run.
        for port in cluster.masters().map(\.port) {
            let node = try Self.direct(port)
            _ = try await node.send(["SCRIPT", "FLUSH"])
            node.close()
        }
        let script = RedisScript(name: "echo", source: "return redis.call('GET', KEYS[1])")
        for (i, k) in keys.enumerated() { #expect(try await client.run(script, keys: [k.key], args: []).string == "v\(i)") }
        let keyless = RedisScript(name: "one", source: "return 1")
        #expect(try await client.run(keyless, keys: [], args: []).int == 1)
    }

    @Test("blocking reads, the shared stream reader and pub/sub go to the node of their key")
    func dedicatedConnectionsFollowTheirKey() async throws {
        let cluster = try PrivateCluster()
        let client = try Self.client(cluster)
        defer { client.close() }
        let keys = Self.keysOnEachMaster(cluster, prefix: "stream")
        for k in keys { _ = try await client.send(["XADD", k.key, "*", "f", k.key]) }
        for k in keys {
            let reply = try await client.blocking(["XREAD", "COUNT", 1, "BLOCK", 1000, "STREAMS", k.key, "0"])
            #expect(reply.array?.first?.array?.first?.string == k.key)
        }
        // Three waits at once on three nodes, served as entries arrive.
        try await withThrowingTaskGroup(of: String?.self) { group in
            for k in keys {
                group.addTask {
                    let reply = try await client.streamReader.read(key: k.key, after: "9999999999999-0", block: .seconds(10))
                    return reply.array?.first?.array?.first?.string
                }
            }
            try await Task.sleep(for: .milliseconds(200))
            for k in keys { _ = try await client.send(["XADD", k.key, "9999999999999-5", "f", "late"]) }
            var got: [String] = []
            for try await key in group { got.append(key ?? "none") }
            #expect(got.sorted() == keys.map(\.key).sorted())
        }
        let channel = keys[2].key
        let messages = try await client.subscribeConfirmed([channel])
        #expect(try await client.send(["PUBLISH", channel, "hello"]).int ?? 0 >= 1)
        for try await message in messages {
            #expect(message.channel == channel && String(decoding: message.message, as: UTF8.self) == "hello")
            break
        }
    }

    @Test("a slot moved after the map was read: MOVED is followed and the map refreshed; ASK once during a migration")
    func followsMovedAndAsk() async throws {
        let cluster = try PrivateCluster()
        let client = try Self.client(cluster)
        defer { client.close() }
        let keys = Self.keysOnEachMaster(cluster, prefix: "move")
        #expect(try await client.send(["GET", keys[0].key]).isNull) // the map is loaded now
        let (from, to) = (keys[0].port, keys[1].port)
        let slot = HashSlot.of(keys[0].key)
        let fromID = PrivateSentinels.cli(from, ["cluster", "myid"]).trimmingCharacters(in: .whitespacesAndNewlines)
        let toID = PrivateSentinels.cli(to, ["cluster", "myid"]).trimmingCharacters(in: .whitespacesAndNewlines)
        // ASK: the slot is migrating from → to; a key `from` does not hold is asked of `to`.
        _ = PrivateSentinels.cli(to, ["cluster", "setslot", "\(slot)", "importing", fromID])
        _ = PrivateSentinels.cli(from, ["cluster", "setslot", "\(slot)", "migrating", toID])
        #expect(try await client.send(["SET", keys[0].key, "asked"]) == .status("OK"))
        let target = try Self.direct(to)
        defer { target.close() }
        #expect(try await target.send(["ASKING"]) == .status("OK"))
        #expect(try await target.send(["GET", keys[0].key]).string == "asked", "the write went to the importing node")
        // MOVED: the migration ends; the client's map still names `from`.
        for node in cluster.nodes { _ = PrivateSentinels.cli(node.port, ["cluster", "setslot", "\(slot)", "node", toID]) }
        #expect(try await client.send(["GET", keys[0].key]).string == "asked")
        #expect(try await client.send(["SET", keys[0].key, "moved"]) == .status("OK"))
        #expect(try await target.send(["GET", keys[0].key]).string == "moved")
        #expect(cluster.masterPort(forSlot: slot) == to)
        // A pipeline's write redirected by MOVED: the keyless command after it (here CLUSTER MYID,
        // in real use WAIT) is sent again on the node that took the write.
        let other = HashSlot.of(keys[2].key)
        for node in cluster.nodes { _ = PrivateSentinels.cli(node.port, ["cluster", "setslot", "\(other)", "node", toID]) }
        let replies = try await client.pipeline([["SET", keys[2].key, "moved too"], ["CLUSTER", "MYID"]])
        #expect(replies[0] == .status("OK") && replies[1].string == toID, "\(replies)")
        #expect(try await target.send(["GET", keys[2].key]).string == "moved too")
    }

    @Test("a master killed: commands fail as lost connections until its replica takes over, then reach it")
    func followsAFailover() async throws {
        let cluster = try PrivateCluster()
        let client = try Self.client(cluster)
        defer { client.close() }
        let keys = Self.keysOnEachMaster(cluster, prefix: "failover")
        let victim = keys[1]
        _ = try await client.pipeline([["SET", victim.key, "kept"], ["WAIT", 1, 2000]])
        cluster.node(port: victim.port)?.kill()
        var lost = 0
        let deadline = ContinuousClock.now + .seconds(30)
        while true {
            do {
                #expect(try await client.send(["GET", victim.key]).string == "kept", "the replica had it (WAIT 1)")
                break
            } catch RedisError.connection(let m) {
                lost += 1
                #expect(m.contains("127.0.0.1") || m.contains("Redis Cluster"), "\(m)")
                guard ContinuousClock.now < deadline else { throw TestFailure("no failover within 30 s: \(m)") }
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        #expect(lost > 0, "the master's death was seen")
        #expect(cluster.masterPort(forSlot: HashSlot.of(victim.key)) != victim.port)
        #expect(try await client.blocking(["BLPOP", victim.key + ":list", "0.05"]).isNull, "dedicated connections follow too")
        #expect(try await client.send(["SET", keys[0].key, "other masters were fine"]) == .status("OK"))
    }

    @Test("a URL that is not a cluster, a cluster without slots, or nothing listening: a clear error naming the URL")
    func badClustersAreNamed() async throws {
        let plain = try PrivateRedis(persistent: false)
        let client = RedisClient(url: try RedisURL("redis-cluster://127.0.0.1:\(plain.port)"), connectTimeout: .seconds(1))
        defer { client.close() }
        await #expect { try await client.connect() } throws: { error in
            "\(error)".contains("redis-cluster://127.0.0.1:\(plain.port)") && "\(error)".contains("is not a cluster node")
                && "\(error)".contains("without cluster=1")
        }
        let lonely = try PrivateRedis(persistent: false, arguments: ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"],
                                      port: try freeClusterPort())
        let empty = RedisClient(url: try RedisURL("redis://127.0.0.1:\(lonely.port)?cluster=1"), connectTimeout: .seconds(1))
        defer { empty.close() }
        await #expect { try await empty.send(["GET", "k"]) } throws: { "\($0)".contains("knows no slots yet") }
        let port = try freePort()
        let nobody = RedisClient(url: try RedisURL("redis-cluster://127.0.0.1:\(port)"), connectTimeout: .seconds(1))
        defer { nobody.close() }
        await #expect { try await nobody.connect() } throws: { error in
            "\(error)".contains("no node of the Redis Cluster at redis-cluster://127.0.0.1:\(port)") && "\(error)".contains("127.0.0.1:\(port):")
        }
    }
}
