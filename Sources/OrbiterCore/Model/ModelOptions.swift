/// Provider options an agent sets (`settings` in Lua): sampling, stop sequences, tool choice and
/// prompt caching. Each provider maps them to its own fields and refuses, naming itself and the
/// field, what it has no equivalent for.
///
/// Only these fields exist, on purpose: a shipped script's settings reach a worker's provider, and
/// none of them can change where a request goes or which key it carries (that is `ModelSettings`,
/// which a worker checks against its `ProviderPolicy`). An unknown field is an error.
public struct ModelOptions: Sendable, Hashable {
    /// Which tools the model must or may call.
    public enum ToolChoice: Sendable, Hashable {
        /// The model decides (the default).
        case auto
        /// No tool calls.
        case none
        /// At least one tool call.
        case required
        /// This tool.
        case tool(String)

        var json: JSONValue {
            switch self {
            case .auto: return "auto"
            case .none: return "none"
            case .required: return "required"
            case .tool(let name): return ["name": .string(name)]
            }
        }
    }

    public var toolChoice: ToolChoice?
    /// Whether the model may ask for several tools in one step.
    public var parallelToolCalls: Bool?
    public var topP: Double?
    /// Anthropic only.
    public var topK: Int?
    /// Sequences that end the reply.
    public var stop: [String]
    /// OpenAI-compatible only: best-effort reproducible sampling.
    public var seed: Int?
    /// OpenAI-compatible only.
    public var frequencyPenalty: Double?
    /// OpenAI-compatible only.
    public var presencePenalty: Double?
    /// Prompt caching: Anthropic marks the system prompt and tools with `cache_control`; OpenAI
    /// and Ollama cache prompts by themselves, so there it asks for nothing.
    public var cache: Bool

    public init(toolChoice: ToolChoice? = nil, parallelToolCalls: Bool? = nil, topP: Double? = nil, topK: Int? = nil,
                stop: [String] = [], seed: Int? = nil, frequencyPenalty: Double? = nil, presencePenalty: Double? = nil,
                cache: Bool = false) {
        self.toolChoice = toolChoice
        self.parallelToolCalls = parallelToolCalls
        self.topP = topP
        self.topK = topK
        self.stop = stop
        self.seed = seed
        self.frequencyPenalty = frequencyPenalty
        self.presencePenalty = presencePenalty
        self.cache = cache
    }

    /// The field names, as scripts write them.
    public static let fieldNames = ["cache", "frequency_penalty", "parallel_tool_calls", "presence_penalty", "seed", "stop",
                                    "tool_choice", "top_k", "top_p"]

    /// True when nothing is set.
    public var isEmpty: Bool { self == ModelOptions() }

    /// The fields that are set, by their script names.
    public var json: JSONValue {
        var d: [String: JSONValue] = [:]
        if let toolChoice { d["tool_choice"] = toolChoice.json }
        if let parallelToolCalls { d["parallel_tool_calls"] = .bool(parallelToolCalls) }
        if let topP { d["top_p"] = .double(topP) }
        if let topK { d["top_k"] = .int(topK) }
        if !stop.isEmpty { d["stop"] = .array(stop.map(JSONValue.string)) }
        if let seed { d["seed"] = .int(seed) }
        if let frequencyPenalty { d["frequency_penalty"] = .double(frequencyPenalty) }
        if let presencePenalty { d["presence_penalty"] = .double(presencePenalty) }
        if cache { d["cache"] = true }
        return .object(d)
    }

    /// Reads `settings` as `json` writes it; errors name the field (`settings.top_p must be ...`).
    public init(json: JSONValue) throws {
        guard let members = json.objectValue else { throw Self.wrong("", "a table of provider options") }
        if let unknown = members.keys.sorted().first(where: { !Self.fieldNames.contains($0) }) {
            throw OrbiterError.invalidConfiguration(
                "settings.\(unknown) is not a provider option (known: \(Self.fieldNames.joined(separator: ", ")))")
        }
        self.init()
        func number(_ key: String, _ range: ClosedRange<Double>) throws -> Double? {
            guard let v = members[key], !v.isNull else { return nil }
            guard let d = v.doubleValue, range.contains(d) else {
                throw Self.wrong(key, "a number from \(formatSeconds(range.lowerBound)) to \(formatSeconds(range.upperBound))")
            }
            return d
        }
        switch members["tool_choice"] {
        case nil, .null?: break
        case .string("auto")?: toolChoice = .auto
        case .string("none")?: toolChoice = ToolChoice.none
        case .string("required")?: toolChoice = .required
        case let value?:
            guard let name = value["name"]?.stringValue, !name.isEmpty, value.objectValue?.count == 1 else {
                throw Self.wrong("tool_choice", "\"auto\", \"none\", \"required\" or { name = \"tool\" }")
            }
            toolChoice = .tool(name)
        }
        if let v = members["parallel_tool_calls"], !v.isNull {
            guard let b = v.boolValue else { throw Self.wrong("parallel_tool_calls", "true or false") }
            parallelToolCalls = b
        }
        topP = try number("top_p", 0...1)
        if let v = members["top_k"], !v.isNull {
            guard let k = v.intValue, k >= 1 else { throw Self.wrong("top_k", "an integer, 1 or more") }
            topK = k
        }
        switch members["stop"] {
        case nil, .null?: break
        case .string(let s)?: stop = [s]
        case .array(let list)? where list.allSatisfy({ $0.stringValue?.isEmpty == false }): stop = list.compactMap(\.stringValue)
        case .object(let o)? where o.isEmpty: break
        default: throw Self.wrong("stop", "a string or a list of non-empty strings")
        }
        if let v = members["seed"], !v.isNull {
            guard let s = v.intValue else { throw Self.wrong("seed", "an integer") }
            seed = s
        }
        frequencyPenalty = try number("frequency_penalty", -2...2)
        presencePenalty = try number("presence_penalty", -2...2)
        if let v = members["cache"], !v.isNull {
            guard let b = v.boolValue else { throw Self.wrong("cache", "true or false") }
            cache = b
        }
    }

    private static func wrong(_ key: String, _ expected: String) -> OrbiterError {
        .invalidConfiguration("settings\(key.isEmpty ? "" : "." + key) must be \(expected)")
    }
}
