import Foundation
import OrbiterTestSupport
import XCTest

/// The edges a user hits: a closed stdout, an unreachable model endpoint, waiting with no worker
/// or through a Redis restart, and a shipped agent that names its own endpoint on a worker.
final class EdgeCLITests: XCTestCase {
    func script(_ source: String) throws -> String {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("orbiter-edge-\(UUID().uuidString).lua")
        try source.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    /// An agent on `openai:gpt-4o`, optionally with its own base_url and api_key_env.
    func remoteAgent(baseURL: String? = nil, keyEnv: String? = nil) throws -> String {
        var fields = #"name = "remote", model = "openai:gpt-4o""#
        if let baseURL { fields += #", base_url = "\#(baseURL)""# }
        if let keyEnv { fields += #", api_key_env = "\#(keyEnv)""# }
        return try script("local orbiter = require \"orbiter\"\nreturn orbiter.agent { \(fields) }\n")
    }

    func shell(_ command: String, environment: [String: String] = [:]) async throws -> OrbiterBinary.Outcome {
        try await OrbiterBinary.shell(command, environment: environment)
    }

    // MARK: A closed stdout

    func testAClosedStdoutEndsTheRunQuietlyWithStatusZero() async throws {
        let server = try await FakeModelServer.start()
        defer { Task { try? await server.stop() } }
        // The first text arrives after `true` has exited, so every write meets a closed pipe.
        server.enqueue(.openAIStream([OpenAIChunk.text("Hello").after(.milliseconds(400))]
                                     + (0..<50).map { _ in OpenAIChunk.text(String(repeating: "more text ", count: 100)) }
                                     + [OpenAIChunk.finish()]))
        let env = ["OPENAI_BASE_URL": server.baseURL + "/v1", "OPENAI_API_KEY": "sk-test"]
        let http = try await shell(#""$ORBITER" run "$AGENT" hi | true; echo "status=${PIPESTATUS[0]}" >&2"#,
                                   environment: env.merging(["AGENT": try remoteAgent()]) { $1 })
        XCTAssertTrue(http.stderr.contains("status=0"), http.stderr)
        XCTAssertFalse(http.stderr.contains("Fatal error") || http.stderr.contains("Broken pipe"), http.stderr)
        XCTAssertEqual(server.requests.count, 1)

        // The offline example and --json output: the same quiet end (before: killed by SIGPIPE, 141).
        for flags in ["", "--json --detailed"] {
            // The reader closes its end at once and lingers: every write meets a closed pipe.
            let offline = try await shell(#"{ "$ORBITER" run \#(flags) examples/calculator.lua "2 + 40"; echo "status=$?" >&2; } | { exec 0<&-; sleep 0.5; }"#)
            XCTAssertTrue(offline.stderr.contains("status=0"), "\(flags): \(offline.stderr)")
            XCTAssertFalse(offline.stderr.contains("Fatal error"), offline.stderr)
        }
    }

    // MARK: An unreachable model endpoint

    /// Parentheses and brackets in `text` are balanced.
    func balanced(_ text: String) -> Bool {
        var stack: [Character] = []
        for c in text {
            switch c {
            case "(", "[": stack.append(c)
            case ")": if stack.popLast() != "(" { return false }
            case "]": if stack.popLast() != "[" { return false }
            default: break
            }
        }
        return stack.isEmpty
    }

    func testARefusedModelEndpointFailsInAboutASecondWithAClearMessage() async throws {
        let closed = try await FakeModelServer.start()
        let port = closed.port
        try await closed.stop()
        let started = ContinuousClock.now
        let r = try await OrbiterBinary.run(["run", try remoteAgent(), "hi"],
                                            environment: ["OPENAI_BASE_URL": "http://127.0.0.1:\(port)/v1", "OPENAI_API_KEY": "sk-test"])
        let elapsed = ContinuousClock.now - started
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertLessThan(elapsed, .seconds(3), "was silent for 60 s before: \(r.stderr)")
        XCTAssertTrue(r.stderr.contains("cannot connect to http://127.0.0.1:\(port)/v1/chat/completions: connection refused"), r.stderr)
        XCTAssertTrue(balanced(r.stderr), r.stderr)
        XCTAssertFalse(r.stderr.contains("NIOConnectionError") || r.stderr.contains("errno"), r.stderr)
    }

    func testAHostThatDoesNotResolveFailsAtOnce() async throws {
        // In a network namespace of its own (no interfaces up), the lookup fails without any
        // traffic leaving this machine.
        let started = ContinuousClock.now
        let r = try await shell(#"unshare --net "$ORBITER" run "$AGENT" hi"#,
                                environment: ["AGENT": try remoteAgent(), "OPENAI_BASE_URL": "http://model.invalid/v1", "OPENAI_API_KEY": "sk-test"])
        let elapsed = ContinuousClock.now - started
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertLessThan(elapsed, .seconds(5), r.stderr)
        XCTAssertTrue(r.stderr.contains("cannot connect to http://model.invalid/v1/chat/completions: host name 'model.invalid' does not resolve"), r.stderr)
        XCTAssertTrue(balanced(r.stderr), r.stderr)
    }

    // MARK: Waiting

    func testWaitTimeoutGivesUpAndWarnsWhenNoWorkerIsAlive() async throws {
        let env = ["ORBITER_REDIS_URL": try TestRedis.url()]
        let queue = "edge-" + UUID().uuidString.prefix(8).lowercased()
        let started = ContinuousClock.now
        let r = try await OrbiterBinary.run(["submit", "examples/calculator.lua", "1 + 1", "--queue", queue, "--wait", "--timeout", "1",
                                             "--wait-timeout", "1"], environment: env)
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(6))
        XCTAssertTrue(r.stderr.contains("warning: no live worker on queue '\(queue)'"), r.stderr)
        XCTAssertTrue(r.stderr.contains("gave up waiting for task ") && r.stderr.contains(" after 1 s"), r.stderr)
        XCTAssertTrue(r.stderr.contains("orbiter task cancel "), r.stderr)
        let usage = try await OrbiterBinary.run(["submit", "examples/calculator.lua", "1 + 1", "--queue", queue, "--wait-timeout", "1"],
                                                environment: env)
        XCTAssertEqual(usage.status, 2)
        XCTAssertTrue(usage.stderr.contains("--wait-timeout only applies with --wait"), usage.stderr)
    }

    func testWaitAndTaskResultRideOutARedisRestart() async throws {
        let redis = try PrivateRedis()
        let env = ["ORBITER_REDIS_URL": redis.url]
        let agent = try script("""
            local orbiter = require "orbiter"
            local slow = orbiter.tool { name = "slow", run = function() orbiter.sleep(3) return "done" end }
            local m = orbiter.model { name = "m", respond = function(req)
              local last = req.messages[#req.messages]
              if last.role == "tool" then return "finished: " .. last.content end
              return { tool_calls = { { name = "slow", arguments = {} } } }
            end }
            return orbiter.agent { name = "slowpoke", model = m, tools = { slow } }
            """)
        let worker = try OrbiterBinary.start(["start", "worker", "--worker-id", "restart-rider"], environment: env)
        defer { worker.signal(SIGKILL) }
        try await worker.waitFor { _, err in err.contains("worker restart-rider started") }
        let waiting = try OrbiterBinary.start(["submit", agent, "go", "--wait"], environment: env)
        let submitted = try await OrbiterBinary.run(["submit", agent, "go"], environment: env)
        let id = submitted.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let result = try OrbiterBinary.start(["task", "result", id], environment: env)
        try await Task.sleep(for: .seconds(1))       // both tasks are in their 3 s tool now
        redis.stop()
        try await Task.sleep(for: .milliseconds(1500))
        try redis.start()
        let waited = try await waiting.finish(timeout: .seconds(30))
        XCTAssertEqual(waited.status, 0, waited.stderr)
        XCTAssertEqual(waited.stdout, "finished: done\n")
        let read = try await result.finish(timeout: .seconds(30))
        XCTAssertEqual(read.status, 0, read.stderr)
        XCTAssertEqual(read.stdout, "finished: done\n")
    }

    func testWaitingExitsTwoWhenRedisStaysAway() async throws {
        let redis = try PrivateRedis()
        let env = ["ORBITER_REDIS_URL": redis.url, "ORBITER_REDIS_OUTAGE_SECONDS": "2"]
        let submitted = try await OrbiterBinary.run(["submit", "examples/calculator.lua", "1 + 1"], environment: env)
        let id = submitted.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let waiting = try OrbiterBinary.start(["task", "result", id], environment: env)
        let following = try OrbiterBinary.start(["task", "events", id, "--follow"], environment: env)
        try await waiting.waitFor { _, err in err.contains("no live worker") }
        try await Task.sleep(for: .milliseconds(300))
        redis.stop()
        let started = ContinuousClock.now
        let r = try await waiting.finish(timeout: .seconds(30))
        XCTAssertEqual(r.status, 2, r.stderr)
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(10))
        XCTAssertTrue(r.stderr.contains("Redis unreachable") && r.stderr.contains("while waiting for task \(id)"), r.stderr)
        let f = try await following.finish(timeout: .seconds(30))
        XCTAssertEqual(f.status, 2, f.stderr)
        XCTAssertTrue(f.stderr.contains("Redis unreachable") && f.stderr.contains("while following task \(id)"), f.stderr)
    }

    // MARK: Provider settings on workers

    func testAShippedBaseURLOrKeyVariableNeedsTheWorkersAllowance() async throws {
        let server = try await FakeModelServer.start()
        defer { Task { try? await server.stop() } }
        let redisURL = try TestRedis.url()
        let secret = "sk-worker-secret-\(UUID().uuidString.prefix(8))"
        let workerEnv = ["ORBITER_REDIS_URL": redisURL, "OPENAI_API_KEY": secret, "SOME_OTHER_SECRET": "do-not-send"]
        let clientEnv = ["ORBITER_REDIS_URL": redisURL]
        let base = server.baseURL + "/v1"

        // A worker that allows nothing: the task fails before any request is made.
        let strictQueue = "strict-" + UUID().uuidString.prefix(8).lowercased()
        let strict = try OrbiterBinary.start(["start", "worker", "--queue", strictQueue, "--worker-id", "strict-\(strictQueue)"], environment: workerEnv)
        defer { strict.signal(SIGKILL) }
        try await strict.waitFor { _, err in err.contains("started") }
        let refused = try await OrbiterBinary.run(["submit", try remoteAgent(baseURL: base), "hi", "--queue", strictQueue, "--wait"],
                                                  environment: clientEnv)
        XCTAssertEqual(refused.status, 1, refused.stderr)
        XCTAssertTrue(refused.stderr.contains("configuration: agent 'remote' sets base_url \"\(base)\""), refused.stderr)
        XCTAssertTrue(refused.stderr.contains("--allow-base-url \(base)"), refused.stderr)
        XCTAssertEqual(server.requests.count, 0, "the fake server must receive no request")

        // A worker that allows this base URL: the agent uses it, with the worker's own key.
        let openQueue = "open-" + UUID().uuidString.prefix(8).lowercased()
        let open = try OrbiterBinary.start(["start", "worker", "--queue", openQueue, "--worker-id", "open-\(openQueue)",
                                            "--allow-base-url", base + "/"], environment: workerEnv)
        defer { open.signal(SIGKILL) }
        try await open.waitFor { _, err in err.contains("started") }
        server.enqueue(.openAIReply("hello ", "from the fake"))
        let allowed = try await OrbiterBinary.run(["submit", try remoteAgent(baseURL: base), "hi", "--queue", openQueue, "--wait"],
                                                  environment: clientEnv)
        XCTAssertEqual(allowed.status, 0, allowed.stderr)
        XCTAssertEqual(allowed.stdout, "hello from the fake\n")
        XCTAssertEqual(server.requests.count, 1)
        XCTAssertEqual(server.requests.first?.header("authorization"), "Bearer \(secret)")

        // Naming another variable of the worker's environment as the key is refused there too.
        let keyed = try await OrbiterBinary.run(["submit", try remoteAgent(baseURL: base, keyEnv: "SOME_OTHER_SECRET"), "hi",
                                                 "--queue", openQueue, "--wait"], environment: clientEnv)
        XCTAssertEqual(keyed.status, 1, keyed.stderr)
        XCTAssertTrue(keyed.stderr.contains("sets api_key_env \"SOME_OTHER_SECRET\"") && keyed.stderr.contains("--allow-api-key-env SOME_OTHER_SECRET"),
                      keyed.stderr)
        XCTAssertEqual(server.requests.count, 1, "no second request")
        XCTAssertFalse(server.requests.contains { $0.headers.values.contains { $0.contains("do-not-send") } })
    }
}
