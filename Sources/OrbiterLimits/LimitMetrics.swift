import CoreMetrics
import Synchronization

/// The limiter's metrics. The `model` label is a limit's name: only models an operator gave a
/// limit are booked, so its values are bounded by `orbiter limits list`.
///
/// - `orbiter_limit_tokens_total{queue,model,kind=reserved|used|refunded}`: tokens booked before
///   calls, used by them (from `usage`), and given back at settle (booked − used, when positive)
/// - `orbiter_limit_wait_seconds{queue,model}`: how long calls waited for room (histogram)
/// - `orbiter_limit_rejections_total{queue,model}`: 429s that pushed the model's next free time
public final class LimitMetrics: Sendable {
    private let factory: any MetricsFactory
    private let queue: String
    private let counters = Mutex<[String: Counter]>([:])
    private let timers = Mutex<[String: Timer]>([:])

    public init(factory: any MetricsFactory, queue: String) {
        self.factory = factory
        self.queue = queue
    }

    // Two typed caches, not one generic helper: a generic `withLock` cache inlined into the
    // limiter's settle crashed the Swift 6.3.1 optimizer in release builds.
    private func counter(_ key: String, label: String, dimensions: [(String, String)]) -> Counter {
        counters.withLock { cache in
            if let c = cache[key] { return c }
            let c = Counter(label: label, dimensions: dimensions, factory: factory)
            cache[key] = c
            return c
        }
    }

    func tokens(_ kind: String, model: String, count: Int) {
        guard count > 0 else { return }
        counter("tokens:\(model):\(kind)", label: "orbiter_limit_tokens_total",
                dimensions: [("queue", queue), ("model", model), ("kind", kind)]).increment(by: count)
    }

    func waited(model: String, ms: Int) {
        timers.withLock { cache in
            if let t = cache[model] { return t }
            let t = Timer(label: "orbiter_limit_wait_seconds", dimensions: [("queue", queue), ("model", model)], factory: factory)
            cache[model] = t
            return t
        }.recordNanoseconds(Int64(max(0, ms)) * 1_000_000)
    }

    func rejected(model: String) {
        counter("rejected:\(model)", label: "orbiter_limit_rejections_total", dimensions: [("queue", queue), ("model", model)]).increment()
    }
}
