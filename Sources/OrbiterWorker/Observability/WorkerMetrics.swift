import CoreMetrics
import Foundation
import OrbiterCore
import OrbiterQueue
import Synchronization

/// The worker's metrics, made from a factory passed in (so several workers in one process can
/// each report to their own registry). Every label has bounded values: queue, status, model,
/// direction, tool, Redis operation; never a task id. Tool and model names come from payloads,
/// so they pass through a `BoundedLabel` (see `MetricsLabelPolicy`).
final class WorkerMetrics: Sendable {
    private let factory: any MetricsFactory
    private let queue: String
    let completed: Counter
    let failed: Counter
    let cancelled: Counter
    let retried: Counter
    let deadLettered: Counter
    let waitTime: CoreMetrics.Timer
    let inFlight: Meter
    private let depth: [String: Meter]
    /// Made on first use (their labels come from the tasks), then reused.
    private let dynamic = Mutex<[String: any Sendable]>([:])
    private let toolLabel: BoundedLabel
    private let modelLabel: BoundedLabel

    init(factory: any MetricsFactory, queue: String, labels: MetricsLabelPolicy = MetricsLabelPolicy(),
         isKnownTool: @escaping @Sendable (String) -> Bool = { _ in false }) {
        self.factory = factory
        self.queue = queue
        toolLabel = BoundedLabel(limit: labels.limit, maxLength: labels.maxLength, isKnown: isKnownTool)
        let models = labels.knownModels
        modelLabel = BoundedLabel(limit: labels.limit, maxLength: labels.maxLength, isKnown: { models.contains($0) })
        let q = [("queue", queue)]
        completed = Counter(label: "orbiter_tasks_completed_total", dimensions: q, factory: factory)
        failed = Counter(label: "orbiter_tasks_failed_total", dimensions: q, factory: factory)
        cancelled = Counter(label: "orbiter_tasks_cancelled_total", dimensions: q, factory: factory)
        retried = Counter(label: "orbiter_tasks_retried_total", dimensions: q, factory: factory)
        deadLettered = Counter(label: "orbiter_tasks_dead_lettered_total", dimensions: q, factory: factory)
        waitTime = CoreMetrics.Timer(label: "orbiter_task_wait_seconds", dimensions: q, factory: factory)
        inFlight = Meter(label: "orbiter_tasks_in_flight", dimensions: q, factory: factory)
        var depth: [String: Meter] = [:]
        for state in ["pending", "running", "delayed", "dead"] {
            depth[state] = Meter(label: "orbiter_queue_depth", dimensions: q + [("state", state)], factory: factory)
        }
        self.depth = depth
    }

    private func cached<M: Sendable>(_ key: String, make: () -> M) -> M {
        dynamic.withLock { cache in
            if let m = cache[key] as? M { return m }
            let m = make()
            cache[key] = m
            return m
        }
    }

    /// Counts a task's outcome and records how long it ran.
    func finished(_ status: TaskStatus, duration: Duration) {
        switch status {
        case .completed: completed.increment()
        case .failed: failed.increment(); deadLettered.increment()
        case .cancelled: cancelled.increment()
        default: break
        }
        let timer = cached("duration:\(status.rawValue)") {
            CoreMetrics.Timer(label: "orbiter_task_duration_seconds", dimensions: [("queue", queue), ("status", status.rawValue)], factory: factory)
        }
        timer.recordNanoseconds(duration.inNanoseconds)
    }

    /// Time between submit and start (`started_at − created_at`).
    func waited(since createdAt: Double) {
        guard createdAt > 0 else { return }
        waitTime.recordNanoseconds(Int64(max(0, Date().timeIntervalSince1970 - createdAt) * 1e9))
    }

    /// Updates the queue-depth gauges from a `stats()` snapshot.
    func queueDepth(_ stats: QueueStats) {
        depth["pending"]?.set(stats.pending)
        depth["running"]?.set(stats.running)
        depth["delayed"]?.set(stats.delayed)
        depth["dead"]?.set(stats.dead)
    }

    /// Token and tool-time metrics from a run's events (a worker's runs are always detailed inside,
    /// so every task counts, whether or not it asked for detailed events).
    func observe(_ event: StreamEvent) {
        switch event {
        case .usage(let u):
            let model = u.model.isEmpty ? "unknown" : modelLabel.value(for: u.model)
            for (direction, count) in [("input", u.usage.inputTokens), ("output", u.usage.outputTokens)] where count > 0 {
                cached("tokens:\(model):\(direction)") {
                    Counter(label: "orbiter_llm_tokens_total", dimensions: [("queue", queue), ("model", model), ("direction", direction)],
                            factory: factory)
                }.increment(by: count)
            }
        case .toolResult(let r):
            let tool = toolLabel.value(for: r.toolName)
            cached("tool:\(tool)") {
                CoreMetrics.Timer(label: "orbiter_tool_duration_seconds", dimensions: [("queue", queue), ("tool", tool)], factory: factory)
            }.recordNanoseconds(Int64(r.durationMs * 1_000_000))
        default:
            break
        }
    }

    /// Times one Redis round trip of the worker's, labelled by operation.
    func redis<T>(_ op: String, _ body: () async throws -> T) async rethrows -> T {
        let start = ContinuousClock.now
        defer {
            cached("redis:\(op)") {
                CoreMetrics.Timer(label: "orbiter_redis_latency_seconds", dimensions: [("queue", queue), ("op", op)], factory: factory)
            }.recordNanoseconds((ContinuousClock.now - start).inNanoseconds)
        }
        return try await body()
    }
}
