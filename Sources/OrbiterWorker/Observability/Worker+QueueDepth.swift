import OrbiterQueue
import Foundation

extension Worker {
    /// Seconds between queue-depth refreshes.
    static let queueDepthInterval: Duration = .seconds(5)

    /// Keeps the queue-depth gauges current from `TaskBroker.stats()` (one atomic read).
    func queueDepthLoop() async {
        while !Task.isCancelled {
            if let stats = try? await metrics.redis("stats", { try await broker.stats() }) {
                metrics.queueDepth(stats)
            }
            try? await Task.sleep(for: Self.queueDepthInterval)
        }
    }
}
