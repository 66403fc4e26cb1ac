/// An LLM agent: a model, instructions, tools, and a step budget.
///
/// A value type, so concurrent runs never share mutable state; swarms add tools per run on a copy.
public struct Agent: Sendable {
    public var name: String
    /// `"provider:model"`, e.g. `openai:gpt-4o`, or `lua:<name>` for a model written in Lua.
    public var model: String
    /// A provider bound directly (a Lua model, a test double); when `nil` the registry resolves `model`.
    public var provider: (any ModelProvider)?
    public var instructions: String
    public var tools: [Tool]
    /// Names of agents this one may hand the conversation to (handoff swarms).
    public var handoffs: [String]
    public var maxSteps: Int
    public var temperature: Double?
    public var maxTokens: Int?
    /// Endpoint overrides for the provider.
    public var settings: ModelSettings
    /// The schema the final answer must match (structured output; `output` in Lua). The answer
    /// is checked, repaired once, and decoded into `RunResult.parsed`.
    public var output: JSONSchema?
    /// How much the model should reason (`reasoning` in Lua).
    public var reasoning: ReasoningSettings?
    /// Provider options: sampling, stops, tool choice, caching (`settings` in Lua).
    public var options: ModelOptions
    /// Code run around model and tool calls (`hooks` in Lua).
    public var hooks: AgentHooks
    /// What this agent's own model calls may spend in one run (`budget` in Lua).
    public var budget: SpendingBudget?

    public init(name: String, model: String, provider: (any ModelProvider)? = nil, instructions: String = "",
                tools: [Tool] = [], handoffs: [String] = [], maxSteps: Int = 10, temperature: Double? = nil,
                maxTokens: Int? = nil, settings: ModelSettings = ModelSettings(), output: JSONSchema? = nil,
                reasoning: ReasoningSettings? = nil, options: ModelOptions = ModelOptions(), hooks: AgentHooks = AgentHooks(),
                budget: SpendingBudget? = nil) {
        self.name = name
        self.model = model
        self.provider = provider
        self.instructions = instructions
        self.tools = tools
        self.handoffs = handoffs
        self.maxSteps = maxSteps
        self.temperature = temperature
        self.maxTokens = maxTokens
        self.settings = settings
        self.output = output
        self.reasoning = reasoning
        self.options = options
        self.hooks = hooks
        self.budget = budget
    }

    /// The original's `to_dict` shape, plus `base_url`/`api_key_env`, `output`, `reasoning`,
    /// `settings` and `hooks` (the names of the hooks the agent has) when set.
    public func toDict() -> JSONValue {
        var d: [String: JSONValue] = [
            "type": "agent",
            "name": .string(name),
            "model": .string(model),
            "instructions": .string(instructions),
            "max_steps": .int(maxSteps),
            "temperature": temperature.map(JSONValue.double) ?? .null,
            "max_tokens": maxTokens.map(JSONValue.int) ?? .null,
            "tools": .array(tools.map { $0.toDict() }),
            "handoffs": .array(handoffs.map(JSONValue.string)),
        ]
        if let url = settings.baseURL { d["base_url"] = .string(url) }
        if let env = settings.apiKeyEnv { d["api_key_env"] = .string(env) }
        if let output { d["output"] = output.schema }
        if let reasoning { d["reasoning"] = reasoning.json }
        if !options.isEmpty { d["settings"] = options.json }
        if !hooks.isEmpty { d["hooks"] = .array(hooks.names.map(JSONValue.string)) }
        if let budget, !budget.isEmpty { d["budget"] = budget.json }
        return .object(d)
    }

    /// Rebuilds an agent from `toDict` output, binding tools and script models through `resolver`.
    /// Errors name the offending field.
    public static func fromDict(_ dict: JSONValue, resolver: any DefinitionResolver) throws -> Agent {
        let fields = try DictReader(dict, what: "agent")
        let name = try fields.string("name")
        let model = try fields.string("model")
        let toolDicts = try fields.array("tools", default: [])
        let tools = try toolDicts.flatMap { try resolver.tools(from: $0) }
        let maxSteps = try fields.int("max_steps", default: 10)
        guard maxSteps >= 1 else { throw OrbiterError.invalidConfiguration("agent '\(name)': max_steps must be at least 1") }
        return Agent(
            name: name, model: model, provider: try resolver.model(named: model),
            instructions: try fields.string("instructions", default: ""), tools: tools,
            handoffs: try fields.array("handoffs", default: []).map {
                guard let s = $0.stringValue ?? $0["name"]?.stringValue else {
                    throw OrbiterError.invalidConfiguration("agent '\(name)': handoffs must be agent names")
                }
                return s
            },
            maxSteps: maxSteps, temperature: try fields.double("temperature"), maxTokens: try fields.optionalInt("max_tokens"),
            settings: ModelSettings(baseURL: try fields.optionalString("base_url"), apiKeyEnv: try fields.optionalString("api_key_env")),
            output: try AgentFeatures.output(fields.value("output"), agent: name),
            reasoning: try AgentFeatures.reasoning(fields.value("reasoning"), agent: name),
            options: try AgentFeatures.options(fields.value("settings"), agent: name),
            hooks: try AgentFeatures.hooks(fields.value("hooks"), agent: name, resolver: resolver),
            budget: try AgentFeatures.budget(fields.value("budget"), agent: name))
    }
}

/// Typed access to a dict's fields with errors that say which field of what is wrong.
struct DictReader {
    let members: [String: JSONValue]
    let what: String

    init(_ value: JSONValue, what: String) throws {
        guard let members = value.objectValue else { throw OrbiterError.invalidConfiguration("\(what) must be an object, got \(value.jsonString.prefix(80))") }
        self.members = members
        self.what = what
    }

    /// The field's value; `nil` when it is missing or null.
    func value(_ key: String) -> JSONValue? { present(key) }

    private func present(_ key: String) -> JSONValue? {
        guard let v = members[key], !v.isNull else { return nil }
        return v
    }

    private func wrong(_ key: String, _ expected: String) -> OrbiterError {
        .invalidConfiguration("\(what) field '\(key)' must be \(expected)")
    }

    func string(_ key: String, default fallback: String? = nil) throws -> String {
        guard let v = present(key) else {
            if let fallback { return fallback }
            throw OrbiterError.invalidConfiguration("\(what) field '\(key)' is missing")
        }
        guard let s = v.stringValue else { throw wrong(key, "a string") }
        return s
    }

    func optionalString(_ key: String) throws -> String? {
        guard present(key) != nil else { return nil }
        return try string(key)
    }

    func int(_ key: String, default fallback: Int) throws -> Int {
        guard let v = present(key) else { return fallback }
        guard let i = v.intValue else { throw wrong(key, "an integer") }
        return i
    }

    func optionalInt(_ key: String) throws -> Int? {
        guard let v = present(key) else { return nil }
        guard let i = v.intValue else { throw wrong(key, "an integer") }
        return i
    }

    func double(_ key: String) throws -> Double? {
        guard let v = present(key) else { return nil }
        guard let d = v.doubleValue else { throw wrong(key, "a number") }
        return d
    }

    func array(_ key: String, default fallback: [JSONValue]? = nil) throws -> [JSONValue] {
        guard let v = present(key) else {
            if let fallback { return fallback }
            throw OrbiterError.invalidConfiguration("\(what) field '\(key)' is missing")
        }
        guard let a = v.arrayValue else { throw wrong(key, "a list") }
        return a
    }
}
