import OrbiterCore

/// Why an MCP server or one of its tools could not serve a call. The message names the server and
/// the call, for the person reading a log or the model reading a failed tool result.
public struct MCPError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What went wrong, as one sentence.
    public var message: String
    /// What the client does about it (retry after re-initialising, restart, nothing).
    var kind: Kind

    enum Kind: Sendable, Equatable {
        case failed
        /// A streamable HTTP server no longer knows this session (HTTP 404): initialise again.
        case sessionExpired(String)
        /// A request took longer than its timeout (the server is told to stop it).
        case timedOut
        /// The tool itself reported failure (`isError: true`): the message is its text.
        case toolError
    }

    public init(_ message: String) {
        self.init(message, kind: .failed)
    }

    init(_ message: String, kind: Kind) {
        self.message = message
        self.kind = kind
    }

    public var description: String { message }
}
