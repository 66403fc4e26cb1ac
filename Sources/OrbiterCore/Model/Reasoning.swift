/// How much a model should reason before it answers (`reasoning` in Lua).
///
/// Two forms, because providers ask differently: an effort level (OpenAI-compatible
/// `reasoning_effort`) or a token budget (Anthropic's extended thinking). A provider refuses the
/// form it cannot do.
public struct ReasoningSettings: Sendable, Hashable {
    /// `none`, `minimal`, `low`, `medium`, `high` or `xhigh`.
    public var effort: String?
    /// Tokens the model may think with (Anthropic: at least 1024, below `max_tokens`).
    public var budgetTokens: Int?

    public static let efforts = ["none", "minimal", "low", "medium", "high", "xhigh"]

    public init(effort: String? = nil, budgetTokens: Int? = nil) {
        self.effort = effort
        self.budgetTokens = budgetTokens
    }

    /// `{effort}` or `{budget_tokens}`.
    public var json: JSONValue {
        var d: [String: JSONValue] = [:]
        if let effort { d["effort"] = .string(effort) }
        if let budgetTokens { d["budget_tokens"] = .int(budgetTokens) }
        return .object(d)
    }

    /// Reads `json`'s form; errors name the field.
    public init(json: JSONValue) throws {
        guard let members = json.objectValue else { throw OrbiterError.invalidConfiguration("reasoning must be a table { effort = ... } or { budget_tokens = ... }") }
        if let unknown = members.keys.sorted().first(where: { $0 != "effort" && $0 != "budget_tokens" }) {
            throw OrbiterError.invalidConfiguration("reasoning.\(unknown) is not a reasoning option (known: budget_tokens, effort)")
        }
        self.init()
        if let v = members["effort"], !v.isNull {
            guard let e = v.stringValue, Self.efforts.contains(e) else {
                throw OrbiterError.invalidConfiguration("reasoning.effort must be one of \(Self.efforts.map { "\"\($0)\"" }.joined(separator: ", "))")
            }
            effort = e
        }
        if let v = members["budget_tokens"], !v.isNull {
            guard let n = v.intValue, n >= 1024 else {
                throw OrbiterError.invalidConfiguration("reasoning.budget_tokens must be an integer, 1024 or more")
            }
            budgetTokens = n
        }
        if effort != nil && budgetTokens != nil {
            throw OrbiterError.invalidConfiguration("reasoning takes either effort (OpenAI-compatible) or budget_tokens (Anthropic), not both")
        }
        if effort == nil && budgetTokens == nil {
            throw OrbiterError.invalidConfiguration("reasoning needs effort (OpenAI-compatible) or budget_tokens (Anthropic)")
        }
    }
}

/// A block of a model's reasoning kept in the conversation, so it can be sent back as the
/// provider wants it: Anthropic requires the thinking blocks of a tool-using turn, with their
/// signatures, on the next request.
public struct ReasoningBlock: Sendable, Hashable {
    /// The reasoning text as it streamed.
    public var text: String
    /// The provider's signature over the text (Anthropic's `signature`).
    public var signature: String?
    /// Reasoning the provider sent encrypted (Anthropic's `redacted_thinking` data), returned as it came.
    public var redactedData: String?

    public init(text: String, signature: String? = nil, redactedData: String? = nil) {
        self.text = text
        self.signature = signature
        self.redactedData = redactedData
    }

    /// `{text, signature}` or `{redacted}`.
    public var json: JSONValue {
        if let redactedData { return ["redacted": .string(redactedData)] }
        var d: [String: JSONValue] = ["text": .string(text)]
        if let signature { d["signature"] = .string(signature) }
        return .object(d)
    }

    public init(json: JSONValue) {
        self.init(text: json["text"]?.stringValue ?? "", signature: json["signature"]?.stringValue,
                  redactedData: json["redacted"]?.stringValue)
    }
}
