/// One message of a conversation, in the provider-neutral shape every model adapter translates from.
public struct Message: Sendable, Hashable {
    /// Who speaks.
    public enum Role: String, Sendable, Hashable {
        case system, user, assistant, tool
    }

    public var role: Role
    /// Text content; may be empty for an assistant turn that only calls tools.
    public var content: String
    /// Tool calls requested by an assistant turn.
    public var toolCalls: [ToolCall]
    /// For `tool` messages: the call this answers.
    public var toolCallID: String?
    /// For `tool` messages: the tool's name (Anthropic and some servers want it).
    public var name: String?
    /// For assistant turns: the reasoning blocks a provider wants back on the next request
    /// (Anthropic's signed thinking blocks).
    public var reasoning: [ReasoningBlock]

    public init(role: Role, content: String, toolCalls: [ToolCall] = [], toolCallID: String? = nil, name: String? = nil,
                reasoning: [ReasoningBlock] = []) {
        self.role = role
        self.content = content
        self.toolCalls = toolCalls
        self.toolCallID = toolCallID
        self.name = name
        self.reasoning = reasoning
    }

    /// A user message.
    public static func user(_ text: String) -> Message { Message(role: .user, content: text) }
    /// A system message.
    public static func system(_ text: String) -> Message { Message(role: .system, content: text) }
    /// An assistant message.
    public static func assistant(_ text: String, toolCalls: [ToolCall] = [], reasoning: [ReasoningBlock] = []) -> Message {
        Message(role: .assistant, content: text, toolCalls: toolCalls, reasoning: reasoning)
    }
    /// The result of a tool call.
    public static func tool(_ result: String, callID: String, name: String) -> Message {
        Message(role: .tool, content: result, toolCallID: callID, name: name)
    }
}

/// A model's request to call one tool.
public struct ToolCall: Sendable, Hashable {
    public var id: String
    public var name: String
    /// The arguments as the model wrote them: JSON text, possibly invalid.
    public var arguments: String

    public init(id: String, name: String, arguments: String) {
        self.id = id
        self.name = name
        self.arguments = arguments
    }
}

/// Token counts, summed over steps and agents.
public struct Usage: Sendable, Hashable {
    public var inputTokens: Int
    public var outputTokens: Int
    public var totalTokens: Int
    /// Input tokens read from the provider's prompt cache (Anthropic `cache_read_input_tokens`,
    /// OpenAI `prompt_tokens_details.cached_tokens`).
    public var cacheReadInputTokens: Int
    /// Input tokens written to the prompt cache (Anthropic `cache_creation_input_tokens`).
    public var cacheCreationInputTokens: Int
    /// Output tokens spent reasoning, where the provider says (OpenAI `reasoning_tokens`; they
    /// are part of `outputTokens`).
    public var reasoningTokens: Int

    public init(inputTokens: Int = 0, outputTokens: Int = 0, totalTokens: Int? = nil, cacheReadInputTokens: Int = 0,
                cacheCreationInputTokens: Int = 0, reasoningTokens: Int = 0) {
        self.inputTokens = inputTokens
        self.outputTokens = outputTokens
        self.totalTokens = totalTokens ?? Self.saturating(inputTokens, outputTokens)
        self.cacheReadInputTokens = cacheReadInputTokens
        self.cacheCreationInputTokens = cacheCreationInputTokens
        self.reasoningTokens = reasoningTokens
    }

    /// No tokens.
    public static let zero = Usage()

    /// Sums saturate at `Int.max` (a script's model may report any count; a sum must not trap).
    public static func + (a: Usage, b: Usage) -> Usage {
        let add = saturating
        return Usage(inputTokens: add(a.inputTokens, b.inputTokens), outputTokens: add(a.outputTokens, b.outputTokens),
                     totalTokens: add(a.totalTokens, b.totalTokens),
                     cacheReadInputTokens: add(a.cacheReadInputTokens, b.cacheReadInputTokens),
                     cacheCreationInputTokens: add(a.cacheCreationInputTokens, b.cacheCreationInputTokens),
                     reasoningTokens: add(a.reasoningTokens, b.reasoningTokens))
    }

    public static func += (a: inout Usage, b: Usage) { a = a + b }

    private static func saturating(_ x: Int, _ y: Int) -> Int {
        let (sum, overflow) = x.addingReportingOverflow(y)
        return overflow ? (y > 0 ? Int.max : Int.min) : sum
    }
}
