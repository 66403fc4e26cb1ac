extension Usage {
    /// `{input_tokens, output_tokens, total_tokens}`, plus `cache_read_input_tokens`,
    /// `cache_creation_input_tokens` and `reasoning_tokens` when they are not zero (so runs
    /// without them keep the original's shape).
    public var json: JSONValue {
        var d: [String: JSONValue] = ["input_tokens": .int(inputTokens), "output_tokens": .int(outputTokens),
                                      "total_tokens": .int(totalTokens)]
        if cacheReadInputTokens != 0 { d["cache_read_input_tokens"] = .int(cacheReadInputTokens) }
        if cacheCreationInputTokens != 0 { d["cache_creation_input_tokens"] = .int(cacheCreationInputTokens) }
        if reasoningTokens != 0 { d["reasoning_tokens"] = .int(reasoningTokens) }
        return .object(d)
    }

    /// Reads what `json` writes; missing counts are zero.
    public init(json: JSONValue?) {
        let input = json?["input_tokens"]?.intValue ?? 0
        let output = json?["output_tokens"]?.intValue ?? 0
        self.init(inputTokens: input, outputTokens: output, totalTokens: json?["total_tokens"]?.intValue,
                  cacheReadInputTokens: json?["cache_read_input_tokens"]?.intValue ?? 0,
                  cacheCreationInputTokens: json?["cache_creation_input_tokens"]?.intValue ?? 0,
                  reasoningTokens: json?["reasoning_tokens"]?.intValue ?? 0)
    }
}

extension StreamEvent {
    /// The event as one compact JSON object, `type` first, with the original's snake_case names.
    public var jsonString: String {
        var w = JSONWriter()
        w.writeObject(jsonMembers)
        return w.output
    }

    /// The event as a `JSONValue` object.
    public var json: JSONValue {
        .object(Dictionary(jsonMembers.compactMap { k, v in v.map { (k, $0) } }, uniquingKeysWith: { a, _ in a }))
    }

    private var jsonMembers: [(String, JSONValue?)] {
        switch self {
        case .text(let e):
            return [("type", "text"), ("text", .string(e.text)), ("agent_name", .string(e.agentName))]
        case .reasoning(let e):
            return [("type", "reasoning"), ("text", .string(e.text)), ("agent_name", .string(e.agentName))]
        case .toolCall(let e):
            return [("type", "tool_call"), ("tool_name", .string(e.toolName)), ("tool_call_id", .string(e.toolCallID)),
                    ("agent_name", .string(e.agentName))]
        case .toolResult(let e):
            return [("type", "tool_result"), ("tool_name", .string(e.toolName)), ("tool_call_id", .string(e.toolCallID)),
                    ("arguments", e.arguments), ("result", .string(e.result)), ("error", e.error.map(JSONValue.string) ?? .null),
                    ("success", .bool(e.success)), ("duration_ms", .double(e.durationMs)), ("agent_name", .string(e.agentName))]
        case .step(let e):
            return [("type", "step"), ("step_number", .int(e.stepNumber)), ("agent_name", .string(e.agentName)),
                    ("status", .string(e.status.rawValue)), ("started_at", .double(e.startedAt)),
                    ("completed_at", e.completedAt.map(JSONValue.double) ?? .null), ("usage", e.usage?.json ?? .null)]
        case .status(let e):
            var members: [(String, JSONValue?)] = [("type", "status"), ("status", .string(e.status.rawValue)),
                                                   ("agent_name", .string(e.agentName)), ("message", .string(e.message)),
                                                   ("parsed", e.parsed), ("wait_ms", e.waitMs.map(JSONValue.int))]
            if let p = e.pending {
                members += [("kind", .string(p.kind.rawValue)), ("request_id", .string(p.id)), ("tool_name", .string(p.toolName)),
                            ("tool_call_id", .string(p.toolCallID)), ("arguments", p.arguments),
                            ("question", p.question.map(JSONValue.string)), ("index", p.question == nil ? nil : .int(p.index))]
            }
            return members
        case .error(let e):
            return [("type", "error"), ("error", .string(e.error)), ("error_type", .string(e.errorType)),
                    ("agent_name", .string(e.agentName)), ("step_number", e.stepNumber.map(JSONValue.int) ?? .null),
                    ("recoverable", .bool(e.recoverable))]
        case .usage(let e):
            return [("type", "usage"), ("usage", e.usage.json), ("agent_name", .string(e.agentName)),
                    ("step_number", .int(e.stepNumber)), ("model", .string(e.model))]
        }
    }

    /// Reads an event from its JSON object; unknown or malformed events are an error naming the field.
    public init(json: JSONValue) throws {
        func str(_ key: String) throws -> String {
            guard let s = json[key]?.stringValue else { throw OrbiterError.invalidConfiguration("event field '\(key)' is missing or not a string") }
            return s
        }
        func int(_ key: String) throws -> Int {
            guard let i = json[key]?.intValue else { throw OrbiterError.invalidConfiguration("event field '\(key)' is missing or not an integer") }
            return i
        }
        let agent = json["agent_name"]?.stringValue ?? ""
        switch try str("type") {
        case "text": self = .text(TextEvent(text: try str("text"), agentName: agent))
        case "reasoning": self = .reasoning(ReasoningEvent(text: try str("text"), agentName: agent))
        case "tool_call": self = .toolCall(ToolCallEvent(toolName: try str("tool_name"), toolCallID: try str("tool_call_id"), agentName: agent))
        case "tool_result":
            self = .toolResult(ToolResultEvent(
                toolName: try str("tool_name"), toolCallID: try str("tool_call_id"), arguments: json["arguments"] ?? .null,
                result: json["result"]?.stringValue ?? "", error: json["error"]?.stringValue,
                success: json["success"]?.boolValue ?? false, durationMs: json["duration_ms"]?.doubleValue ?? 0, agentName: agent))
        case "step":
            guard let status = StepEvent.Status(rawValue: try str("status")) else {
                throw OrbiterError.invalidConfiguration("event field 'status' has an unknown step status")
            }
            let usage = json["usage"].flatMap { $0.isNull ? nil : Usage(json: $0) }
            self = .step(StepEvent(stepNumber: try int("step_number"), agentName: agent, status: status,
                                   startedAt: json["started_at"]?.doubleValue ?? 0, completedAt: json["completed_at"]?.doubleValue, usage: usage))
        case "status":
            guard let status = StatusEvent.Status(rawValue: try str("status")) else {
                throw OrbiterError.invalidConfiguration("event field 'status' has an unknown status")
            }
            var pending: InputRequest?
            if json["kind"] != nil, let id = json["request_id"] {
                var request = json.objectValue ?? [:]
                request["id"] = id
                pending = try InputRequest(json: .object(request))
            }
            self = .status(StatusEvent(status: status, agentName: agent, message: json["message"]?.stringValue ?? "",
                                       parsed: json["parsed"], pending: pending, waitMs: json["wait_ms"]?.intValue))
        case "error":
            self = .error(ErrorEvent(error: try str("error"), errorType: json["error_type"]?.stringValue ?? "Error", agentName: agent,
                                     stepNumber: json["step_number"]?.intValue, recoverable: json["recoverable"]?.boolValue ?? false))
        case "usage":
            self = .usage(UsageEvent(usage: Usage(json: json["usage"]), agentName: agent, stepNumber: json["step_number"]?.intValue ?? 0,
                                     model: json["model"]?.stringValue ?? ""))
        case let other:
            throw OrbiterError.invalidConfiguration("unknown event type '\(other)'")
        }
    }
}
