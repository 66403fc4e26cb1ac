/// Exponential backoff: the one way Orbiter waits longer after each failure in a row (reading a
/// queue while Redis is away, renewing leases, retrying a task or a model request).
public struct Backoff: Sendable, Hashable {
    /// The first delay; each later one doubles, up to `maximum`.
    public var initial: Duration
    public var maximum: Duration
    /// Each delay is multiplied by a random factor from this range, so clients that failed together
    /// do not retry together (`1...1`: no jitter).
    public var jitter: ClosedRange<Double>
    /// Failures so far in this run of failures.
    public private(set) var failures = 0

    public init(initial: Duration, maximum: Duration, jitter: ClosedRange<Double> = 1...1) {
        self.initial = initial
        self.maximum = maximum
        self.jitter = jitter
    }

    /// The delay after failure number `failure` (1-based) of a run.
    public func delay(afterFailure failure: Int) -> Duration {
        let ceiling = min(initial * (1 << min(max(failure - 1, 0), 30)), maximum)
        return jitter == 1...1 ? ceiling : ceiling * Double.random(in: jitter)
    }

    /// Counts a failure and returns how long to wait before the next try.
    public mutating func next() -> Duration {
        failures += 1
        return delay(afterFailure: failures)
    }

    /// Counts a failure and sleeps for the next delay (throws when the task is cancelled).
    public mutating func wait() async throws {
        try await Task.sleep(for: next())
    }

    /// A success: the next failure starts again from `initial`.
    public mutating func reset() { failures = 0 }
}

extension Duration {
    /// The duration in seconds, as a `Double` (for messages and metrics).
    public var inSeconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
    /// The duration in milliseconds, as a `Double`.
    public var inMilliseconds: Double { Double(components.seconds) * 1000 + Double(components.attoseconds) / 1e15 }
    /// Whole nanoseconds (for C and NIO APIs that take them).
    public var inNanoseconds: Int64 { components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000 }
}
