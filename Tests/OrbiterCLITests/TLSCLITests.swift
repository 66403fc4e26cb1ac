import Foundation
import OrbiterTestSupport
import Testing

/// `rediss://` through the binary: a worker and the CLI over TLS with client certificates, the
/// TLS flags and environment variables, and the errors a wrong setup gives.
@Suite("TLS on the command line", .serialized)
struct TLSCLITests {
    @Test("a worker and every queue command work over TLS with client certificates (flags and environment)")
    func workerAndCommandsOverTLS() async throws {
        let redis = try PrivateTLSRedis(clientCertificates: true)
        let certs = redis.certificates
        let queue = "tls-" + UUID().uuidString.prefix(8).lowercased()
        // The worker takes the files as flags; the other commands from the environment.
        let worker = try OrbiterBinary.start(["start", "worker", "--queue", queue, "--worker-id", "tls-worker",
                                              "--redis-url", redis.url(host: "localhost"), "--redis-tls-ca", certs.caCert,
                                              "--redis-tls-cert", certs.clientCert, "--redis-tls-key", certs.clientKey])
        defer { worker.signal(SIGKILL) }
        try await worker.waitFor { _, err in err.contains("worker tls-worker started") }
        let env = ["ORBITER_REDIS_URL": redis.url(), "ORBITER_REDIS_TLS_CA": certs.caCert,
                   "ORBITER_REDIS_TLS_CERT": certs.clientCert, "ORBITER_REDIS_TLS_KEY": certs.clientKey]
        func orbiter(_ args: [String]) async throws -> OrbiterBinary.Outcome {
            try await OrbiterBinary.run(args + ["--queue", queue], environment: env)
        }
        let done = try await orbiter(["submit", "examples/calculator.lua", "2 + 40", "--wait", "--json"])
        #expect(done.status == 0, "\(done.stderr)")
        let id = try #require((try JSONSerialization.jsonObject(with: Data(done.stdout.utf8)) as? [String: Any])?["task_id"] as? String)
        let streamed = try await orbiter(["submit", "examples/calculator.lua", "1 + 2", "--stream"])
        #expect(streamed.stdout == "The answer is 3.\n", "\(streamed.stderr)")
        #expect(try await orbiter(["task", "result", id]).stdout == "The answer is 42.\n")
        #expect(try await orbiter(["task", "status", id, "--json"]).stdout.contains("\"completed\""))
        #expect(try await orbiter(["task", "events", id, "--json"]).stdout.contains(#""status":"completed""#))
        #expect(try await orbiter(["task", "list", "--json"]).stdout.contains(id))
        #expect(try await orbiter(["worker", "list", "--json"]).stdout.contains("tls-worker"))
        let stats = try await orbiter(["queue", "stats"])
        #expect(stats.status == 0, "\(stats.stderr)")
        // It really went through the TLS port: the server's plain port never saw the queue's clients.
        let clients = try await OrbiterBinary.shell("redis-cli -p \(redis.server.port) client list").stdout
        #expect(clients.contains("laddr=127.0.0.1:\(redis.tlsPort)"), "\(clients)")
    }

    @Test("a wrong CA, TLS flags on a plain URL and insecure=1 each say what they mean")
    func setupErrorsAndTheInsecureWarning() async throws {
        let redis = try PrivateTLSRedis()
        let certs = redis.certificates
        let wrongCA = try await OrbiterBinary.run(["task", "list", "--redis-url", redis.url(), "--redis-tls-ca", certs.otherCACert])
        #expect(wrongCA.status == 2)
        #expect(wrongCA.stderr.contains("certificate was not accepted") && wrongCA.stderr.contains("--redis-tls-ca"), "\(wrongCA.stderr)")

        let plain = try await OrbiterBinary.run(["task", "list", "--redis-url", redis.server.url, "--redis-tls-ca", certs.caCert])
        #expect(plain.status == 2)
        #expect(plain.stderr.contains("need a rediss:// (or rediss-sentinel://) URL"), "\(plain.stderr)")

        let insecure = try await OrbiterBinary.run(["limits", "list", "--redis-url", redis.url(query: "insecure=1")])
        #expect(insecure.status == 0, "\(insecure.stderr)")
        #expect(insecure.stderr.contains("WARNING: TLS certificate verification is OFF"), "\(insecure.stderr)")
    }

    @Test("a worker and submit --wait through TLS sentinels (rediss-sentinel://)")
    func workerThroughTLSSentinels() async throws {
        let group = try PrivateSentinels(tls: try TestCertificates.shared())
        let queue = "tls-s-" + UUID().uuidString.prefix(8).lowercased()
        let env = ["ORBITER_REDIS_URL": group.tlsURL]
        let worker = try OrbiterBinary.start(["start", "worker", "--queue", queue, "--worker-id", "tls-sentinel-worker"], environment: env)
        defer { worker.signal(SIGKILL) }
        try await worker.waitFor { _, err in err.contains("worker tls-sentinel-worker started") }
        let done = try await OrbiterBinary.run(["submit", "examples/calculator.lua", "20 + 22", "--wait", "--queue", queue], environment: env)
        #expect(done.status == 0, "\(done.stderr)")
        #expect(done.stdout == "The answer is 42.\n")
    }
}
