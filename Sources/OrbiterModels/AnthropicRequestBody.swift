import OrbiterCore

/// Builds the Messages API request body from the neutral request.
///
/// Anthropic differs from Chat Completions in three ways that matter here: system text is a
/// top-level field, tool calls are `tool_use` blocks of the assistant turn, and tool results are
/// `tool_result` blocks of a *user* turn (so consecutive results share one user message).
enum AnthropicRequestBody {
    /// Anthropic requires `max_tokens`; this is used when the agent sets none.
    static let defaultMaxTokens = 4096

    static func make(_ request: ModelRequest) throws -> JSONValue {
        var body: [String: JSONValue] = [
            "model": .string(request.model),
            "max_tokens": .int(request.maxTokens ?? defaultMaxTokens),
            "stream": true,
            "messages": .array(messages(request.messages)),
        ]
        let system = request.messages.filter { $0.role == .system }.map(\.content).filter { !$0.isEmpty }
        if !system.isEmpty { body["system"] = .string(system.joined(separator: "\n\n")) }
        if !request.tools.isEmpty { body["tools"] = .array(request.tools.map(tool)) }
        if let temperature = request.temperature { body["temperature"] = .double(temperature) }
        try addOptions(request, to: &body)
        return .object(body)
    }

    static func messages(_ messages: [Message]) -> [JSONValue] {
        var out: [(role: String, blocks: [JSONValue])] = []
        for message in messages {
            switch message.role {
            case .system:
                continue
            case .user:
                let block: JSONValue = ["type": "text", "text": .string(message.content)]
                // A user turn right after tool results joins them: the API wants roles to alternate.
                if let last = out.last, last.role == "user", last.blocks.contains(where: isToolResult) {
                    out[out.count - 1].blocks.append(block)
                } else {
                    out.append(("user", [block]))
                }
            case .assistant:
                // Signed thinking first, as it came: the API checks it on the turn after a tool use.
                var blocks: [JSONValue] = message.reasoning.compactMap(thinkingBlock)
                if !message.content.isEmpty { blocks.append(["type": "text", "text": .string(message.content)]) }
                for call in message.toolCalls {
                    blocks.append(["type": "tool_use", "id": .string(call.id), "name": .string(call.name),
                                   "input": toolInput(call.arguments)])
                }
                if blocks.isEmpty { blocks.append(["type": "text", "text": ""]) }
                out.append(("assistant", blocks))
            case .tool:
                let block: JSONValue = ["type": "tool_result", "tool_use_id": .string(message.toolCallID ?? ""),
                                        "content": .string(message.content)]
                if let last = out.last, last.role == "user", last.blocks.allSatisfy(isToolResult) {
                    out[out.count - 1].blocks.append(block)
                } else {
                    out.append(("user", [block]))
                }
            }
        }
        return out.map { turn in
            // A lone text block is sent as plain string content, the form most examples use.
            if turn.blocks.count == 1, turn.blocks[0]["type"] == "text", let text = turn.blocks[0]["text"] {
                return ["role": .string(turn.role), "content": text]
            }
            return ["role": .string(turn.role), "content": .array(turn.blocks)]
        }
    }

    /// A kept reasoning block as the API returns it; unsigned text (another provider's, say) is
    /// not sent, since the API refuses thinking it did not sign.
    static func thinkingBlock(_ block: ReasoningBlock) -> JSONValue? {
        if let data = block.redactedData { return ["type": "redacted_thinking", "data": .string(data)] }
        guard let signature = block.signature else { return nil }
        return ["type": "thinking", "thinking": .string(block.text), "signature": .string(signature)]
    }

    static func tool(_ spec: ToolSpec) -> JSONValue {
        ["name": .string(spec.name), "description": .string(spec.description), "input_schema": spec.parameters]
    }

    /// The API wants `input` as an object; arguments the model wrote badly become `{}`.
    private static func toolInput(_ arguments: String) -> JSONValue {
        if let value = try? JSONValue.parse(arguments), value.objectValue != nil { return value }
        return .object([:])
    }

    private static func isToolResult(_ block: JSONValue) -> Bool { block["type"] == "tool_result" }
}
