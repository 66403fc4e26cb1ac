import Foundation
import Testing
@testable import OrbiterRedis

@Suite("Redis URLs")
struct RedisURLTests {
    @Test("a host alone defaults the port and database")
    func hostOnlyDefaultsPortAndDatabase() throws {
        let u = try RedisURL("redis://localhost")
        #expect(u.host == "localhost")
        #expect(u.port == 6379)
        #expect(u.database == 0)
        #expect(u.password == nil && u.username == nil && u.unixPath == nil)
        #expect(u.description == "redis://localhost:6379")
    }

    @Test("the full form")
    func fullForm() throws {
        let u = try RedisURL("redis://alice:s3cret@redis.example:6380/4")
        #expect(u.host == "redis.example")
        #expect(u.port == 6380)
        #expect(u.username == "alice")
        #expect(u.password == "s3cret")
        #expect(u.database == 4)
        #expect(u.description == "redis://alice:***@redis.example:6380/4")
        #expect(!"\(u)".contains("s3cret"))
    }

    @Test("a password without a user")
    func passwordOnly() throws {
        let u = try RedisURL("redis://:hunter2@127.0.0.1")
        #expect(u.username == nil)
        #expect(u.password == "hunter2")
        #expect(u.description == "redis://:***@127.0.0.1:6379")
    }

    @Test("percent-encoded and awkward passwords")
    func percentEncodedAndAwkwardPasswords() throws {
        let a = try RedisURL("redis://:p%40ss%3Aw%2Frd@h:1")
        #expect(a.password == "p@ss:w/rd")
        let b = try RedisURL("redis://:p@ss/word@h:2/3")   // unencoded '@' and '/' still parse
        #expect(b.password == "p@ss/word")
        #expect(b.host == "h" && b.port == 2 && b.database == 3)
    }

    @Test("IPv6 and a database in the query")
    func ipv6AndQueryDatabase() throws {
        let u = try RedisURL("redis://[::1]:7000?db=2")
        #expect(u.host == "::1")
        #expect(u.port == 7000)
        #expect(u.database == 2)
        #expect(u.description == "redis://[::1]:7000/2")
    }

    @Test("a Unix socket")
    func unixSocket() throws {
        let u = try RedisURL("unix:///var/run/redis.sock")
        #expect(u.unixPath == "/var/run/redis.sock")
        #expect(u.host == nil)
        #expect(u.database == 0)
        let v = try RedisURL("unix://:pw@/tmp/r.sock?db=5")
        #expect(v.unixPath == "/tmp/r.sock")
        #expect(v.password == "pw")
        #expect(v.database == 5)
        #expect(v.description == "unix://:***@/tmp/r.sock?db=5")
    }

    @Test("bad URLs name the problem", arguments: [
        ("localhost:6379", "missing scheme"),
        ("http://localhost", "unsupported scheme 'http'"),
        ("rediss://localhost?tls_cert=/c.pem", "needs its private key"),
        ("redis://localhost?tls_ca=/ca.pem", "tls_ca is a TLS setting: use a rediss:// (or rediss-sentinel://) URL"),
        ("rediss://h:7000?cluster=1", "Redis Cluster over TLS is not supported yet"),
        ("rediss://localhost?insecure=maybe", "insecure must be 1 or 0"),
        ("rediss://localhost?tls_ca=", "tls_ca is empty"),
        ("rediss://localhost?verify=0", "expected db, cluster, tls_ca, tls_cert, tls_key, tls_server_name or insecure"),
        ("redis://", "missing host"),
        ("redis://:6379", "missing host"),
        ("redis://host:abc", "port 'abc'"),
        ("redis://host:70000", "port '70000'"),
        ("redis://host/x", "database 'x'"),
        ("redis://host?db=-1", "database '-1'"),
        ("redis://host?timeout=3", "unknown query parameter 'timeout'"),
        ("redis://::1:6379", "IPv6 host must be written in brackets"),
        ("redis://[::1:6379", "unclosed '['"),
        ("unix://relative.sock", "absolute socket path"),
        ("redis://justapassword@host", "user info has no ':'"),
    ])
    func badURLsNameTheProblem(input: String, expected: String) {
        expectInvalidURL(input, naming: expected)
    }

    @Test("errors never show the password",
          arguments: ["redis://bob:topsecret@host:notaport", "redis://topsecret@host", "redis://:topsecret@:1"])
    func errorsNeverShowThePassword(input: String) throws {
        do {
            _ = try RedisURL(input)
            Issue.record("\(input) should not parse")
        } catch {
            #expect(!"\(error)".contains("topsecret"), "\(error)")
            #expect("\(error)".contains("***"), "\(error)")
        }
    }

