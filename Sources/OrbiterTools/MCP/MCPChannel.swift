import OrbiterCore

/// How JSON-RPC messages reach one MCP server: a process's stdin and stdout, or HTTP POSTs.
protocol MCPChannel: Sendable {
    /// Sends `message` from the calling task. Returns the messages that came back with it (a
    /// streamable HTTP server answers a POST with them); a channel that brings the server's
    /// messages another way (stdio) returns none. `timeout` bounds the exchange.
    func send(_ message: JSONRPCMessage, timeout: Duration) async throws -> [JSONRPCMessage]

    /// Queues `message` to go out in the background, after those queued before it: cancellations
    /// and answers to the server, which must go out even when the task that caused them is cancelled.
    func post(_ message: JSONRPCMessage)
}
