import Foundation
import OrbiterTestSupport
import Testing

/// The edges a user hits: a closed stdout, an unreachable model endpoint, waiting with no worker
/// or through a Redis restart, and a shipped agent that names its own endpoint on a worker.
@Suite("Edge cases of the CLI", .serialized)
struct EdgeCLITests {
    /// An agent on `openai:gpt-4o`, optionally with its own base_url and api_key_env.
    func remoteAgent(baseURL: String? = nil, keyEnv: String? = nil) throws -> String {
        var fields = #"name = "remote", model = "openai:gpt-4o""#
        if let baseURL { fields += #", base_url = "\#(baseURL)""# }
        if let keyEnv { fields += #", api_key_env = "\#(keyEnv)""# }
        return try temporaryScript("local orbiter = require \"orbiter\"\nreturn orbiter.agent { \(fields) }\n")
    }

    func shell(_ command: String, environment: [String: String] = [:]) async throws -> OrbiterBinary.Outcome {
        try await OrbiterBinary.shell(command, environment: environment)
    }

    // MARK: A closed stdout

    @Test("a closed stdout ends the run quietly with status 0")
    func aClosedStdoutEndsTheRunQuietlyWithStatusZero() async throws {
        let server = try await FakeModelServer.start()
        defer { Task { try? await server.stop() } }
        // The first text arrives after `true` has exited, so every write meets a closed pipe.
        server.enqueue(.openAIStream([OpenAIChunk.text("Hello").after(.milliseconds(400))]
                                     + (0..<50).map { _ in OpenAIChunk.text(String(repeating: "more text ", count: 100)) }
                                     + [OpenAIChunk.finish()]))
        let env = ["OPENAI_BASE_URL": server.baseURL + "/v1", "OPENAI_API_KEY": "sk-test"]
        let http = try await shell(#""$ORBITER" run "$AGENT" hi | true; echo "status=${PIPESTATUS[0]}" >&2"#,
                                   environment: env.merging(["AGENT": try remoteAgent()]) { $1 })
        #expect(http.stderr.contains("status=0"), "\(http.stderr)")
        #expect(!(http.stderr.contains("Fatal error") || http.stderr.contains("Broken pipe")), "\(http.stderr)")
        #expect(server.requests.count == 1)

        // The offline example and --json output: the same quiet end (before: killed by SIGPIPE, 141).
        for flags in ["", "--json --detailed"] {
            // The reader closes its end at once and lingers: every write meets a closed pipe.
            let offline = try await shell(#"{ "$ORBITER" run \#(flags) examples/calculator.lua "2 + 40"; echo "status=$?" >&2; } | { exec 0<&-; sleep 0.5; }"#)
            #expect(offline.stderr.contains("status=0"), "\(flags): \(offline.stderr)")
            #expect(!offline.stderr.contains("Fatal error"), "\(offline.stderr)")
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

    @Test("a refused model endpoint fails in about a second with a clear message")
    func aRefusedModelEndpointFailsInAboutASecondWithAClearMessage() async throws {
        let closed = try await FakeModelServer.start()
        let port = closed.port
        try await closed.stop()
        let started = ContinuousClock.now
        let r = try await OrbiterBinary.run(["run", try remoteAgent(), "hi"],
                                            environment: ["OPENAI_BASE_URL": "http://127.0.0.1:\(port)/v1", "OPENAI_API_KEY": "sk-test"])
        let elapsed = ContinuousClock.now - started
        #expect(r.status == 1, "\(r.stderr)")
        #expect(elapsed < .seconds(3), "was silent for 60 s before: \(r.stderr)")
        #expect(r.stderr.contains("cannot connect to http://127.0.0.1:\(port)/v1/chat/completions: connection refused"), "\(r.stderr)")
        #expect(balanced(r.stderr), "\(r.stderr)")
        #expect(!(r.stderr.contains("NIOConnectionError") || r.stderr.contains("errno")), "\(r.stderr)")
    }

    @Test("a host that does not resolve fails at once")
    func aHostThatDoesNotResolveFailsAtOnce() async throws {
        // In a network namespace of its own (no interfaces up), the lookup fails without any
        // traffic leaving this machine.
        let started = ContinuousClock.now
        let r = try await shell(#"unshare --net "$ORBITER" run "$AGENT" hi"#,
                                environment: ["AGENT": try remoteAgent(), "OPENAI_BASE_URL": "http://model.invalid/v1", "OPENAI_API_KEY": "sk-test"])
        let elapsed = ContinuousClock.now - started
        #expect(r.status == 1, "\(r.stderr)")
        #expect(elapsed < .seconds(5), "\(r.stderr)")
        #expect(r.stderr.contains("cannot connect to http://model.invalid/v1/chat/completions: host name 'model.invalid' does not resolve"),
                "\(r.stderr)")
        #expect(balanced(r.stderr), "\(r.stderr)")
    }

    // MARK: Waiting

    @Test("--wait-timeout gives up, and warns when no worker is alive")
    func waitTimeoutGivesUpAndWarnsWhenNoWorkerIsAlive() async throws {
        let (env, queue) = try testQueue("edge")
        let started = ContinuousClock.now
        let r = try await OrbiterBinary.run(["submit", "examples/calculator.lua", "1 + 1", "--queue", queue, "--wait", "--timeout", "1",
                                             "--wait-timeout", "1"], environment: env)
        #expect(r.status == 1, "\(r.stderr)")
        #expect(ContinuousClock.now - started < .seconds(6))
        #expect(r.stderr.contains("warning: no live worker on queue '\(queue)'"), "\(r.stderr)")
        #expect(r.stderr.contains("gave up waiting for task ") && r.stderr.contains(" after 1 s"), "\(r.stderr)")
        #expect(r.stderr.contains("orbiter task cancel "), "\(r.stderr)")
        let usage = try await OrbiterBinary.run(["submit", "examples/calculator.lua", "1 + 1", "--queue", queue, "--wait-timeout", "0"],
                                                environment: env)
        #expect(usage.status == 2)
        #expect(usage.stderr.contains("--wait-timeout must be a positive number of seconds"), "\(usage.stderr)")
    }

    @Test("--wait and task result ride out a Redis restart")
    func waitAndTaskResultRideOutARedisRestart() async throws {
        let redis = try PrivateRedis()
        let env = ["ORBITER_REDIS_URL": redis.url]
        let agent = try temporaryScript("""
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
        #expect(waited.status == 0, "\(waited.stderr)")
        #expect(waited.stdout == "finished: done\n")
        let read = try await result.finish(timeout: .seconds(30))
        #expect(read.status == 0, "\(read.stderr)")
        #expect(read.stdout == "finished: done\n")
    }

    @Test("waiting exits 2 when Redis stays away")
    func waitingExitsTwoWhenRedisStaysAway() async throws {
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
        #expect(r.status == 2, "\(r.stderr)")
        #expect(ContinuousClock.now - started < .seconds(10))
        #expect(r.stderr.contains("Redis unreachable") && r.stderr.contains("while waiting for task \(id)"), "\(r.stderr)")
        let f = try await following.finish(timeout: .seconds(30))
        #expect(f.status == 2, "\(f.stderr)")
        #expect(f.stderr.contains("Redis unreachable") && f.stderr.contains("while following task \(id)"), "\(f.stderr)")
    }

    // MARK: Provider settings on workers

    @Test("a shipped base URL or key variable needs the worker's allowance")
    func aShippedBaseURLOrKeyVariableNeedsTheWorkersAllowance() async throws {
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
        #expect(refused.status == 1, "\(refused.stderr)")
        #expect(refused.stderr.contains("configuration: agent 'remote' sets base_url \"\(base)\""), "\(refused.stderr)")
        #expect(refused.stderr.contains("--allow-base-url \(base)"), "\(refused.stderr)")
        #expect(server.requests.count == 0, "the fake server must receive no request")

        // A worker that allows this base URL: the agent uses it, with the worker's own key.
        let openQueue = "open-" + UUID().uuidString.prefix(8).lowercased()
        let open = try OrbiterBinary.start(["start", "worker", "--queue", openQueue, "--worker-id", "open-\(openQueue)",
                                            "--allow-base-url", base + "/"], environment: workerEnv)
        defer { open.signal(SIGKILL) }
        try await open.waitFor { _, err in err.contains("started") }
        server.enqueue(.openAIReply("hello ", "from the fake"))
        let allowed = try await OrbiterBinary.run(["submit", try remoteAgent(baseURL: base), "hi", "--queue", openQueue, "--wait"],
                                                  environment: clientEnv)
        #expect(allowed.status == 0, "\(allowed.stderr)")
        #expect(allowed.stdout == "hello from the fake\n")
        #expect(server.requests.count == 1)
        #expect(server.requests.first?.header("authorization") == "Bearer \(secret)")

        // Naming another variable of the worker's environment as the key is refused there too.
        let keyed = try await OrbiterBinary.run(["submit", try remoteAgent(baseURL: base, keyEnv: "SOME_OTHER_SECRET"), "hi",
                                                 "--queue", openQueue, "--wait"], environment: clientEnv)
        #expect(keyed.status == 1, "\(keyed.stderr)")
        #expect(keyed.stderr.contains("sets api_key_env \"SOME_OTHER_SECRET\"") && keyed.stderr.contains("--allow-api-key-env SOME_OTHER_SECRET"),
                "\(keyed.stderr)")
        #expect(server.requests.count == 1, "no second request")
        #expect(!(server.requests.contains { $0.headers.values.contains { $0.contains("do-not-send") } }))
    }
}
