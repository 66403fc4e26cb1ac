/// Maps each provider's stop reason onto the neutral names the runner and events use.
enum FinishReason {
    /// OpenAI: `stop`, `length`, `tool_calls`, `content_filter`, legacy `function_call`.
    static func fromOpenAI(_ reason: String) -> String {
        reason == "function_call" ? "tool_calls" : reason
    }

    /// Anthropic: `end_turn`, `stop_sequence`, `tool_use`, `max_tokens`, `refusal`, `pause_turn`.
    static func fromAnthropic(_ reason: String) -> String {
        switch reason {
        case "end_turn", "stop_sequence": return "stop"
        case "tool_use": return "tool_calls"
        case "max_tokens": return "length"
        case "refusal": return "content_filter"
        default: return reason
        }
    }
}
