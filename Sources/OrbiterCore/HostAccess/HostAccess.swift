/// What a script's code may reach beyond computing, as granted by the host that runs it.
///
/// A local run of a file grants everything (HTTP to any host, the environment's secrets,
/// programs, MCP servers as declared); a worker grants shipped scripts what its flags allow
/// (`--allow-host`, `--secret`, `--mcp`) and never `exec`; a script that is only loaded to be
/// described or submitted is granted nothing but placeholders.
public struct HostAccess: Sendable {
    /// `nil`: `orbiter.http` fails with "not available on this host".
    public var http: (any HTTPAccess)?
    public var secrets: SecretStore
    /// `nil`: `orbiter.exec` fails ("not available to shipped scripts" when sandboxed).
    public var programs: (any ProgramRunner)?
    /// `nil`: agents that use `orbiter.mcp` servers cannot be built on this host.
    public var mcp: (any MCPToolProvider)?

    public init(http: (any HTTPAccess)? = nil, secrets: SecretStore = .none, programs: (any ProgramRunner)? = nil,
                mcp: (any MCPToolProvider)? = nil) {
        self.http = http
        self.secrets = secrets
        self.programs = programs
        self.mcp = mcp
    }

    /// Nothing granted.
    public static let none = HostAccess()

    /// For a script that is only loaded to be described, checked or submitted: nothing is
    /// reached, and `orbiter.secret` at its top level (e.g. for an MCP server's headers) gives a
    /// placeholder, so the submitter needs none of the workers' secrets.
    public static let describing = HostAccess(secrets: .placeholders)

    /// Stops what the access started (MCP server processes).
    public func shutdown() async {
        await mcp?.shutdown()
    }
}
