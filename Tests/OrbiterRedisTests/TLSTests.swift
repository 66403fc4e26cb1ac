import Foundation
@testable import OrbiterRedis
import OrbiterTestSupport
import Testing

/// `rediss://` against a real redis-server with `--tls-port` and certificates made by the test.
@Suite("Redis over TLS", .serialized)
struct TLSTests {
    /// The message of the `.connection` error `connect()` throws, or nil if it connected.
    func connectionError(_ url: String, connectTimeout: Duration = .seconds(5)) async throws -> String? {
        let client = RedisClient(url: try RedisURL(url, environment: [:]), connectTimeout: connectTimeout)
        defer { client.close() }
        do {
            try await client.connect()
            return nil
        } catch RedisError.connection(let m) {
            return m
        }
    }

    @Test("commands, pipelines, large values, blocking reads and subscriptions work over TLS")
    func everythingTheClientDoesWorksOverTLS() async throws {
        let redis = try PrivateTLSRedis()
        let client = RedisClient(url: try RedisURL(redis.trustedURL(), environment: [:]))
        defer { client.close() }
        #expect(try await client.send(["SET", "k", "v"]) == .status("OK"))
        #expect(try await client.send(["GET", "k"]).string == "v")
        // Traffic really is TLS: the server counts the connection as one on its TLS port.
        #expect(try await client.send(["CLIENT", "INFO"]).string?.contains("laddr=127.0.0.1:\(redis.tlsPort)") == true)

        // Many callers at once share round trips (auto-pipelining), replies stay in order.
        let sums = try await withThrowingTaskGroup(of: Int.self) { group in
            for i in 0..<2000 { group.addTask { Int(try await client.send(["INCRBY", "counter", i]).int ?? -1) } }
            return try await group.reduce(into: [Int]()) { $0.append($1) }
        }
        #expect(sums.count == 2000 && sums.max() == (0..<2000).reduce(0, +))

        // Values larger than one TLS record and than the read buffer, both ways.
        let big = [UInt8]((0..<(3 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        _ = try await client.send(["SET", "big", big])
        #expect(try await client.send(["GET", "big"]) == .bulk(big))

        // A blocking read waits for data, and cancelling one interrupts it at once.
        async let waited = client.blocking(["BLPOP", "list", "5"])
        try await Task.sleep(for: .milliseconds(100))
        _ = try await client.send(["RPUSH", "list", "x"])
        #expect(try await waited.array?.last?.string == "x")
        let stuck = Task { try await client.blocking(["BLPOP", "never", "0"]) }
        try await Task.sleep(for: .milliseconds(100))
        let started = ContinuousClock.now
        stuck.cancel()
        await #expect(throws: RedisError.self) { try await stuck.value }
        #expect(ContinuousClock.now - started < .seconds(2))

        let messages = try await client.subscribeConfirmed(["news"])
        _ = try await client.send(["PUBLISH", "news", "hello"])
        for try await message in messages {
            #expect(message.channel == "news" && message.message == Array("hello".utf8))
            break
        }
    }

    @Test("a password and a database work over TLS, and a restart is followed by a new TLS connection")
    func passwordDatabaseAndRestart() async throws {
        let redis = try PrivateTLSRedis(password: "s3cret")
        let client = RedisClient(url: try RedisURL(redis.trustedURL(userInfo: ":s3cret@").replacingOccurrences(of: "?", with: "/3?"),
                                                   environment: [:]), connectTimeout: .seconds(1))
        defer { client.close() }
        #expect(try await client.send(["SET", "k", "in-3"]) == .status("OK"))
        #expect(try await client.send(["CLIENT", "INFO"]).string?.contains("db=3") == true)
        redis.server.stop()
        try redis.server.start()
        // The first command after the restart may find the old connection dead; the next one reconnects.
        var reply: RedisReply?
        let deadline = ContinuousClock.now + .seconds(10)
        while reply == nil, ContinuousClock.now < deadline {
            reply = try? await client.send(["PING"])
        }
        #expect(reply == .status("PONG"))
    }

    @Test("the server's certificate is checked: wrong CA, system store, wrong name; insecure=1 skips the check")
    func serverCertificateIsChecked() async throws {
        let redis = try PrivateTLSRedis()
        let certs = redis.certificates
        #expect(try await connectionError(redis.trustedURL()) == nil)
        #expect(try await connectionError(redis.trustedURL(host: "localhost")) == nil, "the DNS name in the certificate")

        let wrongCA = try #require(try await connectionError(redis.url(query: "tls_ca=\(certs.otherCACert)")))
        #expect(wrongCA.contains("cannot connect to Redis at rediss://127.0.0.1:\(redis.tlsPort)"), "\(wrongCA)")
        #expect(wrongCA.contains("certificate was not accepted") && wrongCA.contains("the CA file '\(certs.otherCACert)'")
                && wrongCA.contains("--redis-tls-ca"), "\(wrongCA)")

        let systemStore = try #require(try await connectionError(redis.url()))
        #expect(systemStore.contains("the system's CA certificates"), "\(systemStore)")

        let wrongName = try #require(try await connectionError(redis.url(query: "tls_ca=\(certs.caCert)&tls_server_name=redis.example.com")))
        #expect(wrongName.contains("not valid for 'redis.example.com'") && wrongName.contains("tls_server_name"), "\(wrongName)")

        // insecure=1: the wrong CA no longer matters (and the URL says so in every message).
        let insecure = RedisClient(url: try RedisURL(redis.url(query: "tls_ca=\(certs.otherCACert)&insecure=1"), environment: [:]))
        defer { insecure.close() }
        #expect(try await insecure.send(["PING"]) == .status("PONG"))
        #expect(insecure.url.description.contains("insecure=1"))
    }

    @Test("a server that requires client certificates refuses a client without one, naming the fix")
    func clientCertificates() async throws {
        let redis = try PrivateTLSRedis(clientCertificates: true)
        let without = try #require(try await connectionError(redis.trustedURL()))
        #expect(without.contains("client certificate") && without.contains("--redis-tls-cert"), "\(without)")
        #expect(try await connectionError(redis.trustedURL(client: true)) == nil)

        let certs = redis.certificates
        let mismatched = try #require(try await connectionError(
            redis.url(query: "tls_ca=\(certs.caCert)&tls_cert=\(certs.clientCert)&tls_key=\(certs.serverKey)")))
        #expect(mismatched.contains("does not belong to the certificate"), "\(mismatched)")
        let missing = try #require(try await connectionError(redis.url(query: "tls_ca=/nonexistent/ca.pem")))
        #expect(missing.contains("cannot read the TLS CA file '/nonexistent/ca.pem': no such file"), "\(missing)")
    }

