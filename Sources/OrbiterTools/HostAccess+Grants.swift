import Logging
import OrbiterCore

extension HostAccess {
    /// What a trusted local run of a file is granted: HTTP to any host, the environment's
    /// secrets, programs, and MCP servers started as the script declares them.
    /// - Parameter mcp: whether MCP servers are offered (tool libraries declare none).
    public static func trusted(logger: Logger, mcp: Bool = true) -> HostAccess {
        let http = PendingStubs.unrestrictedHTTP()
        return HostAccess(http: http, secrets: (try? SecretStore(.environment)) ?? .none, programs: PendingStubs.programs(),
                          mcp: mcp ? PendingStubs.hub(offered: nil, scriptHTTP: http, trustedHTTP: http, logger: logger) : nil)
    }

    /// What a worker grants shipped scripts: HTTP to the allowed hosts only (never private,
    /// loopback or metadata addresses unless named exactly), the granted secrets, the offered MCP
    /// servers (stdio ones only from there), and no programs.
    public static func shipped(allowing hosts: [String], secrets: [String: String], mcpServers: [String: MCPServerSpec],
                               logger: Logger) throws -> HostAccess {
        let http = try PendingStubs.allowListHTTP(hosts)
        return HostAccess(http: http, secrets: try SecretStore(.values(secrets)), programs: nil,
                          mcp: PendingStubs.hub(offered: mcpServers, scriptHTTP: http, trustedHTTP: PendingStubs.unrestrictedHTTP(), logger: logger))
    }
}
