import AsyncHTTPClient
import Foundation
import NIOCore
import OrbiterCore
import OrbiterTestSupport
import Testing

/// `orbiter serve` as a user starts it: flags, tokens file, the port it prints, SIGTERM.
@Suite("orbiter serve command", .serialized)
struct ServeCommandTests {
    let env: [String: String]
    init() throws { env = ["ORBITER_REDIS_URL": try TestRedis.url()] }

    @Test("starts on a free port with a tokens file, answers, and stops on SIGTERM")
    func startsAndStops() async throws {
        let tokens = try temporaryScript("# who\nreader-0123456789abcdef read dashboard\nadmin-0123456789abcdef admin ops\n", name: "tokens")
        let queue = "serve-" + UUID().uuidString.prefix(8).lowercased()
        let (server, port) = try await startServeProcess(["--tokens-file", tokens, "--queue", queue], environment: env)
        defer { server.signal(SIGKILL) }
        #expect(server.stderr.contains("listening on http://127.0.0.1:\(port)"))
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        func get(_ path: String, token: String?) async throws -> UInt {
            var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
            if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
            let response = try await http.execute(request, timeout: .seconds(10))
            _ = try await response.body.collect(upTo: 1 << 20)
            return response.status.code
        }
        #expect(try await get("/healthz", token: nil) == 200)
        #expect(try await get("/v1/tasks", token: nil) == 401)
        #expect(try await get("/v1/tasks", token: "reader-0123456789abcdef") == 200)
        #expect(try await get("/v1/tasks?status=completed", token: "admin-0123456789abcdef") == 200)
        try await http.shutdown()
        server.signal(SIGTERM)
        let end = try await server.finish(timeout: .seconds(10))
        #expect(end.status == 0, "\(end.stderr)")
    }

    @Test("refuses a bad tokens file, an open public address, and a down Redis, with status 2")
    func refusals() async throws {
        let bad = try temporaryScript("reader-0123456789abcdef read\nwriter-0123456789abcdef owner\n", name: "tokens")
        let badFile = try await OrbiterBinary.run(["serve", "--port", "0", "--tokens-file", bad], environment: env)
        #expect(badFile.status == 2)
        #expect(badFile.stderr.contains("\(bad):2: unknown scope 'owner'"), "\(badFile.stderr)")
        let open = try await OrbiterBinary.run(["serve", "--port", "0", "--host", "0.0.0.0"], environment: env)
        #expect(open.status == 2)
        #expect(open.stderr.contains("--token or --tokens-file"), "\(open.stderr)")
        let short = try await OrbiterBinary.run(["serve", "--port", "0", "--token", "abc"], environment: env)
        #expect(short.status == 2 && short.stderr.contains("at least 16 characters"), "\(short.stderr)")
        let both = try await OrbiterBinary.run(["serve", "--token", "x", "--tokens-file", bad], environment: env)
        #expect(both.status == 2 && both.stderr.contains("not both"), "\(both.stderr)")
        let down = try await OrbiterBinary.run(["serve", "--port", "0", "--redis-url", "redis://127.0.0.1:1"])
        #expect(down.status == 2 && down.stderr.contains("127.0.0.1:1"), "\(down.stderr)")
    }

    @Test("SIGTERM ends open event streams and the process, and a submitted task is signed with ORBITER_SECRET")
    func sigtermWithAnOpenStream() async throws {
        let queue = "serve-" + UUID().uuidString.prefix(8).lowercased()
        let token = "admin-0123456789abcdef"
        var environment = env
        environment["ORBITER_SECRET"] = "serve-test-secret"
        let (server, port) = try await startServeProcess(["--token", token, "--queue", queue], environment: environment)
        defer { server.signal(SIGKILL) }
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        var submit = HTTPClientRequest(url: "http://127.0.0.1:\(port)/v1/tasks")
        submit.method = .POST
        submit.headers.add(name: "Authorization", value: "Bearer \(token)")
        let script = try String(contentsOf: OrbiterBinary.repositoryRoot.appendingPathComponent("examples/calculator.lua"), encoding: .utf8)
        submit.body = .bytes(ByteBuffer(string: #"{"script": \#(JSONValue.string(script).jsonString), "input": "1 + 1"}"#))
        let submitted = try await http.execute(submit, timeout: .seconds(10))
        let body = String(buffer: try await submitted.body.collect(upTo: 1 << 20))
        #expect(submitted.status.code == 201, "\(body)")
        let id = try #require(try JSONValue.parse(body)["task_id"]?.stringValue)
        // The task carries a signature, as `orbiter submit` with ORBITER_SECRET makes it.
        let redis = try await OrbiterBinary.shell("redis-cli -u \(env["ORBITER_REDIS_URL"]!) HGET '{orbiter:\(queue)}:task:\(id)' signature")
        #expect(redis.stdout.trimmingCharacters(in: .whitespacesAndNewlines).count >= 64, "\(redis.stdout) \(redis.stderr)")
        // No worker: the task stays pending and its event stream stays open until the server stops.
        var follow = HTTPClientRequest(url: "http://127.0.0.1:\(port)/v1/tasks/\(id)/events")
        follow.headers.add(name: "Authorization", value: "Bearer \(token)")
        let stream = try await http.execute(follow, timeout: .seconds(30))
        #expect(stream.status == .ok)
        let reading = Task { try await stream.body.collect(upTo: 1 << 20) }
        server.signal(SIGTERM)
        let end = try await server.finish(timeout: .seconds(10))
        #expect(end.status == 0, "\(end.stderr)")
        _ = try? await reading.value
        try await http.shutdown()
    }
}
