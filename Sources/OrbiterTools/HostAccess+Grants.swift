import Logging
import OrbiterCore

extension HostAccess {
    /// What a trusted local run of a file is granted: HTTP to any host, the environment's
    /// secrets, programs, and MCP servers started as the script declares them.
    /// - Parameter mcp: whether MCP servers are offered (tool libraries declare none).
    public static func trusted(logger: Logger, mcp: Bool = true) -> HostAccess {
        let http = ToolHTTPClient(.unrestricted)
        return HostAccess(http: http, secrets: (try? SecretStore(.environment)) ?? .none, programs: LocalProgramRunner(),
                          mcp: mcp ? MCPHub(offered: nil, scriptHTTP: http, trustedHTTP: http, logger: logger) : nil)
    }

    /// What a worker grants shipped scripts: HTTP to the allowed hosts only (never private,
    /// loopback or metadata addresses unless an entry names them exactly), the granted secrets,
    /// the offered MCP servers (stdio ones only from there), and no programs.
    /// - Parameters:
    ///   - hosts: `--allow-host` values; a bad one throws, named.
    ///   - mcpServers: the worker's `--mcp` servers; they are the operator's, so they reach their
    ///     URLs without the allow-list.
    public static func shipped(allowing hosts: [String], secrets: [String: String], mcpServers: [String: MCPServerSpec],
                               logger: Logger) throws -> HostAccess {
        let http = ToolHTTPClient(try HTTPPolicy.allowList(parsing: hosts))
        return HostAccess(http: http, secrets: try SecretStore(.values(secrets)), programs: nil,
                          mcp: MCPHub(offered: mcpServers, scriptHTTP: http, trustedHTTP: ToolHTTPClient(.unrestricted), logger: logger))
    }
}
