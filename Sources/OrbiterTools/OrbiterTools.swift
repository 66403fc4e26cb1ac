/// OrbiterTools implements the host access of OrbiterCore/HostAccess: what a script's tools may
/// reach beyond computing (HTTP, programs, MCP servers), under the policy of the host that runs it.
public enum OrbiterTools {}
