/// An MCP (Model Context Protocol) server a script declares with `orbiter.mcp{...}`, or a worker
/// offers with `--mcp FILE`.
public struct MCPServerSpec: Sendable, Hashable {
    public enum Transport: Sendable, Hashable {
        /// A program speaking JSON-RPC on its stdin and stdout, started by the host.
        case stdio(command: String, arguments: [String], environment: [String: String], workingDirectory: String?)
        /// A server reached over the streamable HTTP transport.
        case http(url: String, headers: [String: String])
    }

    /// Tools of this server are offered as `<name>__<tool>`.
    public var name: String
    public var transport: Transport
    /// How long one `tools/call` may take.
    public var callTimeout: Duration

    public init(name: String, transport: Transport, callTimeout: Duration = .seconds(60)) {
        self.name = name
        self.transport = transport
        self.callTimeout = callTimeout
    }

    /// The tool name a model sees for `tool` of this server.
    public func offeredName(_ tool: String) -> String { "\(name)__\(tool)" }
}

/// References to MCP servers in a serialised agent or swarm: `{"mcp": "time"}` (every tool of the
/// server) or `{"mcp": "docs", "tool": "search"}` (one) in an agent's `tools`.
public enum MCPReference {
    /// The names of the servers a node's agents use, in no particular order.
    public static func servers(in node: JSONValue) -> Set<String> {
        var names = Set<String>()
        collect(node, into: &names)
        return names
    }

    /// The server (and tool, for one tool) an entry of `tools` refers to, or nil for other tools:
    /// `{"mcp": "time"}`, `{"mcp": "docs", "tool": "search"}`, or a bound tool's dict whose
    /// `source` is one of those.
    public static func reference(_ entry: JSONValue) -> (server: String, tool: String?)? {
        for candidate in [entry, entry["source"] ?? .null] {
            if let server = candidate["mcp"]?.stringValue { return (server, candidate["tool"]?.stringValue) }
        }
        return nil
    }

    private static func collect(_ node: JSONValue, into names: inout Set<String>) {
        for tool in node["tools"]?.arrayValue ?? [] {
            if let server = reference(tool)?.server { names.insert(server) }
        }
        for member in node["agents"]?.arrayValue ?? [] { collect(member, into: &names) }
    }
}

/// Starts (or reuses) MCP servers and offers their tools to agents.
///
/// The host's policy lives here: a local run starts servers as the script declared them; a
/// worker starts a stdio server only from its own `--mcp` file (never the script's command) and
/// reaches URL servers only through its allow-listed HTTP access.
public protocol MCPToolProvider: Sendable {
    /// The tools of the server `declared` names, as agents are offered them: named
    /// `<server>__<tool>`, with the server's description and input schema, and source
    /// `{"mcp": server, "tool": tool}`. Throws why not (not offered by this host, failed to start).
    func tools(for declared: MCPServerSpec) async throws -> [Tool]
    /// Stops every server it started (stdio processes exit); later calls start them again.
    func shutdown() async
}
