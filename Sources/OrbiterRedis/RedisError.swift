/// Everything that can go wrong talking to Redis, split by what the caller can do about it.
///
/// Messages never contain a password: URLs appear in their masked form (`RedisURL.description`).
public enum RedisError: Error, CustomStringConvertible, Sendable {
    /// The URL could not be parsed; the message names the offending part.
    case invalidURL(String)
    /// Connecting, authenticating or talking to the server failed; the connection was dropped
    /// and the next command reconnects.
    case connection(String)
    /// The server answered with an error reply (e.g. `WRONGTYPE ...`); the connection is fine.
    case server(String)
    /// The calling task was cancelled while its command was running.
    case cancelled
    /// The server sent something this client did not expect.
    case protocolError(String)

    /// A one-line human-readable message.
    public var description: String {
        switch self {
        case .invalidURL(let m): return "invalid Redis URL: \(m)"
        case .connection(let m): return "Redis connection error: \(m)"
        case .server(let m): return "Redis error: \(m)"
        case .cancelled: return "Redis command cancelled"
        case .protocolError(let m): return "Redis protocol error: \(m)"
        }
    }
}
