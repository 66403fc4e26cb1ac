import Foundation
import OrbiterCore
import OrbiterTestSupport
import Testing

/// `orbiter limits set|list|remove` as a person types them, bad input included, and
/// `orbiter run --limits` booking under the same limits.
@Suite("Limits CLI", .serialized)
struct LimitsCLITests {
    let env: [String: String]
    /// A model no other test limits (limits are global to a Redis).
    let model = "openai:cli-" + UUID().uuidString.prefix(8).lowercased()

    init() throws { env = ["ORBITER_REDIS_URL": try TestRedis.url()] }

    func orbiter(_ args: [String], environment: [String: String]? = nil) async throws -> OrbiterBinary.Outcome {
        try await OrbiterBinary.run(args, environment: environment ?? env)
    }

    func listed() async throws -> JSONValue? {
        let out = try await orbiter(["limits", "list", "--json"])
        #expect(out.status == 0, "\(out.stderr)")
        return try JSONValue.parse(out.stdout).arrayValue?.first { $0["name"]?.stringValue == model }
    }

    @Test("set, list (text and --json), change and remove a limit")
    func setListRemove() async throws {
        let set = try await orbiter(["limits", "set", model, "--rpm", "500", "--tpm", "200000"])
        #expect(set.status == 0, "\(set.stderr)")
        #expect(set.stdout == "set limit \(model): rpm 500, tpm 200000, per 60s\n")
        let entry = try #require(try await listed())
        #expect(entry["rpm"] == 500 && entry["tpm"] == 200000 && entry["period_ms"] == 60000 && entry["itpm"] == nil)
        #expect(entry["in_use"] == ["rpm": 0, "tpm": 0] && entry["next_free_ms"] == 0 && entry["rejections"] == 0, "\(entry)")
        let text = try await orbiter(["limits", "list"])
        #expect(text.stdout.contains("\(model)  rpm 0/500  tpm 0/200000  per 60s  next free now  429s 0"), "\(text.stdout)")
        // Setting again replaces every number: --tpm is gone.
        let changed = try await orbiter(["limits", "set", model, "--itpm", "30000", "--otpm", "8000", "--period", "1m", "--output-estimate", "256"])
        #expect(changed.stdout == "changed limit \(model): itpm 30000, otpm 8000, per 60s, output estimate 256\n", "\(changed.stderr)")
        let after = try #require(try await listed())
        #expect(after["tpm"] == nil && after["rpm"] == nil && after["itpm"] == 30000 && after["output_estimate"] == 256)
        let removed = try await orbiter(["limits", "remove", model])
        #expect(removed.status == 0 && removed.stdout == "removed limit \(model)\n")
        #expect(try await listed() == nil)
        let again = try await orbiter(["limits", "remove", model])
        #expect(again.status == 1)
        #expect(again.stderr.contains("no limit for \(model)"), "\(again.stderr)")
        let json = try await orbiter(["limits", "remove", model, "--json"])
        #expect(json.status == 1 && json.stdout.contains(#""removed":false"#))
    }

    @Test("bad numbers, flag combinations, periods and names are refused with exit 2, naming what is wrong")
    func badInput() async throws {
        let cases: [([String], String)] = [
            ([model, "--rpm", "0"], "--rpm must be a whole number from 1"),
            ([model, "--tpm", "-5"], "--tpm must be a whole number from 1"),
            ([model, "--output-estimate", "0", "--rpm", "1"], "--output-estimate must be"),
            ([model, "--rpm", "abc"], "--rpm"),
            ([model, "--rpm", "1.5"], "--rpm"),
            ([model], "at least one of --rpm, --itpm, --otpm, --tpm"),
            ([model, "--tpm", "10", "--itpm", "5"], "--tpm (input and output counted together"),
            ([model, "--rpm", "5", "--period", "0s"], "--period must be from 1 ms to 24 h"),
            ([model, "--rpm", "5", "--period", "2d"], "--period expects a duration"),
            ([model, "--rpm", "5", "--period", "soon"], "--period expects a duration"),
            (["gpt-4o", "--rpm", "5"], "has no provider"),
            (["OpenAI:gpt-4o", "--rpm", "5"], "the provider must be lower-case"),
            (["openai:", "--rpm", "5"], "the model must be 1 to 200 bytes"),
            (["openai:gpt 4o", "--rpm", "5"], "must not contain spaces"),
            ([model, "--key", "1BAD", "--rpm", "5"], "the key must be an environment variable name"),
            ([model + "#A", "--key", "B", "--rpm", "5"], "either as MODEL#A or with --key"),
        ]
        for (args, message) in cases {
            let out = try await orbiter(["limits", "set"] + args)
            #expect(out.status == 2, "\(args): \(out.stderr)")
            #expect(out.stderr.contains(message), "\(args): \(out.stderr)")
        }
        let wait = try await orbiter(["start", "worker", "--limits", "--limits-max-wait", "5000"])
        #expect(wait.status == 2 && wait.stderr.contains("--limits-max-wait must be from 0 to 3600 seconds"), "\(wait.stderr)")
        let unknown = try await orbiter(["limits", "list", "--rpm", "5"])
        #expect(unknown.status == 2 && unknown.stderr.contains("--rpm"), "\(unknown.stderr)")
        #expect(try await listed() == nil)
    }

    @Test("a Redis that is not there: exit 2 naming it")
    func redisMissing() async throws {
        let port = try freePort()
        let out = try await orbiter(["limits", "list", "--redis-url", "redis://127.0.0.1:\(port)"])
        #expect(out.status == 2)
        #expect(out.stderr.contains("127.0.0.1:\(port)"), "\(out.stderr)")
    }

    @Test("orbiter run --limits books under the shared limit; without ORBITER_REDIS_URL it says what it needs")
    func runWithLimits() async throws {
        let server = try await TestHTTPServer.start()
        defer { Task { await server.stop() } }
        let sse = [
            #"{"id":"c","object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":{"content":"hello"},"finish_reason":"stop"}]}"#,
            #"{"id":"c","object":"chat.completion.chunk","model":"m","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15}}"#,
        ].map { "data: \($0)\n\n" }.joined() + "data: [DONE]\n\n"
        server.route("/v1/chat/completions", .text(sse))
        let script = try temporaryScript("""
            return orbiter.agent { name = "a", model = "\(model)", max_tokens = 50 }
            """)
        let withServer = env.merging(["OPENAI_BASE_URL": server.url("/v1")]) { $1 }
        let missing = try await orbiter(["run", "--limits", script, "hi"], environment: withServer.merging(["ORBITER_REDIS_URL": ""]) { $1 })
        #expect(missing.status == 2)
        #expect(missing.stderr.contains("--limits needs ORBITER_REDIS_URL"), "\(missing.stderr)")
        #expect(server.requests.isEmpty)

        #expect(try await orbiter(["limits", "set", model, "--rpm", "100", "--tpm", "1000", "--period", "1h"]).status == 0)
        let run = try await orbiter(["run", "--limits", script, "hi"], environment: withServer)
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout == "hello\n")
        // One call booked, settled to the 12 + 3 tokens it used (an hour's window: still in use).
        let entry = try #require(try await listed())
        #expect(entry["in_use"] == ["rpm": 1, "tpm": 15], "\(entry)")
        _ = try await orbiter(["limits", "remove", model])
    }
}
