import OrbiterCore

/// A model written in Lua (`orbiter.model{name, respond}`), for tests, offline demos and custom
/// routing.
///
/// `respond(request)` gets `{model, messages, tools}` and returns a string or
/// `{content = string | {chunks...}, tool_calls = {{name, arguments, id?}}, usage = {...}}`;
/// each chunk is streamed as its own text event.
struct LuaModelProvider: ModelProvider {
    let runtime: LuaRuntime
    let name: String
    var account: LuaTaskAccount? = nil

    func complete(_ request: ModelRequest, onEvent: (ModelStreamEvent) async throws -> Void) async throws {
        // This frame stays allocated while `respond` runs (or sleeps): reading the reply is out of
        // line (issue 21: memory of tasks in flight).
        let reply = try await runtime.callModel(name, request: Self.requestTable(request), account: account)
        try await send(reply, onEvent: onEvent)
    }

    /// Streams `respond`'s reply as events.
    @inline(never)
    private func send(_ reply: JSONValue?, onEvent: (ModelStreamEvent) async throws -> Void) async throws {
        let what = "model '\(name)'"
        guard let reply else {
            throw OrbiterError.script("\(what): respond returned nothing; return a string or a table {content = ..., tool_calls = ...}")
        }
        switch reply {
        case .string(let text):
            if !text.isEmpty { try await onEvent(.text(text)) }
            try await onEvent(.finish("stop"))
            return
        case .object:
            break
        default:
            throw OrbiterError.script("\(what): respond must return a string or a table, got \(reply.jsonString.prefix(80))")
        }
        switch reply["content"] {
        case .string(let text)?:
            if !text.isEmpty { try await onEvent(.text(text)) }
        case .array(let chunks)?:
            for (i, chunk) in chunks.enumerated() {
                guard let text = chunk.stringValue else { throw OrbiterError.script("\(what): content[\(i + 1)] must be a string") }
                try await onEvent(.text(text))
            }
        case nil, .null?:
            break
        case let other?:
            throw OrbiterError.script("\(what): content must be a string or a list of strings, got \(other.jsonString.prefix(80))")
        }
        var calls = 0
        if let toolCalls = reply["tool_calls"] {
            guard let list = toolCalls.arrayValue ?? (toolCalls.objectValue?.isEmpty == true ? [] : nil) else {
                throw OrbiterError.script("\(what): tool_calls must be a list")
            }
            for (i, call) in list.enumerated() {
                guard let toolName = call["name"]?.stringValue else {
                    throw OrbiterError.script("\(what): tool_calls[\(i + 1)].name must be a string")
                }
                let arguments: String
                switch call["arguments"] {
                case .string(let text)?: arguments = text
                case nil, .null?: arguments = "{}"
                case let value?: arguments = value.jsonString
                }
                try await onEvent(.toolCall(ToolCall(id: call["id"]?.stringValue ?? "", name: toolName, arguments: arguments)))
                calls += 1
            }
        }
        if let usage = reply["usage"], usage.objectValue != nil { try await onEvent(.usage(Usage(json: usage))) }
        try await onEvent(.finish(calls > 0 ? "tool_calls" : "stop"))
    }

    /// `{model, messages = {{role, content, tool_calls = {{id, name, arguments}}, tool_call_id, reasoning}}, tools}`,
    /// plus `output` (the schema the answer must match), `reasoning` and `settings` when the agent
    /// sets them; tool-call arguments arrive decoded (a table) when they are valid JSON.
    static func requestTable(_ request: ModelRequest) -> JSONValue {
        let messages: [JSONValue] = request.messages.map { m in
            var d: [String: JSONValue] = ["role": .string(m.role.rawValue), "content": .string(m.content)]
            if !m.toolCalls.isEmpty {
                d["tool_calls"] = .array(m.toolCalls.map { call in
                    ["id": .string(call.id), "name": .string(call.name),
                     "arguments": (try? JSONValue.parse(call.arguments)) ?? .string(call.arguments)]
                })
            }
            if let id = m.toolCallID { d["tool_call_id"] = .string(id) }
            if let name = m.name { d["name"] = .string(name) }
            if !m.reasoning.isEmpty { d["reasoning"] = .array(m.reasoning.map(\.json)) }
            return .object(d)
        }
        let tools: [JSONValue] = request.tools.map {
            ["name": .string($0.name), "description": .string($0.description), "parameters": $0.parameters]
        }
        var table: [String: JSONValue] = ["model": .string(request.model), "messages": .array(messages), "tools": .array(tools)]
        if let output = request.output { table["output"] = output.schema }
        if let reasoning = request.reasoning { table["reasoning"] = reasoning.json }
        if !request.options.isEmpty { table["settings"] = request.options.json }
        return .object(table)
    }
}
