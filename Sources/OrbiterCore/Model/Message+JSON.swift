extension Message {
    /// `{role, content, tool_calls: [{id, name, arguments}], tool_call_id, name, reasoning}` — the shape
    /// `messages` travel in (task payloads, checkpoints).
    public var json: JSONValue {
        var d: [String: JSONValue] = ["role": .string(role.rawValue), "content": .string(content)]
        if !toolCalls.isEmpty {
            d["tool_calls"] = .array(toolCalls.map { ["id": .string($0.id), "name": .string($0.name), "arguments": .string($0.arguments)] })
        }
        if let toolCallID { d["tool_call_id"] = .string(toolCallID) }
        if let name { d["name"] = .string(name) }
        if !reasoning.isEmpty { d["reasoning"] = .array(reasoning.map(\.json)) }
        return .object(d)
    }

    /// Reads a message; the error names the field. Tool-call arguments may be JSON text or an object.
    public init(json: JSONValue) throws {
        guard let roleName = json["role"]?.stringValue, let role = Role(rawValue: roleName) else {
            throw OrbiterError.invalidConfiguration("message field 'role' must be one of system, user, assistant, tool")
        }
        let content: String
        switch json["content"] {
        case .string(let s)?: content = s
        case nil, .null?: content = ""
        default: throw OrbiterError.invalidConfiguration("message field 'content' must be a string")
        }
        var calls: [ToolCall] = []
        for call in json["tool_calls"]?.arrayValue ?? [] {
            guard let name = call["name"]?.stringValue else {
                throw OrbiterError.invalidConfiguration("message tool_calls entries need a 'name'")
            }
            let arguments = call["arguments"].map { $0.stringValue ?? $0.jsonString } ?? "{}"
            calls.append(ToolCall(id: call["id"]?.stringValue ?? "", name: name, arguments: arguments))
        }
        self.init(role: role, content: content, toolCalls: calls, toolCallID: json["tool_call_id"]?.stringValue,
                  name: json["name"]?.stringValue, reasoning: (json["reasoning"]?.arrayValue ?? []).map(ReasoningBlock.init(json:)))
    }
}