    @Test("rediss:// takes its TLS files from the query, else from the environment, and shows them")
    func tlsURLs() throws {
        let plain = try RedisURL("rediss://bob:pw@cache.example.com:6380/2", environment: [:])
        #expect(plain.tls == RedisTLS() && plain.host == "cache.example.com" && plain.port == 6380 && plain.database == 2)
        #expect(plain.description == "rediss://bob:***@cache.example.com:6380/2")

        let env = ["ORBITER_REDIS_TLS_CA": "/env/ca.pem", "ORBITER_REDIS_TLS_CERT": "/env/c.pem", "ORBITER_REDIS_TLS_KEY": "/env/k.pem"]
        let fromEnv = try RedisURL("rediss://h", environment: env)
        #expect(fromEnv.tls == RedisTLS(caFile: "/env/ca.pem", certFile: "/env/c.pem", keyFile: "/env/k.pem"))
        let query = try RedisURL("rediss://h?tls_ca=/q/ca%20x.pem&tls_cert=/q/c.pem&tls_key=/q/k.pem&tls_server_name=redis.internal&insecure=1&db=4",
                                 environment: env)
        #expect(query.tls == RedisTLS(caFile: "/q/ca x.pem", certFile: "/q/c.pem", keyFile: "/q/k.pem",
                                      serverName: "redis.internal", insecure: true))
        #expect(query.database == 4)
        #expect(query.description.hasSuffix("?tls_ca=/q/ca x.pem&tls_cert=/q/c.pem&tls_key=/q/k.pem&tls_server_name=redis.internal&insecure=1"))
        // The environment's files never reach a plain URL, and a certificate never pairs with a key from elsewhere.
        #expect(try RedisURL("redis://h", environment: env).tls == nil)
        #expect(throws: RedisError.self) { try RedisURL("rediss://h?tls_cert=/q/c.pem", environment: env) }
        #expect(try RedisURL.fromEnvironment(env.merging(["ORBITER_REDIS_URL": "rediss://h"]) { a, _ in a }).tls?.caFile == "/env/ca.pem")

        let sentinels = try RedisURL("rediss-sentinel://:pw@s1,s2:26380/mymaster?db=2&tls_ca=/q/ca.pem&sentinel_password=sp", environment: [:])
        #expect(sentinels.tls == RedisTLS(caFile: "/q/ca.pem") && sentinels.sentinel?.masterName == "mymaster" && sentinels.database == 2)
        #expect(sentinels.description == "rediss-sentinel://:***@s1:26379,s2:26380/mymaster?db=2&sentinel_password=***&tls_ca=/q/ca.pem")
        #expect(try RedisURL("redis-sentinel://s1/m", environment: env).tls == nil)
    }

    @Test("from the environment")
    func fromEnvironment() throws {
        #expect(try RedisURL.fromEnvironment([:]) == RedisURL("redis://127.0.0.1:6379"))
        #expect(try RedisURL.fromEnvironment(["ORBITER_REDIS_URL": ""]) == RedisURL("redis://127.0.0.1:6379"))
        let u = try RedisURL.fromEnvironment(["ORBITER_REDIS_URL": "redis://:x@10.0.0.5:6390/1"])
        #expect(u.host == "10.0.0.5" && u.port == 6390 && u.database == 1 && u.password == "x")
        #expect(throws: RedisError.self) { try RedisURL.fromEnvironment(["ORBITER_REDIS_URL": "nope"]) }
    }
}

@Suite("Redis scripts, replies and arguments")
struct RedisScriptAndReplyTests {
    @Test("SHA-1 test vectors")
    func sha1TestVectors() {
        #expect(SHA1.hex([]) == "da39a3ee5e6b4b0d3255bfef95601890afd80709")
        #expect(SHA1.hex(Array("abc".utf8)) == "a9993e364706816aba3e25717850c26c9cd0d89d")
        #expect(SHA1.hex(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
                == "84983e441c3bd26ebaae4aa1f95129e5e54670f1")
        #expect(SHA1.hex([UInt8](repeating: 0x61, count: 1_000_000)) == "34aa973cd4c4daa4f61eeb2bdbad27316534016f")
        #expect(RedisScript(name: "ret", source: "return 1").sha1 == "e0e1f9fabfc9d4800c877a703b823ac0578ff8db")
    }

    @Test("reply accessors")
    func replyAccessors() {
        #expect(RedisReply.bulk(Array("42".utf8)).int == 42)
        #expect(RedisReply.status("OK").string == "OK")
        #expect(RedisReply.bulk([0xFF, 0xFE]).string == nil)
        #expect(RedisReply.integer(7).int == 7)
        #expect(RedisReply.integer(7).string == nil)
        #expect(RedisReply.null.isNull)
        #expect(RedisReply.array([.null]).array == [.null])
        #expect(RedisReply.error("ERR x").string == nil)
    }

    @Test("argument encodings")
    func argumentEncodings() {
        #expect("héllo".redisBytes == Array("héllo".utf8))
        #expect("abc".dropFirst().redisBytes == Array("bc".utf8))
        #expect(42.redisBytes == Array("42".utf8))
        #expect(Int64(-7).redisBytes == Array("-7".utf8))
        #expect(1.5.redisBytes == Array("1.5".utf8))
        #expect(Double.infinity.redisBytes == Array("inf".utf8))
        #expect([UInt8]([0, 13, 10]).redisBytes == [0, 13, 10])
        let e = EncodedCommand(["SET", [UInt8](), "x"])
        #expect(e.lengths == [3, 0, 1])
        #expect(e.name == "SET")
    }
}
