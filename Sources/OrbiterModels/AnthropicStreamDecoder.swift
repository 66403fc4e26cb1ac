import OrbiterCore

/// Decodes Messages API stream events.
///
/// Text and thinking deltas are forwarded at once; a `tool_use` block's input arrives as
/// `partial_json` pieces and is emitted whole at its `content_block_stop`. A thinking block is
/// also kept whole with its signature (and a `redacted_thinking` block with its data), emitted at
/// its stop as a `.reasoningBlock` for the conversation. Usage comes in two halves: input and
/// cache tokens in `message_start`, cumulative counts in `message_delta`.
struct AnthropicStreamDecoder: StreamDecoder {
    private struct ToolBlock {
        var id: String
        var name: String
        var json = ""
    }

    private var toolBlocks: [Int: ToolBlock] = [:]
    private var thinkingBlocks: [Int: ReasoningBlock] = [:]
    private var inputTokens = 0
    private var outputTokens = 0
    private var cacheRead = 0
    private var cacheCreation = 0
    private var stopReason: String?
    private(set) var isComplete = false

    mutating func decode(_ event: SSEEvent) throws -> [ModelStreamEvent] {
        let json = try parseJSON(event)
        let type = json["type"]?.stringValue ?? event.name ?? ""
        let index = json["index"]?.intValue ?? 0
        switch type {
        case "message_start":
            let usage = json["message"]?["usage"]
            inputTokens = usage?["input_tokens"]?.intValue ?? 0
            outputTokens = usage?["output_tokens"]?.intValue ?? 0
            cacheRead = usage?["cache_read_input_tokens"]?.intValue ?? 0
            cacheCreation = usage?["cache_creation_input_tokens"]?.intValue ?? 0
        case "content_block_start":
            let block = json["content_block"] ?? .null
            switch block["type"]?.stringValue {
            case "tool_use":
                toolBlocks[index] = ToolBlock(id: block["id"]?.stringValue ?? "", name: block["name"]?.stringValue ?? "")
            case "text":
                if let text = block["text"]?.stringValue, !text.isEmpty { return [.text(text)] }
            case "thinking":
                let text = block["thinking"]?.stringValue ?? ""
                thinkingBlocks[index] = ReasoningBlock(text: text, signature: block["signature"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 })
                if !text.isEmpty { return [.reasoning(text)] }
            case "redacted_thinking":
                thinkingBlocks[index] = ReasoningBlock(text: "", redactedData: block["data"]?.stringValue ?? "")
            default:
                break
            }
        case "content_block_delta":
            let delta = json["delta"] ?? .null
            switch delta["type"]?.stringValue {
            case "text_delta":
                if let text = delta["text"]?.stringValue, !text.isEmpty { return [.text(text)] }
            case "thinking_delta":
                if let text = delta["thinking"]?.stringValue, !text.isEmpty {
                    thinkingBlocks[index]?.text += text
                    return [.reasoning(text)]
                }
            case "signature_delta":
                if let piece = delta["signature"]?.stringValue, var block = thinkingBlocks[index] {
                    block.signature = (block.signature ?? "") + piece
                    thinkingBlocks[index] = block
                }
            case "input_json_delta":
                toolBlocks[index]?.json += delta["partial_json"]?.stringValue ?? ""
            default:
                break  // kinds added later
            }
        case "content_block_stop":
            if let block = toolBlocks.removeValue(forKey: index) {
                return [.toolCall(ToolCall(id: block.id, name: block.name, arguments: block.json.isEmpty ? "{}" : block.json))]
            }
            // Only signed (or redacted) thinking can be sent back; unsigned text is shown, not kept.
            if let block = thinkingBlocks.removeValue(forKey: index), block.signature != nil || block.redactedData != nil {
                return [.reasoningBlock(block)]
            }
        case "message_delta":
            if let reason = json["delta"]?["stop_reason"]?.stringValue { stopReason = reason }
            if let usage = json["usage"] {
                // Cumulative counts: the latest one is the total so far.
                if let output = usage["output_tokens"]?.intValue { outputTokens = output }
                if let input = usage["input_tokens"]?.intValue { inputTokens = input }
                if let read = usage["cache_read_input_tokens"]?.intValue { cacheRead = read }
                if let creation = usage["cache_creation_input_tokens"]?.intValue { cacheCreation = creation }
            }
        case "message_stop":
            isComplete = true
            return [.usage(Usage(inputTokens: inputTokens, outputTokens: outputTokens, cacheReadInputTokens: cacheRead,
                                 cacheCreationInputTokens: cacheCreation)),
                    .finish(FinishReason.fromAnthropic(stopReason ?? "end_turn"))]
        case "error":
            let error = json["error"] ?? .null
            let kind = error["type"]?.stringValue ?? "error"
            let message = error["message"]?.stringValue ?? error.jsonString
            // Overload and internal errors are transient; anything else is a real refusal.
            throw StreamFailure(message: "\(kind): \(message)", retryable: kind == "overloaded_error" || kind == "api_error")
        default:
            break  // `ping` and event kinds added later
        }
        return []
    }

    mutating func finish() throws -> [ModelStreamEvent] {
        guard isComplete else { throw StreamFailure.endedEarly }
        return []
    }
}
