import OrbiterCore

/// Builders for OpenAI Chat Completions stream chunks.
public enum OpenAIChunk {
    /// A chunk with one choice and this delta.
    public static func delta(_ delta: JSONValue, finishReason: String? = nil) -> FakeModelServer.Chunk {
        .data(["id": "chatcmpl-fake", "object": "chat.completion.chunk", "model": "fake",
               "choices": [["index": 0, "delta": delta, "finish_reason": finishReason.map { .string($0) } ?? .null]]])
    }

    /// A piece of reply text.
    public static func text(_ text: String) -> FakeModelServer.Chunk { delta(["content": .string(text)]) }

    /// A piece of reasoning (`reasoning_content`, as DeepSeek and vLLM send it).
    public static func reasoning(_ text: String) -> FakeModelServer.Chunk { delta(["reasoning_content": .string(text)]) }

    /// A tool-call fragment: id and name in the first fragment of an index, argument text in any.
    public static func toolCall(index: Int, id: String? = nil, name: String? = nil, arguments: String = "") -> FakeModelServer.Chunk {
        var call: [String: JSONValue] = ["index": .int(index)]
        var function: [String: JSONValue] = ["arguments": .string(arguments)]
        if let id { call["id"] = .string(id); call["type"] = "function" }
        if let name { function["name"] = .string(name) }
        call["function"] = .object(function)
        return delta(["tool_calls": [.object(call)]])
    }

    /// The chunk that ends the choice (`stop`, `tool_calls`, `length`).
    public static func finish(_ reason: String = "stop") -> FakeModelServer.Chunk { delta([:], finishReason: reason) }

    /// The usage-only final chunk sent with `stream_options.include_usage`.
    public static func usage(prompt: Int, completion: Int) -> FakeModelServer.Chunk {
        .data(["id": "chatcmpl-fake", "object": "chat.completion.chunk", "model": "fake", "choices": [],
               "usage": ["prompt_tokens": .int(prompt), "completion_tokens": .int(completion),
                         "total_tokens": .int(prompt + completion)]])
    }

    /// The end marker.
    public static let done = FakeModelServer.Chunk("data: [DONE]\n\n")
}

/// Builders for Anthropic Messages stream events.
public enum AnthropicEvent {
    /// Opens the message; `inputTokens` is the prompt usage.
    public static func messageStart(inputTokens: Int, model: String = "claude-fake") -> FakeModelServer.Chunk {
        .event("message_start", ["type": "message_start", "message": [
            "id": "msg_fake", "type": "message", "role": "assistant", "model": .string(model), "content": [],
            "stop_reason": nil, "usage": ["input_tokens": .int(inputTokens), "output_tokens": 1]]])
    }

    /// Opens a text block.
    public static func textStart(index: Int) -> FakeModelServer.Chunk {
        blockStart(index: index, ["type": "text", "text": ""])
    }

    /// Opens a tool-use block; its input follows as `inputJSON` pieces.
    public static func toolUseStart(index: Int, id: String, name: String) -> FakeModelServer.Chunk {
        blockStart(index: index, ["type": "tool_use", "id": .string(id), "name": .string(name), "input": [:]])
    }

    /// Opens a thinking block.
    public static func thinkingStart(index: Int) -> FakeModelServer.Chunk {
        blockStart(index: index, ["type": "thinking", "thinking": ""])
    }

    /// A piece of text for the block at `index`.
    public static func text(_ text: String, index: Int) -> FakeModelServer.Chunk {
        blockDelta(index: index, ["type": "text_delta", "text": .string(text)])
    }

    /// A piece of a tool-use block's input JSON.
    public static func inputJSON(_ partial: String, index: Int) -> FakeModelServer.Chunk {
        blockDelta(index: index, ["type": "input_json_delta", "partial_json": .string(partial)])
    }

    /// A piece of thinking.
    public static func thinking(_ text: String, index: Int) -> FakeModelServer.Chunk {
        blockDelta(index: index, ["type": "thinking_delta", "thinking": .string(text)])
    }

    /// Closes the block at `index` (a tool call is complete here).
    public static func blockStop(index: Int) -> FakeModelServer.Chunk {
        .event("content_block_stop", ["type": "content_block_stop", "index": .int(index)])
    }

    /// Stop reason and the cumulative output token count.
    public static func messageDelta(stopReason: String, outputTokens: Int) -> FakeModelServer.Chunk {
        .event("message_delta", ["type": "message_delta", "delta": ["stop_reason": .string(stopReason), "stop_sequence": nil],
                                 "usage": ["output_tokens": .int(outputTokens)]])
    }

    /// Ends the message.
    public static let messageStop = FakeModelServer.Chunk.event("message_stop", ["type": "message_stop"])

    /// A keep-alive the client must ignore.
    public static let ping = FakeModelServer.Chunk.event("ping", ["type": "ping"])

    /// A mid-stream error event (e.g. `overloaded_error`).
    public static func error(type: String, message: String) -> FakeModelServer.Chunk {
        .event("error", ["type": "error", "error": ["type": .string(type), "message": .string(message)]])
    }

    private static func blockStart(index: Int, _ block: JSONValue) -> FakeModelServer.Chunk {
        .event("content_block_start", ["type": "content_block_start", "index": .int(index), "content_block": block])
    }

    private static func blockDelta(index: Int, _ delta: JSONValue) -> FakeModelServer.Chunk {
        .event("content_block_delta", ["type": "content_block_delta", "index": .int(index), "delta": delta])
    }
}
