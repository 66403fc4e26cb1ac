import Logging
import OrbiterCore
import ServiceLifecycle

/// A live stdio server process, as `MCPHub.serverProcesses()` lists it.
public struct MCPServerProcess: Sendable, Hashable {
    public var server: String
    public var pid: Int32
}

/// The MCP servers of one process: each started on first use and shared by every task, and all
/// stopped at shutdown. As a `Service`, `run()` waits for graceful shutdown, then stops them.
///
/// The host's policy lives here. A trusted local run (`offered == nil`) starts servers as scripts
/// declare them. A worker uses a declared server only under a name its `--mcp` file offers, and
/// then the offered definition, never the script's command; a URL server it does not offer is
/// reached through the worker's allow-listed HTTP access (`scriptHTTP`), an offered one through
/// `trustedHTTP`.
public actor MCPHub: MCPToolProvider, Service {
    private let offered: [String: MCPServerSpec]?
    private let scriptHTTP: any HTTPAccess
    private let trustedHTTP: any HTTPAccess
    private let logger: Logger
    private var connections: [Key: MCPConnection] = [:]
    private var isShutDown = false

    /// One connection per server definition and the HTTP access it goes through.
    private struct Key: Hashable {
        var spec: MCPServerSpec
        var trusted: Bool
    }

    public init(offered: [String: MCPServerSpec]?, scriptHTTP: any HTTPAccess, trustedHTTP: any HTTPAccess, logger: Logger) {
        self.offered = offered
        self.scriptHTTP = scriptHTTP
        self.trustedHTTP = trustedHTTP
        self.logger = logger
    }

    public func tools(for declared: MCPServerSpec) async throws -> [Tool] {
        let key = try resolve(declared)
        guard !isShutDown else { throw MCPError("MCP server '\(declared.name)': this host's MCP servers have been shut down") }
        let connection = connections[key] ?? {
            let made = MCPConnection(spec: key.spec, http: key.trusted ? trustedHTTP : scriptHTTP, logger: logger)
            connections[key] = made
            return made
        }()
        let list = try await connection.tools()
        return MCPToolMapping.tools(list, server: declared.name, spec: key.spec, connection: connection)
    }

    /// The definition this host uses for `declared`, and whether it is the host's own.
    private func resolve(_ declared: MCPServerSpec) throws -> Key {
        guard let offered else { return Key(spec: declared, trusted: true) }
        if var spec = offered[declared.name] {
            spec.name = declared.name
            return Key(spec: spec, trusted: true)
        }
        if case .http = declared.transport { return Key(spec: declared, trusted: false) }
        throw MCPError("MCP server '\(declared.name)' is not offered by this worker "
                       + "(start the worker with --mcp FILE naming '\(declared.name)')")
    }

    /// Waits for graceful shutdown, then stops every server.
    public func run() async throws {
        try? await gracefulShutdown()
        await shutdown()
    }

    /// Stops every server (stdin closed, then SIGTERM, then SIGKILL to its process group; HTTP
    /// sessions ended). Later `tools(for:)` calls fail.
    public func shutdown() async {
        isShutDown = true
        let all = Array(connections.values)
        connections.removeAll()
        await withTaskGroup(of: Void.self) { group in
            for connection in all { group.addTask { await connection.shutdown() } }
        }
    }

    /// The live stdio server processes (for tests and the bench).
    public func serverProcesses() async -> [MCPServerProcess] {
        var processes: [MCPServerProcess] = []
        for connection in connections.values {
            if let pid = await connection.processID { processes.append(MCPServerProcess(server: connection.spec.name, pid: pid)) }
        }
        return processes.sorted { ($0.server, $0.pid) < ($1.server, $1.pid) }
    }
}
