import OrbiterCore

/// Seconds elapsed since `start`, for bounds like `< 0.5` and readable failure messages.
public func seconds(since start: ContinuousClock.Instant) -> Double { (ContinuousClock.now - start).inSeconds }
