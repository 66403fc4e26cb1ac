import OrbiterCore

/// Rebinds a serialised agent's Lua tools and `lua:` models to one `LuaRuntime`.
///
/// A tool's `source` is `{"bundle": <sha256>, "name": ...}` (defined by the script) or
/// `{"registry": name}` (offered by the host, e.g. a worker's `--tools` folder).
struct LuaDefinitionResolver: DefinitionResolver {
    let runtime: LuaRuntime
    let hostTools: [String: Tool]
    /// The tools of the MCP servers the node uses, by server (`LuaRuntime.mcpTools(for:)`).
    var mcpTools: [String: [Tool]] = [:]
    /// Accept any `registry` tool name (to check a script before knowing which host runs it).
    var acceptsAnyHostTool = false
    /// The memory account of the task this resolver binds for: one resolver per task.
    let account = LuaTaskAccount()

    func tools(from dict: JSONValue) throws -> [Tool] {
        guard let (server, tool) = MCPReference.reference(dict) else { return [try self.tool(from: dict)] }
        guard let offered = mcpTools[server] else {
            if acceptsAnyHostTool {
                // Checked or about to be shipped: the reference travels; the host that runs it lists the tools.
                return [Tool(name: tool.map { "\(server)__\($0)" } ?? server, description: "", parameters: ["type": "object", "properties": .object([:])],
                             source: tool.map { ["mcp": .string(server), "tool": .string($0)] } ?? ["mcp": .string(server)]) { _ in
                    throw OrbiterError.invalidConfiguration("MCP server '\(server)' is not started in this process")
                }]
            }
            throw OrbiterError.invalidConfiguration("MCP server '\(server)' is used by an agent but not available here")
        }
        guard let tool else { return offered }
        guard let one = offered.first(where: { $0.source?["tool"]?.stringValue == tool }) else {
            let names = offered.compactMap { $0.source?["tool"]?.stringValue }.sorted().joined(separator: ", ")
            throw OrbiterError.invalidConfiguration("MCP server '\(server)' has no tool '\(tool)' (its tools: \(names.isEmpty ? "none" : names))")
        }
        return [one]
    }

    func tool(from dict: JSONValue) throws -> Tool {
        guard let name = dict["name"]?.stringValue else {
            throw OrbiterError.invalidConfiguration("tool field 'name' is missing or not a string")
        }
        if let registryName = dict["source"]?["registry"]?.stringValue {
            if acceptsAnyHostTool, hostTools[registryName] == nil {
                return Tool(name: registryName, description: "", parameters: ["type": "object", "properties": .object([:])],
                            source: ["registry": .string(registryName)]) { _ in
                    throw OrbiterError.invalidConfiguration("tool '\(registryName)' is not offered by this host")
                }
            }
            guard let tool = hostTools[registryName] else {
                let offered = hostTools.keys.sorted().joined(separator: ", ")
                throw OrbiterError.invalidConfiguration(
                    "tool '\(registryName)' is not offered by this host (offered: \(offered.isEmpty ? "none" : offered); hosts offer tools from their --tools folder)")
            }
            return tool
        }
        if let bundle = dict["source"]?["bundle"]?.stringValue, bundle != runtime.bundle.sha256 {
            throw OrbiterError.invalidConfiguration("tool '\(name)' belongs to script bundle \(bundle.prefix(12)), not \(runtime.bundle.sha256.prefix(12))")
        }
        guard runtime.toolNames.contains(name) else {
            throw OrbiterError.invalidConfiguration("tool '\(name)' is not defined by the script \(runtime.bundle.entry)")
        }
        let (runtime, account) = (self.runtime, self.account)
        return Tool(name: name, description: dict["description"]?.stringValue ?? "",
                    parameters: dict["parameters"] ?? ["type": "object", "properties": .object([:])],
                    source: ["bundle": .string(runtime.bundle.sha256), "name": .string(name)],
                    approval: dict["approval"]?.boolValue ?? false) { arguments in
            try await runtime.callTool(name, arguments: arguments, account: account)
        }
    }

    func hooks(named names: [String], agent: String) throws -> AgentHooks {
        try LuaAgentHooks(runtime: runtime, agent: agent, account: account).bind(names)
    }

    func model(named qualifiedName: String) throws -> (any ModelProvider)? {
        guard qualifiedName.hasPrefix("lua:") else { return nil }
        let name = String(qualifiedName.dropFirst(4))
        guard runtime.modelNames.contains(name) else {
            throw OrbiterError.invalidConfiguration("model \"\(qualifiedName)\": no orbiter.model named '\(name)' in \(runtime.bundle.entry)")
        }
        return LuaModelProvider(runtime: runtime, name: name, account: account)
    }
}
