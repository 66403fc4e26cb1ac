import OrbiterCore
import OrbiterModels
import OrbiterTestSupport
import Testing

/// Structured output, reasoning and provider options as each provider sends them, and the
/// combinations a provider refuses (before anything is sent).
@Suite("Provider options on the wire")
struct ProviderOptionsTests {
    static let schema = JSONSchema(["type": "object",
                                    "properties": ["label": ["type": "string", "enum": ["bug", "question"], "maxLength": 20],
                                                   "notes": ["type": "array", "items": ["type": "object", "properties": ["n": ["type": "integer", "minimum": 1]]]]],
                                    "required": ["label"]])

    func request(model: String, tools: Bool = true, options: ModelOptions = ModelOptions(), reasoning: ReasoningSettings? = nil,
                 output: JSONSchema? = nil, temperature: Double? = nil, maxTokens: Int? = nil) -> ModelRequest {
        var r = weatherRequest(model: model)
        if !tools { r.tools = [] }
        r.options = options
        r.reasoning = reasoning
        r.output = output
        r.outputName = "triage"
        r.temperature = temperature
        r.maxTokens = maxTokens
        return r
    }

    /// The body `provider` sent for `request` (the server answers with a recorded stream).
    func sentBody(_ qualified: String, _ request: ModelRequest, reply: FakeModelServer.Turn) async throws -> JSONValue {
        var body: JSONValue = nil
        try await withServer { server in
            server.enqueue(reply)
            let provider = try makeProvider(qualified, environment: environment(for: server))
            let outcome = await complete(provider, request)
            #expect(outcome.error == nil, "\(String(describing: outcome.error))")
            body = try #require(server.requests.first?.json)
        }
        return body
    }

    /// The refusal a provider gives for `request`, after checking nothing was sent.
    func refusal(_ qualified: String, _ request: ModelRequest) async throws -> String {
        var message = ""
        try await withServer { server in
            let provider = try makeProvider(qualified, environment: environment(for: server))
            let outcome = await complete(provider, request)
            message = outcome.error.map { "\($0)" } ?? "(no error)"
            #expect(outcome.modelError?.retryable == false)
            #expect(server.requests.isEmpty, "refused before sending")
        }
        return message
    }

