/// Timeouts and retries shared by the HTTP providers.
public struct HTTPProviderOptions: Sendable, Hashable {
    /// Retries of transient failures.
    public var retry: RetryPolicy
    /// Time allowed to open a connection (TCP and TLS). A refused connection or a host name that
    /// does not resolve fails at once, whatever this says.
    public var connectTimeout: Duration
    /// Time allowed from sending the request to the response head.
    public var responseTimeout: Duration
    /// Longest silence tolerated while a reply streams (or, if shorter than `responseTimeout`,
    /// before its head) before it counts as stalled.
    public var idleTimeout: Duration

    /// Defaults suit hosted APIs: 3 attempts, 10 s to connect, 60 s to the response head, 120 s
    /// of tolerated silence.
    public init(retry: RetryPolicy = RetryPolicy(), connectTimeout: Duration = .seconds(10),
                responseTimeout: Duration = .seconds(60), idleTimeout: Duration = .seconds(120)) {
        self.retry = retry
        self.connectTimeout = connectTimeout
        self.responseTimeout = responseTimeout
        self.idleTimeout = idleTimeout
    }
}
