import Foundation
import Testing
@testable import OrbiterRedis

@Suite("Redis Cluster URLs and slots")
struct ClusterURLTests {
    @Test("redis-cluster:// lists seed nodes with credentials; the first seed is host and port")
    func seeds() throws {
        let u = try RedisURL("redis-cluster://alice:s3cret@10.0.0.1:7000,node-b,[::1]:7002?db=0")
        #expect(u.cluster?.seeds == [.init(host: "10.0.0.1", port: 7000), .init(host: "node-b", port: 6379), .init(host: "::1", port: 7002)])
        #expect(u.host == "10.0.0.1" && u.port == 7000 && u.username == "alice" && u.password == "s3cret" && u.database == 0)
        #expect(u.description == "redis-cluster://alice:***@10.0.0.1:7000,node-b:6379,[::1]:7002")
        let v = try RedisURL("redis://127.0.0.1:7000/0?cluster=1")
        #expect(v.cluster?.seeds == [.init(host: "127.0.0.1", port: 7000)])
        #expect(try RedisURL("redis://127.0.0.1:7000?cluster=0").cluster == nil)
        #expect(try RedisURL("redis://127.0.0.1:7000").cluster == nil)
    }

    @Test("bad cluster URLs name the problem", arguments: [
        ("redis-cluster://h1:7000?db=2", "a Redis Cluster has only database 0 (got db=2)"),
        ("redis-cluster://h1:7000/3", "only database 0 (got db=3)"),
        ("redis://h1:7000/1?cluster=1", "only database 0 (got db=1)"),
        ("redis-cluster://", "no cluster nodes"),
        ("redis-cluster://h1:7000,,h2", "empty node in the list"),
        ("redis-cluster://h1:70000", "node 'h1:70000': port '70000'"),
        ("redis-cluster://h1:7000/x", "database 'x'"),
        ("redis://h1?cluster=maybe", "cluster=maybe is not 1 or 0"),
        ("redis-cluster://h1?timeout=3", "unknown query parameter 'timeout'"),
        ("cluster://h1", "unsupported scheme 'cluster'"),
    ])
    func badURLsNameTheProblem(input: String, expected: String) {
        expectInvalidURL(input, naming: expected)
    }

    @Test("hash slots match Redis (CLUSTER KEYSLOT) and honour hash tags")
    func hashSlots() {
        #expect(HashSlot.of("foo") == 12182)
        #expect(HashSlot.of("hello") == 866)
        #expect(HashSlot.of("123456789") == 12739)
        #expect(HashSlot.of("{orbiter:a}:task:1") == HashSlot.of("orbiter:a"))
        #expect(HashSlot.of("{orbiter:a}:queue") == HashSlot.of("{orbiter:a}:events:x"))
        #expect(HashSlot.of("{}foo") == HashSlot.of("{}foo") && HashSlot.of("{}foo") != HashSlot.of("foo"), "an empty tag hashes the whole key")
        #expect(HashSlot.of("foo{bar}{zap}") == HashSlot.of("bar"), "the first tag counts")
        #expect(HashSlot.of("") == 0)
    }

