import OrbiterCore

/// How often and how patiently a provider retries a failed request.
///
/// Rate limits and overloaded servers are routine for model APIs, so transient failures (connection
/// errors, 408, 409, 429, 5xx) are retried with exponential backoff and full jitter; a `Retry-After`
/// from the server wins over the computed delay. Tests use tiny delays.
public struct RetryPolicy: Sendable, Hashable {
    /// Total attempts, the first included (1 = never retry).
    public var maxAttempts: Int
    /// Delay before the first retry; doubled for each later one.
    public var baseDelay: Duration
    /// Upper bound of the computed backoff.
    public var maxDelay: Duration
    /// Upper bound on how long a `Retry-After` header may make us wait.
    public var maxRetryAfter: Duration

    /// Defaults: 3 attempts, 0.5 s doubling up to 20 s, `Retry-After` honoured up to 60 s.
    public init(maxAttempts: Int = 3, baseDelay: Duration = .milliseconds(500), maxDelay: Duration = .seconds(20),
                maxRetryAfter: Duration = .seconds(60)) {
        self.maxAttempts = max(1, maxAttempts)
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
        self.maxRetryAfter = maxRetryAfter
    }

    /// Never retry.
    public static let none = RetryPolicy(maxAttempts: 1)

    /// The wait before attempt `attempt + 1`, after attempt `attempt` (1-based) failed.
    func delay(afterAttempt attempt: Int, retryAfter: Duration?) -> Duration {
        if let retryAfter { return min(retryAfter, maxRetryAfter) }
        // Jitter in [ceiling/2, ceiling]: spreads out clients that failed together.
        return Backoff(initial: baseDelay, maximum: maxDelay, jitter: 0.5...1.0).delay(afterFailure: attempt)
    }
}
