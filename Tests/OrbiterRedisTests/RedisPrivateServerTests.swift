import Foundation
@testable import OrbiterRedis
import OrbiterTestSupport
import Testing

/// Tests that need a redis-server of their own: credentials, restarts, SCRIPT FLUSH, Unix sockets.
/// Serialized: each starts a server process, and the restart test bounds how fast calls fail.
@Suite("Redis client on a private server", .serialized)
struct RedisPrivateServerTests {
    @Test("authenticates with a password and as an ACL user")
    func authenticatesWithPasswordAndACLUser() async throws {
        let server = try PrivateRedis(persistent: false, password: "secret",
                                      arguments: ["--user", "alice", "on", ">wonderland", "~*", "&*", "+@all"])
        let byPassword = RedisClient(url: try server.redisURL(password: "secret", db: 2))
        let byUser = RedisClient(url: try server.redisURL(user: "alice", password: "wonderland"))
        let anonymous = RedisClient(url: try server.redisURL())
        let wrong = RedisClient(url: try server.redisURL(user: "alice", password: "not-the-one"))
        defer { [byPassword, byUser, anonymous, wrong].forEach { $0.close() } }

        try await byPassword.connect()
        #expect(try await byPassword.send(["SET", "k", "v"]) == .status("OK"))
        #expect(try await byUser.send(["ACL", "WHOAMI"]).string == "alice")
        #expect(try await byUser.send(["GET", "k"]).isNull, "db 0 is not db 2")
        #expect(try await byPassword.blocking(["BLPOP", "nothing", "0.05"]).isNull, "dedicated connections AUTH too")

        await #expect {
            try await anonymous.send(["PING"])
        } throws: { error in
            guard case RedisError.server(let m) = error else { return false }
            return m.hasPrefix("NOAUTH")
        }
        do {
            try await wrong.connect()
            Issue.record("wrong password accepted")
        } catch RedisError.connection(let m) {
            #expect(m.contains("authentication failed"), "\(m)")
            #expect(m.contains("alice:***@127.0.0.1:\(server.port)"), "\(m)")
            #expect(!m.contains("not-the-one"))
        }
    }

    @Test("a script survives SCRIPT FLUSH")
    func scriptSurvivesScriptFlush() async throws {
        let server = try PrivateRedis(persistent: false)
        let client = RedisClient(url: try server.redisURL())
        defer { client.close() }
        let script = RedisScript(name: "echo", source: "return {KEYS[1], ARGV[1]}")
        let expected = RedisReply.array([.bulk(Array("k".utf8)), .bulk(Array("a".utf8))])
        #expect(try await client.run(script, keys: ["k"], args: ["a"]) == expected)
        #expect(try await client.send(["SCRIPT", "EXISTS", script.sha1]) == .array([.integer(1)]))
        _ = try await client.send(["SCRIPT", "FLUSH"])
        #expect(try await client.send(["SCRIPT", "EXISTS", script.sha1]) == .array([.integer(0)]))
        #expect(try await client.run(script, keys: ["k"], args: ["a"]) == expected)
        #expect(try await client.send(["SCRIPT", "EXISTS", script.sha1]) == .array([.integer(1)]))
    }

    @Test("reconnects after a server restart")
    func reconnectsAfterServerRestart() async throws {
        let server = try PrivateRedis(persistent: false)
        let client = RedisClient(url: try server.redisURL(), connectTimeout: .seconds(1))
        defer { client.close() }
        #expect(try await client.send(["SET", "k", "1"]) == .status("OK"))

        // A command in flight when the server dies fails with .connection.
        let inFlight = Task { try await client.send(["BLPOP", "never", 10]) }
        try await Task.sleep(for: .milliseconds(200))
        server.stop()
        let result = await inFlight.result
        guard case .failure(RedisError.connection(let m)) = result else {
            Issue.record("expected a connection error, got \(result)")
            return
        }
        #expect(m.contains("127.0.0.1:\(server.port)"))

        // While it is down, commands fail fast instead of hanging.
        let start = ContinuousClock.now
        await #expect(throws: RedisError.self) { try await client.send(["PING"]) }
        #expect(seconds(since: start) < 1)

        try server.start()
        #expect(try await client.send(["PING"]) == .status("PONG"))
        #expect(try await client.send(["GET", "k"]).isNull, "a fresh server (no persistence)")

        // Idle connection killed by a restart is replaced transparently.
        server.stop()
        try server.start()
        #expect(try await client.send(["PING"]) == .status("PONG"))
    }

    @Test("connects over a Unix socket")
    func connectsOverUnixSocket() async throws {
        let server = try PrivateRedis(persistent: false)
        let client = RedisClient(url: try RedisURL("unix://\(server.unixSocket)?db=2"))
        defer { client.close() }
        try await client.connect()
        _ = try await client.send(["SET", "u", "x"])
        #expect(try await client.send(["CLIENT", "INFO"]).string?.contains("db=2") == true)
        let tcp = RedisClient(url: try server.redisURL(db: 2))
        defer { tcp.close() }
        #expect(try await tcp.send(["GET", "u"]).string == "x")
    }
}