    @Test("TLS to a plain port, and a server that never answers the handshake, fail clearly and in time")
    func wrongPortAndSilentServer() async throws {
        let plain = try PrivateRedis(persistent: false)
        let toPlain = try #require(try await connectionError("rediss://127.0.0.1:\(plain.port)?insecure=1", connectTimeout: .seconds(1)))
        #expect(toPlain.contains("did not answer in TLS") && toPlain.contains("is this its TLS port"), "\(toPlain)")

        let silent = SilentListener()
        let started = ContinuousClock.now
        let timedOut = try #require(try await connectionError("rediss://127.0.0.1:\(silent.port)?insecure=1",
                                                              connectTimeout: .milliseconds(300)))
        #expect(timedOut.contains("timed out during the TLS handshake"), "\(timedOut)")
        #expect(ContinuousClock.now - started < .seconds(3))
    }

    @Test("a blocked TLS read on a server that went silent ends at once when cancelled")
    func blockedReadOnASilentServerIsCancelled() async throws {
        let redis = try PrivateTLSRedis()
        let client = RedisClient(url: try RedisURL(redis.trustedURL(), environment: [:]))
        defer { client.close() }
        // A blocking connection made while the server answers, then reused (a connect in progress is bounded by the connect timeout).
        #expect(try await client.blocking(["BLPOP", "nothing", "0.01"]).isNull)
        // Stop the server process (SIGSTOP): the socket stays open and silent.
        let pid = try #require(pid_t(String(contentsOf: redis.server.dir.appendingPathComponent("pid"), encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)))
        kill(pid, SIGSTOP)
        defer { kill(pid, SIGCONT) }
        let reader = Task { try await client.blocking(["BLPOP", "never", "0"]) }
        try await Task.sleep(for: .milliseconds(200))
        let started = ContinuousClock.now
        reader.cancel()
        await #expect(throws: RedisError.self) { try await reader.value }
        #expect(ContinuousClock.now - started < .seconds(2))
    }

    @Test("rediss-sentinel:// asks TLS sentinels for the master and reaches it over TLS; a wrong CA names the sentinel")
    func sentinelsOverTLS() async throws {
        let certs = try TestCertificates.shared()
        let group = try PrivateSentinels(tls: certs)
        let client = RedisClient(url: try RedisURL(group.tlsURL, environment: [:]))
        defer { client.close() }
        #expect(try await client.send(["SET", "k", "via-tls-sentinels"]) == .status("OK"))
        #expect(try await client.send(["ROLE"]).array?.first?.string == "master")
        let info = try await client.send(["CLIENT", "INFO"]).string ?? ""
        #expect(!info.contains("laddr=127.0.0.1:\(group.master.port) "), "the master's plain port was used: \(info)")
        #expect(client.url.description.hasPrefix("rediss-sentinel://"))

        let wrong = group.tlsURL.replacingOccurrences(of: certs.caCert, with: certs.otherCACert)
        let message = try #require(try await connectionError(wrong))
        #expect(message.contains("no Redis master 'mymaster' found through the sentinels")
                && message.contains("sentinel 127.0.0.1:\(group.tlsSentinelPorts[0])")
                && message.contains("certificate was not accepted"), "\(message)")
    }
}
