/// Reads the `to_dict` fields of structured output, reasoning, provider options and hooks.
///
/// These arrive from elsewhere (a task payload on a worker), so each is checked as strictly as
/// the Lua prelude checks a script, and errors name the agent and the field.
enum AgentFeatures {
    static func output(_ value: JSONValue?, agent: String) throws -> JSONSchema? {
        guard let value else { return nil }
        if let problem = JSONSchema.problems(in: value, at: "output").first {
            throw OrbiterError.invalidConfiguration("agent '\(agent)': \(problem)")
        }
        return JSONSchema(value)
    }

    static func reasoning(_ value: JSONValue?, agent: String) throws -> ReasoningSettings? {
        try value.map { try named(agent) { try ReasoningSettings(json: $0) }($0) }
    }

    static func options(_ value: JSONValue?, agent: String) throws -> ModelOptions {
        try value.map { try named(agent) { try ModelOptions(json: $0) }($0) } ?? ModelOptions()
    }

    static func budget(_ value: JSONValue?, agent: String) throws -> SpendingBudget? {
        try value.map { try named(agent) { try SpendingBudget(json: $0, field: "budget") }($0) }
    }

    /// Binds the hooks `to_dict` names through the resolver (a script's functions on its host).
    static func hooks(_ value: JSONValue?, agent: String, resolver: any DefinitionResolver) throws -> AgentHooks {
        guard let value else { return AgentHooks() }
        guard let list = value.arrayValue ?? (value.objectValue?.isEmpty == true ? [] : nil) else {
            throw OrbiterError.invalidConfiguration("agent '\(agent)': field 'hooks' must be a list of hook names")
        }
        let known = AgentHooks.Name.allCases.map(\.rawValue)
        let names = try list.map { item -> String in
            guard let name = item.stringValue, known.contains(name) else {
                throw OrbiterError.invalidConfiguration(
                    "agent '\(agent)': hooks lists \(item.excerpt()), which is not a hook (known: \(known.joined(separator: ", ")))")
            }
            return name
        }
        return names.isEmpty ? AgentHooks() : try resolver.hooks(named: names, agent: agent)
    }

    /// Prefixes a field error with the agent's name.
    private static func named<T>(_ agent: String, _ read: @escaping (JSONValue) throws -> T) -> (JSONValue) throws -> T {
        { value in
            do { return try read(value) } catch let error as OrbiterError {
                throw OrbiterError.invalidConfiguration("agent '\(agent)': \(error.description)")
            }
        }
    }
}
