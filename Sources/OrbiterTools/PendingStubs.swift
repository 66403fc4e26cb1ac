import Logging
import OrbiterCore
// Replaced at the merge of the HTTP and MCP branches.
enum PendingStubs {
    static func unrestrictedHTTP() -> (any HTTPAccess)? { nil }
    static func allowListHTTP(_ hosts: [String]) throws -> (any HTTPAccess)? { nil }
    static func programs() -> (any ProgramRunner)? { nil }
    static func hub(offered: [String: MCPServerSpec]?, scriptHTTP: (any HTTPAccess)?, trustedHTTP: (any HTTPAccess)?, logger: Logger) -> (any MCPToolProvider)? { nil }
}
public enum MCPServersFile { public static func load(path: String) throws -> [String: MCPServerSpec] { [:] } }