    @Test("OpenAI: response_format json_schema (strict form), reasoning_effort, every setting")
    func openAIBody() async throws {
        let body = try await sentBody("openai:gpt-4o", request(
            model: "gpt-4o", options: ModelOptions(toolChoice: .tool("get_weather"), parallelToolCalls: false, topP: 0.9, stop: ["###"],
                                                   seed: 7, frequencyPenalty: 0.5, presencePenalty: -0.5, cache: true),
            reasoning: ReasoningSettings(effort: "low"), output: Self.schema), reply: try .transcript("openai_text.sse"))
        #expect(body["response_format"] == ["type": "json_schema", "json_schema": ["name": "triage", "strict": true, "schema": [
            "type": "object", "additionalProperties": false, "required": ["label", "notes"],
            "properties": ["label": ["type": "string", "enum": ["bug", "question"]],
                           "notes": ["type": "array", "items": ["type": "object", "additionalProperties": false, "required": ["n"],
                                                                "properties": ["n": ["type": "integer", "minimum": 1]]]]]]]])
        #expect(body["reasoning_effort"] == "low")
        #expect(body["tool_choice"] == ["type": "function", "function": ["name": "get_weather"]])
        #expect(body["parallel_tool_calls"] == false)
        #expect(body["top_p"] == 0.9)
        #expect(body["stop"] == ["###"])
        #expect(body["seed"] == 7)
        #expect(body["frequency_penalty"] == 0.5)
        #expect(body["presence_penalty"] == -0.5)
        #expect(body["cache"] == nil && body["cache_control"] == nil, "OpenAI caches by itself")

        let plain = try await sentBody("openai:gpt-4o", request(model: "gpt-4o", tools: false,
                                                                options: ModelOptions(toolChoice: .required, parallelToolCalls: true)),
                                       reply: try .transcript("openai_text.sse"))
        #expect(plain["tool_choice"] == nil && plain["parallel_tool_calls"] == nil, "tool fields only go with tools")
        #expect(plain["response_format"] == nil && plain["reasoning_effort"] == nil)
    }

    @Test("Ollama (OpenAI-compatible): the same fields at OLLAMA_HOST/v1; refusals name ollama")
    func ollamaBody() async throws {
        var path = ""
        try await withServer { server in
            server.enqueue(try .transcript("ollama_text_reasoning.sse"))
            let provider = try makeProvider("ollama:gpt-oss:20b", environment: environment(for: server))
            let outcome = await complete(provider, request(model: "gpt-oss:20b", options: ModelOptions(toolChoice: .auto, seed: 3),
                                                           reasoning: ReasoningSettings(effort: "high"), output: Self.schema))
            #expect(outcome.error == nil)
            #expect(outcome.events.contains(.reasoning("The")))
            path = server.requests.first?.path ?? ""
            let body = try #require(server.requests.first?.json)
            #expect(body["reasoning_effort"] == "high")
            #expect(body["tool_choice"] == "auto")
            #expect(body["seed"] == 3)
            #expect(body["response_format"]?["json_schema"]?["strict"] == true)
        }
        #expect(path == "/v1/chat/completions")
        let message = try await refusal("ollama:llama3.1", request(model: "llama3.1", options: ModelOptions(topK: 40)))
        #expect(message == "ollama:llama3.1: settings.top_k has no equivalent in ollama's Chat Completions API (it is Anthropic's)")
    }

    @Test("OpenAI refuses Anthropic's budget_tokens and top_k, naming provider and field")
    func openAIRefusals() async throws {
        let budget = try await refusal("openai:gpt-4o", request(model: "gpt-4o", reasoning: ReasoningSettings(budgetTokens: 2000)))
        #expect(budget == "openai:gpt-4o: reasoning.budget_tokens is Anthropic's extended thinking; openai takes reasoning.effort (low, medium, high)")
        let topK = try await refusal("openai:gpt-4o", request(model: "gpt-4o", options: ModelOptions(topK: 5)))
        #expect(topK.contains("settings.top_k"))
    }

    @Test("Anthropic: output_config, thinking, tool_choice, sampling, stop_sequences, cache_control on system and tools")
    func anthropicBody() async throws {
        let body = try await sentBody("anthropic:claude-sonnet-4-5", request(
            model: "claude-sonnet-4-5", options: ModelOptions(toolChoice: .auto, parallelToolCalls: false, topP: 0.97, stop: ["###", "END"], cache: true),
            reasoning: ReasoningSettings(budgetTokens: 2000), output: Self.schema), reply: try .transcript("anthropic_text.sse"))
        #expect(body["output_config"] == ["format": ["type": "json_schema", "schema": [
            "type": "object", "additionalProperties": false, "required": ["label"],
            "properties": ["label": ["type": "string", "enum": ["bug", "question"]],
                           "notes": ["type": "array", "items": ["type": "object", "additionalProperties": false,
                                                                "properties": ["n": ["type": "integer"]]]]]]]])
        #expect(body["thinking"] == ["type": "enabled", "budget_tokens": 2000])
        #expect(body["max_tokens"] == 6096, "the budget plus the default reply room")
        #expect(body["tool_choice"] == ["type": "auto", "disable_parallel_tool_use": true])
        #expect(body["top_p"] == 0.97)
        #expect(body["stop_sequences"] == ["###", "END"])
        #expect(body["system"] == [["type": "text", "text": "You are helpful.", "cache_control": ["type": "ephemeral"]]])
        #expect(body["tools"]?.arrayValue?.last?["cache_control"] == ["type": "ephemeral"])

        let forced = try await sentBody("anthropic:claude-sonnet-4-5", request(
            model: "claude-sonnet-4-5", options: ModelOptions(toolChoice: .required, topK: 40), temperature: 0.2),
            reply: try .transcript("anthropic_text.sse"))
        #expect(forced["tool_choice"] == ["type": "any"])
        #expect(forced["top_k"] == 40)
        #expect(forced["system"] == "You are helpful.", "no cache: the system prompt stays a string")
        #expect(forced["thinking"] == nil && forced["output_config"] == nil)
    }

    @Test("Anthropic refuses what it has no equivalent for, and what thinking excludes")
    func anthropicRefusals() async throws {
        let model = "anthropic:claude-sonnet-4-5"
        let thinking = ReasoningSettings(budgetTokens: 2000)
        let cases: [(ModelRequest, String)] = [
            (request(model: "c", options: ModelOptions(seed: 7)), "settings.seed has no equivalent in anthropic's Messages API"),
            (request(model: "c", options: ModelOptions(frequencyPenalty: 1)), "settings.frequency_penalty has no equivalent"),
            (request(model: "c", reasoning: ReasoningSettings(effort: "low")), "reasoning.effort is for OpenAI-compatible providers; anthropic takes reasoning.budget_tokens"),
            (request(model: "c", reasoning: thinking, temperature: 0.5), "temperature cannot be combined with reasoning.budget_tokens"),
            (request(model: "c", options: ModelOptions(toolChoice: .tool("get_weather")), reasoning: thinking), "settings.tool_choice can only be \"auto\" or \"none\""),
            (request(model: "c", options: ModelOptions(topP: 0.5), reasoning: thinking), "settings.top_p must be from 0.95 to 1"),
            (request(model: "c", reasoning: thinking, maxTokens: 1500), "max_tokens (1500) must be above reasoning.budget_tokens (2000)"),
        ]
        for (r, expected) in cases {
            let message = try await refusal(model, r)
            #expect(message.hasPrefix("anthropic:c: ") && message.contains(expected), "\(message)")
        }
    }

    @Test("usage carries cache reads and writes (Anthropic) and cached and reasoning tokens (OpenAI)")
    func cacheUsage() async throws {
        try await withServer { server in
            // The recorded tool_use stream with cache counts where the recording had zeros.
            let recorded = try ProviderTranscripts.text("anthropic_tool_use.sse").replacingOccurrences(
                of: #""cache_creation_input_tokens":0,"cache_read_input_tokens":0"#,
                with: #""cache_creation_input_tokens":1200,"cache_read_input_tokens":3400"#)
            server.enqueue(.stream([FakeModelServer.Chunk(recorded)]))
            let provider = try makeProvider("anthropic:claude-sonnet-4-5", environment: environment(for: server))
            let outcome = await complete(provider, request(model: "claude-sonnet-4-5", options: ModelOptions(cache: true)))
            #expect(outcome.events.contains(.usage(Usage(inputTokens: 377, outputTokens: 65, cacheReadInputTokens: 3400,
                                                         cacheCreationInputTokens: 1200))), "\(outcome.events)")
            #expect(Usage(inputTokens: 377, outputTokens: 65, cacheReadInputTokens: 3400, cacheCreationInputTokens: 1200).json
                    == ["input_tokens": 377, "output_tokens": 65, "total_tokens": 442, "cache_read_input_tokens": 3400,
                        "cache_creation_input_tokens": 1200])
            let openAI = try ProviderTranscripts.text("openai_text.sse").replacingOccurrences(
                of: #""total_tokens":44,"completion_tokens_details":{"reasoning_tokens":0}"#,
                with: #""total_tokens":44,"prompt_tokens_details":{"cached_tokens":8},"completion_tokens_details":{"reasoning_tokens":12}"#)
            server.enqueue(.stream([FakeModelServer.Chunk(openAI)]))
            let o = await complete(try makeProvider("openai:gpt-4o", environment: environment(for: server)), request(model: "gpt-4o"))
            #expect(o.events.contains(.usage(Usage(inputTokens: 14, outputTokens: 30, totalTokens: 44, cacheReadInputTokens: 8,
                                                   reasoningTokens: 12))), "\(o.events)")
        }
    }
}
