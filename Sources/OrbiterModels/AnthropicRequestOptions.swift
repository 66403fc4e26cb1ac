import OrbiterCore

extension AnthropicRequestBody {
    /// Structured output (`output_config.format`), extended thinking, provider options and
    /// prompt caching as Messages API fields, or a refusal naming the field.
    ///
    /// Extended thinking excludes some settings (the API refuses them): `temperature`, `top_k`,
    /// a `top_p` below 0.95 and a forced tool choice; they are refused here, before sending.
    static func addOptions(_ request: ModelRequest, to body: inout [String: JSONValue]) throws {
        let provider = "anthropic"
        let options = request.options
        if let output = request.output {
            body["output_config"] = ["format": ["type": "json_schema", "schema": StrictSchema.anthropic.apply(output.schema)]]
        }
        if let reasoning = request.reasoning {
            guard let budget = reasoning.budgetTokens else {
                throw unsupported(provider, request, "reasoning.effort is for OpenAI-compatible providers; anthropic takes reasoning.budget_tokens (1024 or more)")
            }
            if let maxTokens = request.maxTokens {
                guard maxTokens > budget else {
                    throw unsupported(provider, request, "max_tokens (\(maxTokens)) must be above reasoning.budget_tokens (\(budget))")
                }
            } else {
                body["max_tokens"] = .int(budget + defaultMaxTokens)
            }
            body["thinking"] = ["type": "enabled", "budget_tokens": .int(budget)]
            if request.temperature != nil {
                throw unsupported(provider, request, "temperature cannot be combined with reasoning.budget_tokens (extended thinking)")
            }
            if options.topK != nil {
                throw unsupported(provider, request, "settings.top_k cannot be combined with reasoning.budget_tokens (extended thinking)")
            }
            if let topP = options.topP, topP < 0.95 {
                throw unsupported(provider, request, "settings.top_p must be from 0.95 to 1 with reasoning.budget_tokens (extended thinking)")
            }
            switch options.toolChoice {
            case .required?, .tool?:
                throw unsupported(provider, request, "settings.tool_choice can only be \"auto\" or \"none\" with reasoning.budget_tokens (extended thinking)")
            default: break
            }
        }
        if !request.tools.isEmpty, options.toolChoice != nil || options.parallelToolCalls != nil {
            var choice: [String: JSONValue]
            switch options.toolChoice ?? .auto {
            case .auto: choice = ["type": "auto"]
            case .none: choice = ["type": "none"]
            case .required: choice = ["type": "any"]
            case .tool(let name): choice = ["type": "tool", "name": .string(name)]
            }
            if options.parallelToolCalls == false, choice["type"] != "none" { choice["disable_parallel_tool_use"] = true }
            body["tool_choice"] = .object(choice)
        }
        if let topP = options.topP { body["top_p"] = .double(topP) }
        if let topK = options.topK { body["top_k"] = .int(topK) }
        if !options.stop.isEmpty { body["stop_sequences"] = .array(options.stop.map(JSONValue.string)) }
        if options.seed != nil { throw unsupported(provider, request, "settings.seed has no equivalent in anthropic's Messages API") }
        if options.frequencyPenalty != nil {
            throw unsupported(provider, request, "settings.frequency_penalty has no equivalent in anthropic's Messages API")
        }
        if options.presencePenalty != nil {
            throw unsupported(provider, request, "settings.presence_penalty has no equivalent in anthropic's Messages API")
        }
        if options.cache { addCacheBreakpoints(&body) }
    }

    /// Prompt caching: a `cache_control` breakpoint on the system prompt and on the last tool,
    /// so the prefix up to each (tools, then system) is cached and read back on later steps.
    private static func addCacheBreakpoints(_ body: inout [String: JSONValue]) {
        let ephemeral: JSONValue = ["type": "ephemeral"]
        if case .array(var tools)? = body["tools"], case .object(var last)? = tools.last {
            last["cache_control"] = ephemeral
            tools[tools.count - 1] = .object(last)
            body["tools"] = .array(tools)
        }
        if let system = body["system"]?.stringValue {
            body["system"] = [["type": "text", "text": .string(system), "cache_control": ephemeral]]
        }
    }
}
