import CoreMetrics
import OrbiterCore
import OrbiterRedis

/// Turns shared rate limits on for a process's model calls (`orbiter start worker --limits`,
/// `orbiter run --limits`). Off by default: a process that does not ask pays no Redis round trip.
public struct RateLimitSettings: Sendable, Hashable {
    /// The longest one call waits for room (see `RateLimiter.maxWait`).
    public var maxWait: Duration

    public init(maxWait: Duration = .seconds(300)) {
        self.maxWait = maxWait
    }

    /// `providers` with every provider wrapped in a `RateLimitedProvider` booking through `client`.
    public func applied(to providers: ProviderRegistry, client: RedisClient, metrics: LimitMetrics? = nil) -> ProviderRegistry {
        let limiter = RateLimiter(client: client, maxWait: maxWait, metrics: metrics)
        return providers.decorated { provider, model, settings, inner in
            RateLimitedProvider(wrapping: inner, limiter: limiter, provider: provider, model: model, settings: settings)
        }
    }
}
