import CLua
import Foundation
import OrbiterCore
import OrbiterClient
import OrbiterQueue
import OrbiterWorker
import OrbiterLua
import OrbiterRedis
import Synchronization

// MARK: - Lua micro-benchmarks

enum LuaBench {
    static func run(_ o: Options) async throws {
        let iterations = o.int("iterations", 200_000)
        let bare = barePcall(iterations: iterations * 10)
        let path = try writeScript("micro.lua", Scripts.micro)
        var fields: [String: JSONValue] = ["scenario": "lua", "iterations": .int(iterations), "bare_pcall_us": .double(bare)]
        for (label, options) in [("local", LuaRuntime.Options()), ("shipped", LuaRuntime.Options.shipped())] {
            let runtime = try LuaRuntime(file: path, options: options)
            guard case .agent(let agent) = try runtime.root(), let tool = agent.tools.first, let provider = agent.provider else {
                throw LuaError(message: "micro.lua: unexpected root")
            }
            let argumentsText = #"{"a": 1, "b": 2}"#
            // Swift → Lua tool → result, parsing the JSON arguments as the runner does.
            let toolUs = try await timeUs(iterations) {
                let args = try JSONValue.parse(argumentsText)
                let r = try await tool.body(args)
                guard r == .int(3) else { throw LuaError(message: "add returned \(r)") }
            }
            // The actor's call directly (no JSON text).
            let directUs = try await timeUs(iterations) {
                _ = try await runtime.callTool("add", arguments: ["a": 1, "b": 2])
            }
            let request = ModelRequest(model: "lua:echo", messages: [.user("hello")], tools: [tool.spec])
            let modelUs = try await timeUs(iterations / 4) {
                try await provider.complete(request) { _ in }
            }
            fields["lua_tool_call_us_\(label)"] = .double(toolUs)
            fields["lua_tool_call_direct_us_\(label)"] = .double(directUs)
            fields["lua_model_call_us_\(label)"] = .double(modelUs)
            // State creation (what a worker does per task): prelude + script evaluation.
            let bundle = runtime.bundle
            let stateUs = try await timeUs(max(200, iterations / 200)) {
                _ = try LuaRuntime(bundle: bundle, options: options)
            }
            fields["lua_state_create_us_\(label)"] = .double(stateUs)
            fields["lua_state_bytes_\(label)"] = .int(await runtime.memoryUsed)
        }
        fields["lua_tool_call_us"] = fields["lua_tool_call_us_shipped"]
        emit(fields)
    }

    static func timeUs(_ n: Int, _ body: () async throws -> Void) async throws -> Double {
        for _ in 0..<min(1000, n) { try await body() }  // warm
        let t0 = nowNs()
        for _ in 0..<n { try await body() }
        return Double(nowNs() - t0) / 1e3 / Double(n)
    }

    /// A bare `lua_pcall` of `function(a, b) return a + b end` from Swift: the floor.
    static func barePcall(iterations: Int) -> Double {
        guard let L = luaL_newstate() else { return .nan }
        defer { lua_close(L) }
        luaL_openlibs(L)
        let source = "return function(a, b) return a + b end"
        _ = orbiter_lua_loadbuffer(L, source, source.utf8.count, "=bare", "t")
        _ = orbiter_lua_pcall(L, 0, 1, 0)
        var sum: lua_Integer = 0
        let t0 = nowNs()
        for i in 0..<iterations {
            lua_pushvalue(L, 1)
            lua_pushinteger(L, lua_Integer(i))
            lua_pushinteger(L, 2)
            _ = orbiter_lua_pcall(L, 2, 1, 0)
            sum &+= lua_tointegerx(L, -1, nil)
            lua_settop(L, 1)
        }
        let us = Double(nowNs() - t0) / 1e3 / Double(iterations)
        if sum == 42 { print("") }  // keep the loop alive
        return us
    }
}
