import OrbiterCore

/// An agent's hooks bound to the functions of its script (`hooks = {...}` of `orbiter.agent`).
///
/// Each hook call runs as a tool call does: its own coroutine of the script's state, the same
/// time, instruction and memory limits, charged to the task. What a hook returns is read here;
/// an error in it (or a return value it may not give) fails the run, naming the agent, the hook
/// and the script line.
struct LuaAgentHooks {
    let runtime: LuaRuntime
    let agent: String
    let account: LuaTaskAccount

    /// The hooks `names`, each of which the script must define for this agent.
    func bind(_ names: [String]) throws -> AgentHooks {
        let declared = runtime.hookPositions[agent] ?? [:]
        if let missing = names.first(where: { declared[$0] == nil }) {
            throw OrbiterError.invalidConfiguration(
                "agent '\(agent)' has a \(missing) hook that \(runtime.bundle.entry) does not define for an agent of that name")
        }
        var hooks = AgentHooks()
        for name in names {
            guard let hook = AgentHooks.Name(rawValue: name) else { continue }
            let call = HookCall(runtime: runtime, agent: agent, hook: name, position: declared[name] ?? "", account: account)
            switch hook {
            case .beforeModel: hooks.beforeModel = { try await call.beforeModel($0) }
            case .beforeTool: hooks.beforeTool = { try await call.beforeTool($0) }
            case .afterTool: hooks.afterTool = { try await call.afterTool($0, $1) }
            case .onOutput: hooks.onOutput = { try await call.onOutput($0, $1) }
            }
        }
        return hooks
    }
}

/// One hook of one agent, and how its Lua return values read.
private struct HookCall: Sendable {
    let runtime: LuaRuntime
    let agent: String
    let hook: String
    /// `file.lua:12`, where the function is defined ("" when unknown).
    let position: String
    let account: LuaTaskAccount

    /// `agent 'triage' hook before_tool (triage.lua:12)`.
    var what: String { "agent '\(agent)' hook \(hook)" + (position.isEmpty ? "" : " (\(position))") }

    /// `before_model(request)`: a table with `messages` edits them, a string (or `false, reason`)
    /// stops the run, nothing (or `true`) goes on.
    func beforeModel(_ request: ModelRequest) async throws -> ModelRequestDecision {
        let (first, second) = try await call([LuaModelProvider.requestTable(request)])
        switch first {
        case nil, .bool(true)?:
            return .proceed(request)
        case .string(let reason)?:
            return .stop(reason: reason)
        case .bool(false)?:
            return .stop(reason: second?.stringValue ?? "stopped by \(hook)")
        case .object?:
            guard let list = first?["messages"]?.arrayValue else {
                throw wrongReturn("returned a table without a 'messages' list")
            }
            var edited = request
            do {
                edited.messages = try list.map(Message.init(json:))
            } catch {
                throw wrongReturn("returned messages that cannot be read: \(error)")
            }
            return .proceed(edited)
        case let other?:
            throw wrongReturn("returned \(describe(other)); return the request (with edited messages), a reason to stop, or nothing")
        }
    }

    /// `before_tool(call)`: `false, "reason"` denies; nothing or `true` allows.
    func beforeTool(_ call: ToolCall) async throws -> ToolCallDecision {
        let (first, second) = try await self.call([Self.callTable(call, error: nil)])
        switch first {
        case nil, .bool(true)?: return .allow
        case .bool(false)?: return .deny(reason: second?.stringValue ?? "by the \(hook) hook")
        case let other?: throw wrongReturn("returned \(describe(other)); return false and a reason to deny, or nothing to allow")
        }
    }

    /// `after_tool(call, result)`: a value replaces the result; nothing keeps it. A failed
    /// call's result is nil and its message is `call.error`.
    func afterTool(_ call: ToolCall, _ result: ToolCallResult) async throws -> JSONValue? {
        try await self.call([Self.callTable(call, error: result.error), result.value]).0
    }

    /// `on_output(text, parsed)`: `false, "reason"` rejects; nothing or `true` accepts.
    func onOutput(_ text: String, _ parsed: JSONValue?) async throws -> OutputDecision {
        let (first, second) = try await call([.string(text), parsed])
        switch first {
        case nil, .bool(true)?: return .accept
        case .bool(false)?: return .reject(reason: second?.stringValue ?? "rejected by the \(hook) hook")
        case let other?: throw wrongReturn("returned \(describe(other)); return false and a reason to reject, or nothing to accept")
        }
    }

    /// `{name, arguments, id}` (arguments decoded when they are JSON), plus `error` for a failed call.
    static func callTable(_ call: ToolCall, error: String?) -> JSONValue {
        var d: [String: JSONValue] = ["name": .string(call.name), "id": .string(call.id),
                                      "arguments": (try? JSONValue.parse(call.arguments)) ?? .string(call.arguments)]
        if let error { d["error"] = .string(error) }
        return .object(d)
    }

    /// Runs the hook; a Lua error fails the run as a script error naming the hook.
    private func call(_ arguments: [JSONValue?]) async throws -> (JSONValue?, JSONValue?) {
        do {
            let values = try await runtime.callHook(hook, agent: agent, arguments: arguments, what: what, account: account)
            return (values[0], values[1])
        } catch let error as LuaError {
            let message = error.message.hasPrefix(what) ? error.message : "\(what) failed: \(error.message)"
            throw OrbiterError.script(message)
        }
    }

    private func wrongReturn(_ message: String) -> OrbiterError { .script("\(what) \(message)") }

    private func describe(_ value: JSONValue) -> String {
        switch value {
        case .object: return "a table"
        case .array: return "a list"
        case .null: return "json.null"
        case .bool(let b): return "the boolean \(b)"
        case .int, .double: return "the number \(value.jsonString)"
        case .string(let s): return "the string \(JSONValue.string(String(s.prefix(40))).jsonString)"
        }
    }
}
