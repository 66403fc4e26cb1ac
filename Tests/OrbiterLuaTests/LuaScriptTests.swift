import Foundation
import OrbiterCore
@testable import OrbiterLua
import OrbiterTestSupport
import Testing

/// Serialized: tests spin CPU-bound Lua against time limits, take memory and time overlaps.
@Suite("Lua scripts", .serialized)
struct LuaScriptTests {
    @Test("load errors name the file and line", arguments: [
        ("local x = \n", ["main.lua:2:", "unexpected symbol"]),
        ("error('boom')", ["main.lua:1: boom"]),
        ("local o = require 'orbiter'\nreturn o.agent { name = 'a', model = 'lua:m', max_steps = 0 }", ["main.lua:2:", "max_steps"]),
        ("local o = require 'orbiter'\n\nreturn o.agent { name = 'a', model = 'nope:x' }", ["main.lua:3:", "unknown model provider 'nope'"]),
        ("local o = require 'orbiter'\no.tool { name = 't', run = 1 }\nreturn nil", ["main.lua:2:", "'run' must be a function"]),
        ("local o = require 'orbiter'\nreturn o.agent { name = 'a', model = 'lua:m', max_step = 3 }", ["main.lua:2:", "unknown field 'max_step'"]),
        ("return 42", ["not an agent or swarm"]),
        ("return nil", ["returned nothing"]),
        ("local o = require 'orbiter'\nlocal a = o.agent{name='a', model='lua:m'}\nreturn o.swarm { agents = {a}, flow = 'a >> b' }",
         ["main.lua:3:", "unknown agent 'b'"]),
        ("require 'missing.mod'", ["module 'missing.mod' not found", "missing/mod.lua"]),
        ("local o = require 'orbiter'\nreturn o.agent { name = 'a', model = 'lua:ghost' }", ["no orbiter.model named 'ghost'"]),
    ])
    func loadErrorsNameFileAndLine(source: String, fragments: [String]) {
        let error = #expect(throws: (any Error).self) { try load(source) }
        guard let error else { return }
        let text = "\(error)"
        for f in fragments { #expect(text.contains(f), "expected '\(f)' in: \(text)") }
    }

    @Test("shorthand and full parameter schemas")
    func shorthandAndFullSchemas() throws {
        let runtime = try load("""
            local orbiter = require "orbiter"
            local add = orbiter.tool { name = "add", description = "Add", parameters = { a = "integer", b = { type = "integer", description = "second" } },
                                       run = function(args) return args.a + args.b end }
            local full = orbiter.tool { name = "full", parameters = { type = "object", properties = { q = { type = "string" } } }, run = function() end }
            local m = orbiter.model { name = "m", respond = function() return "ok" end }
            return orbiter.agent { name = "calc", model = m, tools = { add, full } }
            """)
        guard case .agent(let agent) = try runtime.root() else { Issue.record("not an agent"); return }
        #expect(agent.tools[0].spec.parameters == ["type": "object", "properties": ["a": ["type": "integer"], "b": ["type": "integer", "description": "second"]], "required": ["a", "b"]])
        #expect(agent.tools[1].spec.parameters == ["type": "object", "properties": ["q": ["type": "string"]]])
        #expect(agent.tools[0].source == ["bundle": .string(runtime.bundle.sha256), "name": "add"])
        #expect(agent.model == "lua:m")
    }

    @Test("tool errors become failed results and the state survives")
    func toolErrorsBecomeFailedResultsAndTheStateSurvives() async throws {
        let runtime = try load(toolScript("""
            orbiter.tool { name = "bad", run = function(args) error("no " .. args.what) end }
            orbiter.tool { name = "good", run = function() return "fine" end }
            """))
        for _ in 0..<1000 {
            do {
                _ = try await runtime.callTool("bad", arguments: ["what": "luck"])
                Issue.record("bad should fail")
            } catch {
                #expect("\(error)".hasSuffix(":2: no luck") || "\(error)".contains("main.lua:2: no luck"), "\(error)")
            }
        }
        let before = await runtime.memoryUsed
        for _ in 0..<1000 { _ = try? await runtime.callTool("bad", arguments: ["what": "luck"]) }
        let after = await runtime.memoryUsed
        #expect(after - before < 200_000, "1000 failing calls should not accumulate memory (\(before) → \(after))")
        let fine = try await runtime.callTool("good", arguments: [:])
        #expect(fine == "fine")
    }

    @Test("sleeping tools overlap")
    func sleepingToolsOverlap() async throws {
        let runtime = try load(toolScript("""
            orbiter.tool { name = "nap", run = function(args) orbiter.sleep(0.2); orbiter.sleep(0.1); return args.n end }
            """))
        let start = ContinuousClock.now
        let results = try await withThrowingTaskGroup(of: JSONValue.self) { group in
            for i in 0..<5 { group.addTask { try await runtime.callTool("nap", arguments: ["n": .int(i)]) } }
            var all: [JSONValue] = []
            for try await r in group { all.append(r) }
            return all
        }
        #expect(Set(results) == Set((0..<5).map { JSONValue.int($0) }))
        #expect(ContinuousClock.now - start < .milliseconds(700), "five 300 ms tools on one state should overlap")
    }

    @Test("a sleep inside a user coroutine passes through")
    func sleepInsideAUserCoroutinePassesThrough() async throws {
        let runtime = try load(toolScript("""
            orbiter.tool { name = "co", run = function()
              local gen = coroutine.wrap(function() orbiter.sleep(0.01); coroutine.yield(1); orbiter.sleep(0.01); coroutine.yield(2) end)
              return gen() + gen()
            end }
            """))
        let value = try await runtime.callTool("co", arguments: [:])
        #expect(value == 3)
    }

    @Test("runaway tools are stopped by limits")
    func runawayToolsAreStoppedByLimits() async throws {
        let options = LuaRuntime.Options(callTimeLimit: .milliseconds(300))
        let runtime = try load(toolScript("""
            orbiter.tool { name = "spin", run = function() while true do end end }
            orbiter.tool { name = "sneaky", run = function() while true do pcall(function() while true do end end) end end }
            orbiter.tool { name = "nap", run = function() orbiter.sleep(5) end }
            """), options: options)
        for tool in ["spin", "sneaky", "nap"] {
            let start = ContinuousClock.now
            do {
                _ = try await runtime.callTool(tool, arguments: [:])
                Issue.record("\(tool) should be stopped")
            } catch {
                #expect("\(error)".contains("time limit exceeded"), "\(tool): \(error)")
            }
            #expect(ContinuousClock.now - start < .seconds(2), "\(tool)")
        }
        let budget = try load(toolScript("orbiter.tool { name = 'spin', run = function() while true do end end }"),
                              options: .init(callTimeLimit: nil, instructionLimit: 1_000_000))
        do {
            _ = try await budget.callTool("spin", arguments: [:])
            Issue.record("spin should be stopped")
        } catch {
            #expect("\(error)".contains("instruction limit exceeded"), "\(error)")
        }
    }

    @Test("the memory cap fails the call, not the process")
    func memoryCapFailsTheCallNotTheProcess() async throws {
        let runtime = try load(toolScript("""
            orbiter.tool { name = "bomb", run = function() local t = {} for i = 1, 1e9 do t[i] = string.rep("x", 1024) .. i end end }
            orbiter.tool { name = "ok", run = function() return "still here" end }
            """), options: .init(memoryLimit: 32 << 20))
        do {
            _ = try await runtime.callTool("bomb", arguments: [:])
            Issue.record("bomb should fail")
        } catch {
            #expect("\(error)".contains("not enough memory"), "\(error)")
        }
        let ok = try await runtime.callTool("ok", arguments: [:])
        #expect(ok == "still here")
    }

    @Test("the sandbox removes what shipped scripts must not reach")
    func sandboxRemovesWhatShippedScriptsMustNotReach() async throws {
        let probes = """
            orbiter.tool { name = "probe", run = function()
              return { io = io == nil, execute = os.execute == nil, exit = os.exit == nil, remove = os.remove == nil,
                       debug = debug == nil, loadlib = package.loadlib == nil, dofile = dofile == nil,
                       bytecode = select(2, load(string.char(27) .. "Lua", "x", "b")) }
            end }
            """
        let runtime = try load(toolScript(probes), options: .shipped())
        let result = try await runtime.callTool("probe", arguments: [:])
        for key in ["io", "execute", "exit", "remove", "debug", "loadlib", "dofile"] { #expect(result[key] == true, "\(key)") }
        #expect(result["bytecode"]?.stringValue?.contains("binary chunks are refused") == true, "\(result)")
    }

    @Test("a bundle travels with its modules and loads without files")
    func bundleTravelsWithItsModulesAndLoadsWithoutFiles() async throws {
        let path = try writeScripts([
            "main.lua": """
                local orbiter = require "orbiter"
                local util = require "lib.util"
                local t = orbiter.tool { name = "shout", run = function(args) return util.shout(args.s) end }
                local m = orbiter.model { name = "m", respond = function() return "ok" end }
                return orbiter.agent { name = "a", model = m, tools = { t } }
                """,
            "lib/util.lua": "local M = {}\nfunction M.shout(s) return (require 'lib.deep').bang(s:upper()) end\nreturn M",
            "lib/deep.lua": "return { bang = function(s) return s .. '!' end }",
        ])
        let local = try LuaRuntime(file: path)
        #expect(Set(local.bundle.modules.keys) == ["main.lua", "lib/util.lua", "lib/deep.lua"])
        let text = local.bundle.jsonString
        try FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent)
        let bundle = try ScriptBundle(jsonText: text, expectedSHA256: local.bundle.sha256)
        let remote = try LuaRuntime(bundle: bundle)
        guard case .agent(let agent) = try Runnable.fromDict(try local.root().toDict(), resolver: remote.resolver()) else {
            Issue.record("not an agent")
            return
        }
        let out = try await agent.tools[0].body(["s": "hi"])
        #expect(out == "HI!")
        let tampered = #expect(throws: (any Error).self) {
            try ScriptBundle(jsonText: text.replacingOccurrences(of: "bang", with: "bong"), expectedSHA256: local.bundle.sha256)
        }
        if let tampered { #expect("\(tampered)".contains("does not match its hash"), "\(tampered)") }
    }

    @Test("a Lua model runs an agent end to end")
    func luaModelRunsAnAgentEndToEnd() async throws {
        let path = try writeScripts(["main.lua": """
            local orbiter = require "orbiter"
            local add = orbiter.tool { name = "add", parameters = { a = "integer", b = "integer" }, run = function(a) return a.a + a.b end }
            local m = orbiter.model { name = "m", respond = function(req)
              local last = req.messages[#req.messages]
              if last.role == "tool" then return { content = { "sum ", last.content }, usage = { input_tokens = 3, output_tokens = 2 } } end
              assert(req.tools[1].name == "add" and req.messages[1].role == "system")
              return { tool_calls = { { name = "add", arguments = { a = 2, b = 40 } } } }
            end }
            return orbiter.agent { name = "calc", model = m, instructions = "add", tools = { add } }
            """])
        let runtime = try LuaRuntime(file: path)
        let (events, error) = await collect(OrbiterCore.run.stream(try runtime.root(), "2+40", detailed: true))
        #expect(error == nil)
        let texts = events.compactMap { if case .text(let t) = $0 { return t.text } else { return nil } }
        #expect(texts == ["sum ", "42"])
        let result = try await OrbiterCore.run(try runtime.root(), "2+40")
        #expect(result.output == "sum 42")
        #expect(result.steps == 2)
        #expect(result.usage.inputTokens == 3)
    }
}
