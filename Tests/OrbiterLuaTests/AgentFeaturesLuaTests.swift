import Synchronization
import Foundation
import OrbiterCore
@testable import OrbiterLua
import OrbiterTestSupport
import Testing

/// `output`, `hooks`, `reasoning` and `settings` of `orbiter.agent`, with models written in Lua.
@Suite("Agent output, hooks and settings in Lua")
struct AgentFeaturesLuaTests {
    /// A script: `model` is the body of `respond(request)`; `fields` go into the agent.
    func script(model: String, fields: String, tools: String = "") -> String {
        """
        local orbiter = require "orbiter"
        local json = orbiter.json
        \(tools)
        local m = orbiter.model { name = "m", respond = function(request)
        \(model)
        end }
        return orbiter.agent { name = "a", model = m, max_steps = 4,
        \(fields)
        }
        """
    }

    func run(_ source: String, _ input: String = "go", options: LuaRuntime.Options = .init()) async throws -> (RunResult?, (any Error)?, [StreamEvent]) {
        let root = try load(source, options: options).root()
        let events = EventLog()
        do {
            let result = try await OrbiterCore.run.execute(root, input: input, detailed: true) { events.append($0) }
            return (result, nil, events.all)
        } catch {
            return (nil, error, events.all)
        }
    }

    static let labelSchema = #"output = { type = "object", properties = { label = { type = "string", enum = { "bug", "question" } } }, required = { "label" } },"#

    @Test("a Lua model sees request.output; a valid answer comes back parsed")
    func validOutput() async throws {
        let (result, error, events) = try await run(script(model: """
              assert(request.output.properties.label.enum[2] == "question")
              assert(#request.output.required == 1)
              return json.encode({ label = "bug" })
            """, fields: Self.labelSchema))
        #expect(error == nil, "\(String(describing: error))")
        #expect(result?.parsed == ["label": "bug"])
        guard case .status(let done)? = events.last else { Issue.record("no status"); return }
        #expect(done.parsed == ["label": "bug"])
    }