    @Test("each command is routed by the key where Redis reads it")
    func commandKeys() {
        func slot(_ args: [any RedisArgument]) -> Int? { EncodedCommand(args).hashSlot }
        let q = HashSlot.of("orbiter:q")
        #expect(slot(["HGET", "{orbiter:q}:task:1", "status"]) == q)
        #expect(slot(["evalsha", "abc", 2, "{orbiter:q}:queue", "x", "arg"]) == q)
        #expect(slot(["EVALSHA", "abc", 0, "arg"]) == nil, "a script without keys may run anywhere")
        #expect(slot(["XREAD", "COUNT", 1, "BLOCK", 5, "STREAMS", "{orbiter:q}:queue", "0"]) == q)
        #expect(slot(["XREADGROUP", "GROUP", "g", "c", "streams", "{orbiter:q}:queue", ">"]) == q)
        #expect(slot(["XGROUP", "CREATE", "{orbiter:q}:queue", "g", "0"]) == q)
        #expect(slot(["MEMORY", "USAGE", "{orbiter:q}:task:1"]) == q)
        #expect(slot(["SCAN", 0, "MATCH", "{orbiter:q}:*", "COUNT", 10]) == q)
        #expect(slot(["SCAN", 0, "MATCH", "orbiter*"]) == nil && slot(["SCAN", 0, "MATCH", "{orb*}:x"]) == nil)
        #expect(slot(["PUBLISH", "{orbiter:q}:control:w1", "cancel"]) == q)
        for keyless: [any RedisArgument] in [["INFO", "server"], ["WAIT", "1", "100"], ["SCRIPT", "LOAD", "return 1"], ["PING"],
                                             ["CONFIG", "GET", "x"], ["CLIENT", "UNBLOCK", 3], ["TIME"], ["ROLE"]] {
            #expect(slot(keyless) == nil, "\(keyless)")
        }
        #expect(slot(["XREAD", "COUNT", 1]) == nil, "no STREAMS: no key (Redis answers the syntax error)")
    }

    @Test("MOVED and ASK replies parse; anything else is not a redirect")
    func redirects() {
        let moved = ClusterRedirect(.error("MOVED 3999 127.0.0.1:6381"))
        #expect(moved?.ask == false && moved?.slot == 3999 && moved?.node == .init(host: "127.0.0.1", port: 6381))
        let ask = ClusterRedirect(.error("ASK 12 [::1]:7000"))
        #expect(ask?.ask == true && ask?.node == .init(host: "::1", port: 7000))
        #expect(ClusterRedirect(.error("MOVED 12 :7001"))?.node == .init(host: "", port: 7001))
        #expect(ClusterRedirect(.error("ERR MOVED 1 h:2")) == nil && ClusterRedirect(.status("MOVED 1 h:2")) == nil)
        #expect(ClusterRedirect(.error("MOVED x h:2")) == nil && ClusterRedirect(.error("MOVED 1 h")) == nil)
    }

    @Test("a CLUSTER SLOTS reply becomes a slot map; a malformed one is refused, never half-read")
    func slotMaps() throws {
        func node(_ ip: String, _ port: Int) -> RedisReply { .array([.bulk(Array(ip.utf8)), .integer(Int64(port)), .bulk(Array("id".utf8))]) }
        let reply = RedisReply.array([
            .array([.integer(5461), .integer(16383), node("10.0.0.2", 7001), node("10.0.0.5", 7004)]),
            .array([.integer(0), .integer(5460), node("", 7000), node("10.0.0.4", 7003)]),
        ])
        let map = try ClusterSlotMap(slotsReply: reply, askedHost: "seed")
        #expect(map.masters == [.init(host: "seed", port: 7000), .init(host: "10.0.0.2", port: 7001)], "ordered by first slot; empty ip is the asked node")
        #expect(map.master(forSlot: 0)?.port == 7000 && map.master(forSlot: 5461)?.port == 7001 && map.master(forSlot: 16383)?.port == 7001)
        #expect(map.coveredSlots == 16384 && map.nodes.count == 4)
        let partial = try ClusterSlotMap(slotsReply: .array([.array([.integer(0), .integer(99), node("h", 1)])]), askedHost: "h")
        #expect(partial.coveredSlots == 100 && partial.master(forSlot: 100) == nil)
        for bad: RedisReply in [.status("OK"), .array([.array([.integer(5), .integer(2), node("h", 1)])]),
                                .array([.array([.integer(0), .integer(16384), node("h", 1)])]),
                                .array([.array([.integer(-1), .integer(3), node("h", 1)])]),
                                .array([.array([.integer(0), .integer(3), node("h", 0)])]),
                                .array([.array([.integer(0), .integer(3)])]),
                                .array([.array([.bulk(Array("x".utf8)), .integer(3), node("h", 1)])])] {
            #expect(throws: RedisError.self, "\(bad)") { try ClusterSlotMap(slotsReply: bad, askedHost: "h") }
        }
    }
}
