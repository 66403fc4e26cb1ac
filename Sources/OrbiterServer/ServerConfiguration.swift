import Foundation
import OrbiterQueue

/// How `orbiter serve` listens, who it lets in, and which Redis it fronts.
public struct ServerConfiguration: Sendable {
    /// The address to bind; a token is required unless it is a loopback address.
    public var host: String = "127.0.0.1"
    /// 0 picks a free port (tests); `APIServer` reports the one bound.
    public var port: Int = 8080
    public var tokens: TokenTable = TokenTable([])
    /// Default `ORBITER_REDIS_URL`, else redis://127.0.0.1:6379.
    public var redisURL: String?
    /// The queue of requests that name none (`?queue=` or the submit body's `queue`).
    public var defaultQueue: String = "default"
    /// Signing (`ORBITER_SECRET`), TTLs and the pending cap, as the CLI's submit uses them.
    public var settings: QueueSettings = QueueSettings()
    /// The one origin browsers may call the API from (`--cors`); nil: no CORS headers.
    public var corsOrigin: String?
    /// Largest request body accepted (413 beyond); default 1 MiB.
    public var bodyLimit: Int = 1 << 20
    /// How often an idle event stream sends a `: heartbeat` comment (15 s; shorter in tests).
    public var heartbeat: Duration = .seconds(15)
    /// The longest `?wait=` a result request may block.
    public var maxResultWait: Double = 300

    public init() {}

    /// Whether `host` only accepts connections from this machine.
    public var isLoopback: Bool { ["127.0.0.1", "::1", "localhost"].contains(host) || host.hasPrefix("127.") }

    /// Refuses a configuration that would open the queue to the network: no token on a public address.
    public func validate() throws {
        if tokens.isOpen && !isLoopback {
            throw TokenFileError("--host \(host) reaches beyond this machine: give --token or --tokens-file (without one, only a loopback address is allowed)")
        }
        if !(1...(64 << 20)).contains(bodyLimit) { throw TokenFileError("--max-body must be 1 byte to 64 MiB, got \(bodyLimit)") }
        if let corsOrigin, corsOrigin != "*", URL(string: corsOrigin)?.scheme == nil {
            throw TokenFileError("--cors expects an origin such as https://app.example.com (or *), got '\(corsOrigin.prefix(80))'")
        }
        _ = try QueueKeys(queue: defaultQueue)
    }
}
