import Foundation
import OrbiterQueue
import Synchronization

/// `GET /metrics`: Prometheus text of the server's responses by status and of each visible
/// queue's counts (the numbers `queue stats` shows), read when scraped.
final class ServerMetrics: Sendable {
    private let responses = Mutex<[Int: Int]>([:])

    func count(status: Int) { responses.withLock { $0[status, default: 0] += 1 } }

    func text(brokers: BrokerPool, token: APIToken) async throws -> String {
        var lines = ["# HELP orbiter_http_responses_total Responses of this orbiter serve by status code.",
                     "# TYPE orbiter_http_responses_total counter"]
        for (code, n) in responses.withLock({ $0 }).sorted(by: { $0.key < $1.key }) {
            lines.append("orbiter_http_responses_total{code=\"\(code)\"} \(n)")
        }
        var names = Set(try await brokers.broker(nil).knownQueues())
        names.insert(brokers.defaultQueue)
        let gauges: [(String, String, (QueueStats) -> Int)] = [
            ("pending", "Tasks waiting for a worker.", \.pending), ("running", "Tasks running.", \.running),
            ("delayed", "Retries waiting for their time.", \.delayed), ("scheduled", "Tasks not due yet.", \.scheduled),
            ("waiting", "Parked tasks waiting for a person.", \.waiting), ("dead", "Dead letters.", \.dead),
            ("workers_alive", "Live workers.", \.workersAlive)]
        var stats: [QueueStats] = []
        for name in names.sorted() where token.sees(name) { stats.append(try await brokers.broker(name).stats()) }
        for (name, help, value) in gauges {
            lines.append("# HELP orbiter_queue_\(name) \(help)")
            lines.append("# TYPE orbiter_queue_\(name) gauge")
            for s in stats { lines.append("orbiter_queue_\(name){queue=\"\(s.queue)\"} \(value(s))") }
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
