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
    private let cache = Mutex<[String: any Sendable]>([:])

    public init(factory: any MetricsFactory, queue: String) {
        self.factory = factory
        self.queue = queue
    }

    private func cached<M: Sendable>(_ key: String, make: () -> M) -> M {
        cache.withLock { cache in
            if let m = cache[key] as? M { return m }
            let m = make()
            cache[key] = m
            return m
        }
    }

    func tokens(_ kind: String, model: String, count: Int) {
        guard count > 0 else { return }
        cached("tokens:\(model):\(kind)") {
            Counter(label: "orbiter_limit_tokens_total", dimensions: [("queue", queue), ("model", model), ("kind", kind)], factory: factory)
        }.increment(by: count)
    }

    func waited(model: String, ms: Int) {
        cached("wait:\(model)") {
            Timer(label: "orbiter_limit_wait_seconds", dimensions: [("queue", queue), ("model", model)], factory: factory)
        }.recordNanoseconds(Int64(max(0, ms)) * 1_000_000)
    }

    func rejected(model: String) {
        cached("rejected:\(model)") {
            Counter(label: "orbiter_limit_rejections_total", dimensions: [("queue", queue), ("model", model)], factory: factory)
        }.increment()
    }
}
