import OrbiterCore

/// Decodes Chat Completions stream chunks (`data: {...}` … `data: [DONE]`).
///
/// Tool calls arrive as fragments keyed by `index`: the first carries id and name, later ones append
/// argument text, and calls may interleave. They are assembled here and emitted whole when the
/// choice finishes. With `stream_options.include_usage` the last chunk has no choices, only usage,
/// so `.finish` is held back until `[DONE]` (or the end of the body).
struct OpenAIStreamDecoder: StreamDecoder {
    private struct PartialCall {
        var id = ""
        var name = ""
        var arguments = ""
    }

    private var calls: [Int: PartialCall] = [:]
    private var finishReason: String?
    private var sawToolCalls = false
    private(set) var isComplete = false

    mutating func decode(_ event: SSEEvent) throws -> [ModelStreamEvent] {
        if event.data.hasPrefix("[DONE]") {
            isComplete = true
            return flushCalls() + finishEvent()
        }
        let chunk = try parseJSON(event)
        if let error = chunk["error"] {
            // Some OpenAI-compatible servers report failures inside the stream.
            let message = error["message"]?.stringValue ?? error.stringValue ?? error.jsonString
            throw StreamFailure(message: message, retryable: false)
        }
        var events: [ModelStreamEvent] = []
        for choice in chunk["choices"]?.arrayValue ?? [] where (choice["index"]?.intValue ?? 0) == 0 {
            let delta = choice["delta"] ?? .null
            // `reasoning_content`: DeepSeek, vLLM, llama.cpp; `reasoning`: Ollama, OpenRouter.
            if let thinking = delta["reasoning_content"]?.stringValue ?? delta["reasoning"]?.stringValue, !thinking.isEmpty {
                events.append(.reasoning(thinking))
            }
            if let text = delta["content"]?.stringValue, !text.isEmpty {
                events.append(.text(text))
            }
            for fragment in delta["tool_calls"]?.arrayValue ?? [] {
                let index = fragment["index"]?.intValue ?? calls.count
                var call = calls[index] ?? PartialCall()
                if let id = fragment["id"]?.stringValue, !id.isEmpty { call.id = id }
                if let name = fragment["function"]?["name"]?.stringValue, !name.isEmpty { call.name = name }
                if let piece = fragment["function"]?["arguments"]?.stringValue { call.arguments += piece }
                calls[index] = call
            }
            if let reason = choice["finish_reason"]?.stringValue {
                finishReason = FinishReason.fromOpenAI(reason)
                events += flushCalls()
            }
        }
        if let usage = chunk["usage"], usage.objectValue != nil {
            let input = usage["prompt_tokens"]?.intValue ?? 0
            let output = usage["completion_tokens"]?.intValue ?? 0
            events.append(.usage(Usage(inputTokens: input, outputTokens: output,
                                       totalTokens: usage["total_tokens"]?.intValue ?? input + output,
                                       cacheReadInputTokens: usage["prompt_tokens_details"]?["cached_tokens"]?.intValue ?? 0,
                                       reasoningTokens: usage["completion_tokens_details"]?["reasoning_tokens"]?.intValue ?? 0)))
        }
        return events
    }

    mutating func finish() throws -> [ModelStreamEvent] {
        if isComplete { return [] }
        // Tolerate servers that omit `[DONE]` but did say why they stopped.
        guard finishReason != nil else { throw StreamFailure.endedEarly }
        isComplete = true
        return flushCalls() + finishEvent()
    }

    private mutating func flushCalls() -> [ModelStreamEvent] {
        defer { calls.removeAll() }
        if !calls.isEmpty { sawToolCalls = true }
        return calls.keys.sorted().compactMap { index in
            let call = calls[index]!
            return .toolCall(ToolCall(id: call.id, name: call.name, arguments: call.arguments.isEmpty ? "{}" : call.arguments))
        }
    }

    private func finishEvent() -> [ModelStreamEvent] {
        [.finish(finishReason ?? (sawToolCalls ? "tool_calls" : "stop"))]
    }
}
