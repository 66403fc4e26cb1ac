/// Sees every HTTP response head an HTTP provider receives during one `complete`, and every
/// retry it is about to send, without changing what the provider streams to the agent.
///
/// Rate limiting needs what only the transport knows: the provider's `x-ratelimit-*` /
/// `anthropic-ratelimit-*` headers (to recalibrate shared buckets) and a 429's `retry-after`
/// (to hold back the whole fleet), and it must account for a request sent again after a
/// transient failure. A decorator sets `ProviderResponseObservation.current` around the inner
/// provider's call; providers that are not HTTP never call it.
public protocol ProviderResponseObserver: Sendable {
    /// A response head arrived: its status and headers (names lower-cased).
    func responseHead(status: Int, headers: [String: String]) async
    /// The provider is about to send the request again (attempt 2, 3, …) after a transient
    /// failure and its backoff; throwing stops the retry with that error.
    func willRetry(attempt: Int) async throws
}

/// Where providers find the observer of the call in progress (a task-local, so the transport's
/// child tasks see it too).
public enum ProviderResponseObservation {
    @TaskLocal public static var current: (any ProviderResponseObserver)?
}
