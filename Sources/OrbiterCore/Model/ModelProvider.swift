/// What an agent asks of a model for one step.
public struct ModelRequest: Sendable {
    /// The model id without its provider prefix (`gpt-4o` for `openai:gpt-4o`).
    public var model: String
    /// The conversation, system instructions first when the agent has any.
    public var messages: [Message]
    /// Tools the model may call.
    public var tools: [ToolSpec]
    public var temperature: Double?
    public var maxTokens: Int?
    /// Per-agent endpoint overrides (`base_url`, `api_key_env` in Lua).
    public var settings: ModelSettings
    /// The schema the answer must match (structured output); providers that can constrain
    /// their output to it do.
    public var output: JSONSchema?
    /// What providers label the output schema with (the agent's name).
    public var outputName: String
    /// How much to reason before answering.
    public var reasoning: ReasoningSettings?
    /// Sampling, stops, tool choice, caching (`settings` in Lua).
    public var options: ModelOptions

    public init(model: String, messages: [Message], tools: [ToolSpec] = [], temperature: Double? = nil,
                maxTokens: Int? = nil, settings: ModelSettings = ModelSettings(), output: JSONSchema? = nil,
                outputName: String = "output", reasoning: ReasoningSettings? = nil, options: ModelOptions = ModelOptions()) {
        self.model = model
        self.messages = messages
        self.tools = tools
        self.temperature = temperature
        self.maxTokens = maxTokens
        self.settings = settings
        self.output = output
        self.outputName = outputName
        self.reasoning = reasoning
        self.options = options
    }
}

/// Per-agent overrides of where and how a provider connects.
public struct ModelSettings: Sendable, Hashable {
    /// Replaces the provider's base URL (e.g. a local vLLM server).
    public var baseURL: String?
    /// Names the environment variable holding the API key, instead of the provider's default.
    public var apiKeyEnv: String?

    public init(baseURL: String? = nil, apiKeyEnv: String? = nil) {
        self.baseURL = baseURL
        self.apiKeyEnv = apiKeyEnv
    }
}

/// A tool as the model sees it: name, description and JSON Schema of its arguments.
public struct ToolSpec: Sendable, Hashable {
    public var name: String
    public var description: String
    public var parameters: JSONValue

    public init(name: String, description: String, parameters: JSONValue) {
        self.name = name
        self.description = description
        self.parameters = parameters
    }
}

/// What a model streams back while it answers.
public enum ModelStreamEvent: Sendable, Hashable {
    /// A piece of reply text, forwarded to the user as it arrives.
    case text(String)
    /// A piece of the model's visible reasoning ("thinking").
    case reasoning(String)
    /// A whole reasoning block that must go back to the provider with the turn it belongs to
    /// (Anthropic's signed thinking); its text already streamed as `.reasoning` pieces.
    case reasoningBlock(ReasoningBlock)
    /// A complete tool call (providers assemble streamed fragments first).
    case toolCall(ToolCall)
    /// Token usage for this step; the last one reported wins.
    case usage(Usage)
    /// Why the model stopped (`stop`, `tool_calls`, `length`, ...).
    case finish(String)
}

/// A source of model replies: an HTTP provider, a model written in Lua, or anything a program adds.
///
/// `complete` calls `onEvent` for each event in order and returns when the reply is complete.
/// Cancelling the calling task must stop the work promptly.
public protocol ModelProvider: Sendable {
    func complete(_ request: ModelRequest, onEvent: (ModelStreamEvent) async throws -> Void) async throws
}

/// Errors of a model call, with enough to tell a person what went wrong.
public struct ModelError: Error, CustomStringConvertible, Sendable {
    /// Provider name, e.g. `openai`.
    public var provider: String
    /// Model id.
    public var model: String
    /// HTTP status, when there was a response.
    public var status: Int?
    /// The provider's own message, or ours.
    public var message: String
    /// Whether trying again later may succeed (rate limits, 5xx, network).
    public var retryable: Bool

    public init(provider: String, model: String, status: Int? = nil, message: String, retryable: Bool = false) {
        self.provider = provider
        self.model = model
        self.status = status
        self.message = message
        self.retryable = retryable
    }

    public var description: String {
        var s = "\(provider):\(model)"
        if let status { s += " HTTP \(status)" }
        return s + ": " + message
    }
}
