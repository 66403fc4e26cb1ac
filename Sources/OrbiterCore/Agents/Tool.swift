/// A function the model may call.
///
/// The body is opaque to Core: a Lua tool's body calls into its Lua state, a Swift tool is a
/// closure. Only `source` travels to other processes; the body is re-bound there by name.
public struct Tool: Sendable {
    /// Name, description and argument schema, as the model sees them.
    public var spec: ToolSpec
    /// Where the body can be found again on another machine, e.g.
    /// `{"bundle": "<sha256>", "name": "add"}` for a Lua tool. `nil` for tools that cannot travel.
    public var source: JSONValue?
    /// Runs the tool with the parsed arguments (a JSON object). Throwing gives the model a failed result.
    public var body: @Sendable (JSONValue) async throws -> JSONValue
    /// A person must approve each call before it runs (`approval = true` in Lua); a rejected call
    /// is a failed result the model sees (`rejected: <reason>`).
    public var needsApproval: Bool

    public init(name: String, description: String, parameters: JSONValue, source: JSONValue? = nil, approval: Bool = false,
                body: @escaping @Sendable (JSONValue) async throws -> JSONValue) {
        self.spec = ToolSpec(name: name, description: description, parameters: parameters)
        self.source = source
        self.needsApproval = approval
        self.body = body
    }

    public var name: String { spec.name }

    /// `{name, description, parameters, source, approval?}`; a whole MCP toolset travels as its
    /// reference alone, `{"mcp": server}`: its tools are listed on the host that runs it.
    public func toDict() -> JSONValue {
        if let source, let server = source["mcp"], source["tool"] == nil { return ["mcp": server] }
        var d: [String: JSONValue] = ["name": .string(spec.name), "description": .string(spec.description),
                                      "parameters": spec.parameters]
        if let source { d["source"] = source }
        if needsApproval { d["approval"] = true }
        return .object(d)
    }
}

extension JSONValue {
    /// The text a tool result is sent to the model as: strings as they are, anything else as JSON.
    public var toolResultText: String {
        if case .string(let s) = self { return s }
        return jsonString
    }
}

/// Rebinds what `toDict` could not carry: tool bodies and models defined in scripts.
///
/// The Lua layer implements this over a script bundle; a Swift program can implement it over its
/// own registry of Swift tools.
public protocol DefinitionResolver: Sendable {
    /// The tool for a serialised `{name, description, parameters, source}`.
    func tool(from dict: JSONValue) throws -> Tool
    /// The tools one entry of an agent's `tools` stands for: most entries are one tool, an MCP
    /// toolset (`{"mcp": "time"}`) is every tool of its server.
    func tools(from dict: JSONValue) throws -> [Tool]
    /// A provider for a model name that the provider registry does not serve (e.g. `lua:scripted`),
    /// or `nil` to use the registry.
    func model(named qualifiedName: String) throws -> (any ModelProvider)?
    /// The hooks an agent's `to_dict` names (`["before_tool", "on_output"]`): script code, bound
    /// again on the host that runs it.
    func hooks(named names: [String], agent: String) throws -> AgentHooks
}

extension DefinitionResolver {
    public func tools(from dict: JSONValue) throws -> [Tool] { [try tool(from: dict)] }

    /// By default hooks cannot be bound: they are code of the script that defined them.
    public func hooks(named names: [String], agent: String) throws -> AgentHooks {
        throw OrbiterError.invalidConfiguration(
            "agent '\(agent)' has hooks (\(names.joined(separator: ", "))), which only the script that defines them can bind")
    }
}
