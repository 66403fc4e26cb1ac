/// Timeouts and retries shared by the HTTP providers.
public struct HTTPProviderOptions: Sendable, Hashable {
    /// Retries of transient failures.
    public var retry: RetryPolicy
    /// Time allowed to connect and receive the response headers.
    public var connectTimeout: Duration
    /// Longest silence tolerated inside a streamed body before the stream counts as stalled.
    public var idleTimeout: Duration

    /// Defaults suit hosted APIs: 3 attempts, 60 s to the response head, 120 s of tolerated silence.
    public init(retry: RetryPolicy = RetryPolicy(), connectTimeout: Duration = .seconds(60),
                idleTimeout: Duration = .seconds(120)) {
        self.retry = retry
        self.connectTimeout = connectTimeout
        self.idleTimeout = idleTimeout
    }
}