    @Test("invalid, then repaired after the model is told the error; invalid twice fails")
    func repairAndFailure() async throws {
        let repaired = try await run(script(model: """
              local last = request.messages[#request.messages].content
              if last:find("does not match", 1, true) then return json.encode({ label = "question" }) end
              return "a question, I think"
            """, fields: Self.labelSchema))
        #expect(repaired.0?.parsed == ["label": "question"], "\(String(describing: repaired.1))")
        #expect(repaired.0?.messages.contains { $0.content.contains("the answer is not JSON") } == true)

        let failed = try await run(script(model: #"return json.encode({ label = "feature" })"#, fields: Self.labelSchema))
        #expect(errorTypeName(try #require(failed.1)) == "OutputValidationError")
        #expect("\(failed.1!)".contains(#"$.label: "feature" is not one of "bug", "question""#), "\(failed.1!)")
        let errorEvent = failed.2.compactMap { if case .error(let e) = $0 { e } else { nil } }.first
        #expect(errorEvent?.errorType == "OutputValidationError")
    }

    @Test("before_model edits the messages the model sees, or stops the run with its reason")
    func beforeModel() async throws {
        let edited = try await run(script(model: "return request.messages[#request.messages].content", fields: """
              hooks = { before_model = function(request)
                local last = request.messages[#request.messages]
                last.content = last.content:gsub("%d%d%d%d", "****")
                return request
              end },
            """), "card 1234 please")
        #expect(edited.0?.output == "card **** please", "\(String(describing: edited.1))")
        let stopped = try await run(script(model: "return 'never'", fields: """
              hooks = { before_model = function(request) if #request.messages > 0 then return "no homework help" end end },
            """))
        #expect("\(stopped.1!)" == "agent 'a': stopped by its before_model hook: no homework help")
        #expect(errorTypeName(stopped.1!) == "StoppedByHook")
    }

    static let refundTool = """
        local refund = orbiter.tool { name = "refund", parameters = { amount = "number" }, run = function(args) return { refunded = args.amount } end }
        """

    @Test("before_tool denies (the model sees 'denied: reason'); after_tool replaces the result")
    func toolHooks() async throws {
        let model = """
              local last = request.messages[#request.messages]
              if last.role == "tool" then return "tool said: " .. last.content end
              return { tool_calls = { { name = "refund", arguments = { amount = tonumber(last.content) } } } }
            """
        let hooks = """
              tools = { refund },
              hooks = {
                before_tool = function(call)
                  assert(call.name == "refund" and call.id ~= "")
                  if call.arguments.amount > 100 then return false, "refunds over 100 need a person" end
                end,
                after_tool = function(call, result)
                  if result then return "refunded " .. result.refunded .. " EUR" end
                  assert(call.error:find("denied", 1, true))
                end,
              },
            """
        let denied = try await run(script(model: model, fields: hooks, tools: Self.refundTool), "500")
        #expect(denied.0?.output == "tool said: Error: denied: refunds over 100 need a person", "\(String(describing: denied.1))")
        let toolEvent = denied.2.compactMap { if case .toolResult(let r) = $0 { r } else { nil } }.first
        #expect(toolEvent?.success == false)
        let allowed = try await run(script(model: model, fields: hooks, tools: Self.refundTool), "30")
        #expect(allowed.0?.output == "tool said: refunded 30 EUR", "\(String(describing: allowed.1))")
    }

    @Test("on_output rejects with a reason the model then sees; text and parsed arrive")
    func onOutput() async throws {
        let (result, error, _) = try await run(script(model: """
              local last = request.messages[#request.messages].content
              if last:find("not accepted", 1, true) then return json.encode({ label = "bug" }) end
              return json.encode({ label = "question" })
            """, fields: Self.labelSchema + """
              hooks = { on_output = function(text, parsed)
                assert(type(text) == "string" and text:find("label"))
                if parsed.label ~= "bug" then return false, "it crashed, so it is a bug" end
              end },
            """))
        #expect(error == nil, "\(String(describing: error))")
        #expect(result?.parsed == ["label": "bug"])
        #expect(result?.messages.contains { $0.content.contains("it crashed, so it is a bug") } == true)
    }

    @Test("a hook that fails names the agent, the hook and the script line; so does a bad return value")
    func hookErrors() async throws {
        let raising = try await run(script(model: "return 'x'", fields: """
              hooks = { on_output = function(text)
                error("boom")
              end },
            """))
        let message = "\(raising.1!)"
        #expect(message.hasPrefix("agent 'a' hook on_output (") && message.contains("/main.lua:8) failed: ")
                && message.hasSuffix("/main.lua:9: boom"), "\(message)")
        #expect(errorTypeName(raising.1!) == "ScriptError")
        let wrong = try await run(script(model: "return 'x'", fields: "hooks = { on_output = function() return 42 end },"))
        #expect("\(wrong.1!)".contains("main.lua:8) returned the number 42; return false and a reason to reject"), "\(wrong.1!)")
    }

    @Test("hooks run under the call limits")
    func hookLimits() async throws {
        var options = LuaRuntime.Options()
        options.callTimeLimit = .milliseconds(200)
        let (_, error, _) = try await run(script(model: "return 'x'", fields: "hooks = { before_model = function() while true do end end },"),
                                          options: options)
        #expect("\(error!)".contains("agent 'a' hook before_model (") && "\(error!)".contains("main.lua:8)"), "\(error!)")
        #expect("\(error!)".contains("time limit"), "\(error!)")
    }

    @Test("definition errors name the field and the script line")
    func definitionErrors() throws {
        let cases: [(String, String)] = [
            ("hooks = { before_everything = function() end },", "hooks.before_everything is not a hook (known hooks: before_model, before_tool, after_tool, on_output)"),
            ("hooks = { on_output = 5 },", "hooks.on_output must be a function, got number"),
            ("output = \"json\",", "field 'output' must be a JSON Schema table"),
            ("output = { type = \"strin\" },", #"output.type: unknown type "strin""#),
            ("output = { type = \"object\", required = \"label\" },", "output.required: must be a list of property names"),
            ("reasoning = { effort = \"low\", budget_tokens = 2000 },", "reasoning takes either effort (OpenAI-compatible) or budget_tokens (Anthropic), not both"),
            ("reasoning = { budget_tokens = 10 },", "reasoning.budget_tokens must be an integer, 1024 or more"),
            ("settings = { base_url = \"http://evil\" },", "settings.base_url is not a provider option"),
            ("settings = { tool_choice = \"always\" },", #"settings.tool_choice must be "auto", "none", "required" or { name = "tool" }"#),
            ("settings = { stop = { 1 } },", "settings.stop must be a string or a list of non-empty strings"),
            ("budget = { tokens = -1 },", "budget.tokens must be 0 or more tokens, got -1"),
            ("budget = { tokens = \"lots\" },", "budget.tokens must be a whole number of tokens"),
            ("budget = { tokens = 1e300 },", "budget.tokens must be a whole number of tokens"),
            ("budget = { cost = -2 },", "budget.cost must be 0 or more US dollars"),
            ("budget = { dollars = 1 },", "budget.dollars is not a budget field (known: cost, tokens)"),
            ("budget = 5,", "field 'budget' must be a table"),
        ]
        for (field, message) in cases {
            #expect(throws: LuaError.self) { try load(script(model: "return 'x'", fields: field)) }
            do {
                _ = try load(script(model: "return 'x'", fields: field))
            } catch let error as LuaError {
                #expect(error.message.contains("main.lua:7: orbiter.agent 'a': \(message)"), "\(field) → \(error.message)")
            }
        }
    }

    @Test("an agent's budget travels in to_dict and stops its run with BudgetExceeded")
    func agentBudget() async throws {
        let source = script(model: """
              return { tool_calls = { { name = "ping", arguments = {} } }, usage = { input_tokens = 70, output_tokens = 30 } }
            """, fields: "budget = { tokens = 150, cost = 2.5 }, tools = { ping },",
            tools: #"local ping = orbiter.tool { name = "ping", run = function() return "pong" end }"#)
        #expect(try load(source).root().toDict()["budget"] == ["tokens": 150, "cost": 2.5])
        let (_, error, _) = try await run(source.replacingOccurrences(of: "cost = 2.5", with: ""))
        #expect((error as? OrbiterError)?.typeName == "BudgetExceeded")
        #expect("\(error!)".hasPrefix("agent 'a' budget of 150 tokens exceeded: 200 tokens spent"), "\(error!)")
    }

    @Test("to_dict carries output, reasoning, settings and the hook names; names of hooked agents are unique")
    func toDict() throws {
        let runtime = try load(script(model: "return 'x'", fields: """
              output = { type = "object", properties = {}, required = {} },
              reasoning = { effort = "low" },
              settings = { tool_choice = "auto", parallel_tool_calls = false, top_p = 0.9, stop = { "###" }, seed = 7, cache = true },
              hooks = { on_output = function() end, before_tool = function() end },
            """))
        let dict = runtime.rootDescription
        #expect(dict["hooks"] == ["before_tool", "on_output"])
        #expect(dict["output"] == ["type": "object", "properties": [:], "required": []], "empty lists stay lists")
        #expect(dict["reasoning"] == ["effort": "low"])
        #expect(dict["settings"]?["stop"] == ["###"])
        guard case .agent(let agent) = try runtime.root() else { Issue.record("not an agent"); return }
        #expect(agent.hooks.names == ["before_tool", "on_output"])
        #expect(agent.options == ModelOptions(toolChoice: .auto, parallelToolCalls: false, topP: 0.9, stop: ["###"], seed: 7, cache: true))

        #expect(throws: LuaError.self) {
            try load("""
                local orbiter = require "orbiter"
                local m = orbiter.model { name = "m", respond = function() return "x" end }
                local a = orbiter.agent { name = "a", model = m, hooks = { on_output = function() end } }
                return orbiter.agent { name = "a", model = m, hooks = { on_output = function() end } }
                """)
        }
    }
}

/// Events collected from a sink that may be called from several tasks.
final class EventLog: Sendable {
    private let events = Mutex<[StreamEvent]>([])
    func append(_ event: StreamEvent) { events.withLock { $0.append(event) } }
    var all: [StreamEvent] { events.withLock { $0 } }
}
