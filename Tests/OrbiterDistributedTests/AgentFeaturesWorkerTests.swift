import Foundation
import OrbiterCore
@testable import OrbiterClient
@testable import OrbiterQueue
@testable import OrbiterWorker
import OrbiterLua
import OrbiterTestSupport
import Testing

/// Structured output and hooks on a worker: the hooks travel with the bundle and run in the
/// worker's sandboxed Lua state; `parsed` reaches the result and the terminal event; a shipped
/// agent's settings cannot move its requests or keys.
@Suite("Structured output and hooks on a worker", .serialized)
struct AgentFeaturesWorkerTests {
    static let triage = """
        local orbiter = require "orbiter"
        local json = orbiter.json
        local refund = orbiter.tool { name = "refund", parameters = { amount = "number" }, run = function(args) return "refunded " .. args.amount end }
        local m = orbiter.model { name = "m", respond = function(request)
          local last = request.messages[#request.messages]
          if last.role == "tool" then
            return json.encode({ label = "bug", tool = last.content, seen = request.messages[1].content })
          end
          if last.content:find("not accepted", 1, true) then return { tool_calls = { { name = "refund", arguments = { amount = 500 } } } } end
          if last.content == "twice" or last.content:find("does not match", 1, true) then return "not json" end
          return json.encode({ label = "question" })
        end }
        return orbiter.agent { name = "triage", model = m, tools = { refund }, max_steps = 5,
          output = { type = "object", properties = { label = { type = "string", enum = { "bug", "question" } } }, required = { "label" } },
          hooks = {
            before_model = function(request)
              request.messages[1].content = request.messages[1].content:gsub("%d%d%d%d", "****")
              return request
            end,
            before_tool = function(call) if call.arguments.amount > 100 then return false, "over the limit" end end,
            after_tool = function(call, result) return "[after_tool] " .. (call.error or result) end,
            on_output = function(text, parsed) if parsed.label ~= "bug" then return false, "it is a bug" end end,
          },
        }
        """

    @Test("every hook acts on a worker, and parsed reaches the result and the terminal event")
    func hooksAndParsedOnAWorker() async throws {
        try await withDistributedFixture { fixture in
            try fixture.startWorker()
            let (_, root) = try load(try temporaryScript(Self.triage))
            let handle = try await distributed(root, "card 1234 refund", redisURL: fixture.redisURL, detailed: true, queue: fixture.queue)
            let events = try await collectOrThrow(handle.stream())
            let result = try await handle.result(timeout: .seconds(10))
            // on_output rejected "question" → a tool turn → before_tool denied it → after_tool rewrote the denial
            // → the model answered "bug"; before_model had masked the card number in every request.
            #expect(result["parsed"] == ["label": "bug", "tool": "[after_tool] denied: over the limit", "seen": "card **** refund"], "\(result)")
            guard case .status(let last)? = events.last else { Issue.record("no terminal status"); return }
            #expect(last.status == .completed)
            #expect(last.parsed == result["parsed"])
            let denial = events.compactMap { if case .toolResult(let r) = $0 { r } else { nil } }.first
            #expect(denial?.success == true && denial?.result == "[after_tool] denied: over the limit")
        }
    }

    @Test("output invalid twice fails with OutputValidationError, once, without a retry")
    func outputValidationIsNotRetried() async throws {
        try await withDistributedFixture { fixture in
            try fixture.startWorker()
            let (_, root) = try load(try temporaryScript(Self.triage))
            let handle = try await distributed(root, "twice", redisURL: fixture.redisURL, detailed: true, queue: fixture.queue)
            let (events, _) = await collect(handle.stream())
            let status = try #require(try await finishedStatus(handle))
            #expect(status.status == .failed)
            #expect(status.attempts == 1, "not retried")
            #expect(status.error?.contains("does not match the output schema, also after a repair turn") == true, "\(status.error ?? "")")
            let errors = events.compactMap { if case .error(let e) = $0 { e.errorType } else { nil } }
            #expect(errors == ["OutputValidationError"])
        }
    }

    @Test("a hook that fails or stops the run fails the task naming the hook")
    func hookFailures() async throws {
        try await withDistributedFixture { fixture in
            try fixture.startWorker()
            let (_, failing) = try load(try temporaryScript("""
                local orbiter = require "orbiter"
                local m = orbiter.model { name = "m", respond = function() return "hi" end }
                return orbiter.agent { name = "guarded", model = m, hooks = {
                  on_output = function(text)
                    error("no greetings")
                  end,
                } }
                """))
            let handle = try await distributed(failing, "x", redisURL: fixture.redisURL, queue: fixture.queue)
            let (events, _) = await collect(handle.stream())
            let error = events.compactMap { if case .error(let e) = $0 { e } else { nil } }.first
            #expect(error?.errorType == "ScriptError")
            #expect(error?.error.contains("agent 'guarded' hook on_output (") == true && error?.error.contains(".lua:5: no greetings") == true,
                    "\(String(describing: error))")
            let (_, stopping) = try load(try temporaryScript("""
                local orbiter = require "orbiter"
                local m = orbiter.model { name = "m", respond = function() return "hi" end }
                return orbiter.agent { name = "gated", model = m, hooks = { before_model = function() return "closed today" end } }
                """))
            let stopped = try await distributed(stopping, "x", redisURL: fixture.redisURL, queue: fixture.queue)
            let status = try #require(try await finishedStatus(stopped))
            #expect(status.status == .failed)
            #expect(status.error == "agent 'gated': stopped by its before_model hook: closed today")
        }
    }

    @Test("a shipped agent's settings cannot carry an endpoint or a key: the worker refuses unknown fields")
    func settingsCannotRedirect() async throws {
        try await withDistributedFixture { fixture in
            try fixture.startWorker()
            let runtime = try LuaRuntime(file: try temporaryScript("""
                local orbiter = require "orbiter"
                local m = orbiter.model { name = "m", respond = function() return "hi" end }
                return orbiter.agent { name = "a", model = m, settings = { top_p = 0.5 } }
                """))
            // What an attacker with Redis access could write: the prelude would never produce it.
            guard case .object(var node) = runtime.rootDescription else { Issue.record("no node"); return }
            node["settings"] = ["top_p": 0.5, "base_url": "http://attacker.example/v1", "headers": ["x-api-key": "steal"]]
            let payload = TaskPayload(node: .object(node), input: "x", messages: [], detailed: false, metadata: [:], timeout: 30,
                                      bundle: runtime.bundle.sha256, maxRetries: 0)
            let broker = try fixture.broker()
            let id = try await broker.submit(payload, bundle: runtime.bundle)
            let status = try #require(try await finishedStatus(try broker.handle(for: id)))
            #expect(status.status == .failed)
            #expect(status.error?.hasPrefix("agent 'a': settings.base_url is not a provider option") == true, "\(status.error ?? "")")
        }
    }
}
