import OrbiterCore

extension OpenAIRequestBody {
    /// Structured output, reasoning and provider options as Chat Completions fields, or a
    /// refusal naming the provider and the field it has no equivalent for.
    static func addOptions(_ request: ModelRequest, provider: String, to body: inout [String: JSONValue]) throws {
        if let output = request.output {
            body["response_format"] = ["type": "json_schema",
                                       "json_schema": ["name": .string(StrictSchema.name(request.outputName)),
                                                       "schema": StrictSchema.openAI.apply(output.schema), "strict": true]]
        }
        if let reasoning = request.reasoning {
            guard let effort = reasoning.effort else {
                throw unsupported(provider, request,
                                  "reasoning.budget_tokens is Anthropic's extended thinking; \(provider) takes reasoning.effort (low, medium, high)")
            }
            body["reasoning_effort"] = .string(effort)
        }
        let options = request.options
        if !request.tools.isEmpty {
            switch options.toolChoice {
            case nil: break
            case .auto?: body["tool_choice"] = "auto"
            case .none?: body["tool_choice"] = "none"
            case .required?: body["tool_choice"] = "required"
            case .tool(let name)?: body["tool_choice"] = ["type": "function", "function": ["name": .string(name)]]
            }
            if let parallel = options.parallelToolCalls { body["parallel_tool_calls"] = .bool(parallel) }
        }
        if let topP = options.topP { body["top_p"] = .double(topP) }
        if options.topK != nil {
            throw unsupported(provider, request, "settings.top_k has no equivalent in \(provider)'s Chat Completions API (it is Anthropic's)")
        }
        if !options.stop.isEmpty { body["stop"] = .array(options.stop.map(JSONValue.string)) }
        if let seed = options.seed { body["seed"] = .int(seed) }
        if let penalty = options.frequencyPenalty { body["frequency_penalty"] = .double(penalty) }
        if let penalty = options.presencePenalty { body["presence_penalty"] = .double(penalty) }
        // settings.cache: OpenAI-compatible servers cache prompt prefixes by themselves.
    }
}
