import OrbiterCore

/// Builds the Chat Completions request body from the neutral request.
enum OpenAIRequestBody {
    /// `maxTokensField`: OpenAI's own API wants `max_completion_tokens` (reasoning models reject
    /// `max_tokens`); most compatible servers only know `max_tokens`.
    static func make(_ request: ModelRequest, maxTokensField: String, provider: String = "openai") throws -> JSONValue {
        var body: [String: JSONValue] = [
            "model": .string(request.model),
            "messages": .array(request.messages.map(message)),
            "stream": true,
            "stream_options": ["include_usage": true],
        ]
        if !request.tools.isEmpty { body["tools"] = .array(request.tools.map(tool)) }
        if let temperature = request.temperature { body["temperature"] = .double(temperature) }
        if let maxTokens = request.maxTokens { body[maxTokensField] = .int(maxTokens) }
        try addOptions(request, provider: provider, to: &body)
        return .object(body)
    }

    static func message(_ message: Message) -> JSONValue {
        switch message.role {
        case .system, .user:
            return ["role": .string(message.role.rawValue), "content": .string(message.content)]
        case .assistant:
            var json: [String: JSONValue] = [
                "role": "assistant",
                "content": message.content.isEmpty && !message.toolCalls.isEmpty ? .null : .string(message.content),
            ]
            if !message.toolCalls.isEmpty {
                json["tool_calls"] = .array(message.toolCalls.map { call in
                    ["id": .string(call.id), "type": "function",
                     "function": ["name": .string(call.name), "arguments": .string(call.arguments)]]
                })
            }
            return .object(json)
        case .tool:
            return ["role": "tool", "tool_call_id": .string(message.toolCallID ?? ""), "content": .string(message.content)]
        }
    }

    static func tool(_ spec: ToolSpec) -> JSONValue {
        ["type": "function",
         "function": ["name": .string(spec.name), "description": .string(spec.description), "parameters": spec.parameters]]
    }
}
