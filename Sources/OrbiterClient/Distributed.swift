import CoreMetrics
import Foundation
import OrbiterCore
import OrbiterQueue
import OrbiterLua

/// Submits an agent or swarm as a Redis task and returns its handle: the distributed twin of
/// `run`/`run.stream`, with the same inputs and the same events.
///
/// Lua tools and `orbiter.model`s travel inside the script bundle they were defined in, so the
/// worker needs no copy of the files. Tools defined in Swift cannot travel: offer them on the
/// worker and reference them with `orbiter.use_tool`.
///
/// - Parameters:
///   - redisURL: default `ORBITER_REDIS_URL`, else `redis://127.0.0.1:6379`.
///   - timeout: seconds the run may take on the worker (it then fails with `TimeoutError`).
///   - metadata: stored with the task and shown by `status()`.
///   - idempotencyKey: a second submit with the same key and the same work (agent, bundle, input,
///     messages) within the task TTL returns the first task; with other work it throws
///     `DistributedError.idempotencyConflict`. An empty key is refused.
///   - maxRetries: retries after retryable failures (default: the worker's, 3).
///   - traceparent: a W3C `traceparent` to continue; default `TraceContext.current`, else a new
///     trace. Stored in the task's metadata as `traceparent` (same trace id, a new span id); the
///     worker logs the trace id as `trace_id`.
///   - waitTimeout: seconds the task may wait for a person (parked, `waiting`) each time it asks
///     one, before it fails with `InputTimeout` (default a day).
///   - budget: what the run may spend (total tokens, USD priced by the worker's table); it stops
///     at most one model call past it with `BudgetExceeded` (not retried).
///   - tenant: whose daily budget (`TenantBudgets`) the run's spend counts against.
///   - priority: 0...9, 9 runs first, FIFO within a level (default 5); see `TaskPriority`.
///   - delay: seconds before the task may start (`scheduled` until then); at most a year.
///   - runAt: the time before which the task does not start (one already past: it is queued at
///     once); not together with `delay`.
public func distributed(_ node: some RunnableConvertible, _ input: String, messages: [Message] = [], redisURL: String? = nil,
                        detailed: Bool = false, timeout: Double = 300, metadata: [String: String] = [:],
                        queue: String = "default", bundle: ScriptBundle? = nil, idempotencyKey: String? = nil,
                        maxRetries: Int? = nil, traceparent: String? = nil, waitTimeout: Double? = nil,
                        budget: SpendingBudget? = nil, tenant: String? = nil,
                        priority: Int? = nil, delay: Double? = nil, runAt: Date? = nil) async throws -> TaskHandle {
    let broker = try TaskBroker(redisURL: redisURL, queue: queue)
    return try await distributed(node, input, messages: messages, broker: broker, detailed: detailed, timeout: timeout,
                                 metadata: metadata, bundle: bundle, idempotencyKey: idempotencyKey, maxRetries: maxRetries,
                                 traceparent: traceparent, waitTimeout: waitTimeout, budget: budget, tenant: tenant,
                                 priority: priority, delay: delay, runAt: runAt)
}

/// `distributed` through an existing broker (one Redis connection for many submits).
public func distributed(_ node: some RunnableConvertible, _ input: String, messages: [Message] = [], broker: TaskBroker,
                        detailed: Bool = false, timeout: Double = 300, metadata: [String: String] = [:],
                        bundle: ScriptBundle? = nil, idempotencyKey: String? = nil, maxRetries: Int? = nil,
                        traceparent: String? = nil, waitTimeout: Double? = nil,
                        budget: SpendingBudget? = nil, tenant: String? = nil,
                        priority: Int? = nil, delay: Double? = nil, runAt: Date? = nil) async throws -> TaskHandle {
    let runnable = node.runnable
    let bundle = try bundle ?? LoadedBundles.bundle(for: runnable)
    let payload = try taskPayload(runnable.toDict(), input, messages: messages, detailed: detailed, timeout: timeout, metadata: metadata,
                                  bundle: bundle, maxRetries: maxRetries, traceparent: traceparent, waitTimeout: waitTimeout,
                                  budget: budget, tenant: tenant, priority: priority, delay: delay, runAt: runAt)
    let (id, isNew) = try await broker.store(payload, bundle: bundle, idempotencyKey: idempotencyKey)
    // Client-side, so it goes to the process's global metrics system (a no-op unless bootstrapped).
    Counter(label: "orbiter_tasks_submitted_total", dimensions: [("queue", broker.keys.queue)]).increment()
    return TaskHandle(taskID: id, broker: broker, isFresh: isNew)
}

/// The payload of a new task running `node` (a `Runnable.toDict()`; `distributed`'s arguments
/// checked), in its own span of the trace; shared with `distributedMany`.
func taskPayload(_ node: JSONValue, _ input: String, messages: [Message] = [], detailed: Bool, timeout: Double,
                 metadata: [String: String], bundle: ScriptBundle?, maxRetries: Int?, traceparent: String?,
                 waitTimeout: Double?, budget: SpendingBudget?, tenant: String?,
                 priority: Int?, delay: Double?, runAt: Date?) throws -> TaskPayload {
    guard timeout > 0 else { throw DistributedError.invalidArgument("timeout must be positive, got \(timeout)") }
    if let waitTimeout, !(waitTimeout > 0 && waitTimeout.isFinite) {
        throw DistributedError.invalidArgument("wait timeout must be a positive number of seconds, got \(waitTimeout)")
    }
    if let budget { _ = try SpendingBudget.checked(tokens: budget.tokens, cost: budget.cost) }
    if let tenant { _ = try TenantBudgets.checkedName(tenant) }
    if let priority { try TaskPriority.validate(priority) }
    if delay != nil && runAt != nil { throw DistributedError.invalidArgument("give a delay or a start time (runAt), not both") }
    if let delay, !(delay >= 0 && delay.isFinite) {
        throw DistributedError.invalidArgument("delay must be a non-negative number of seconds, got \(delay)")
    }
    var metadata = metadata
    metadata[TraceContext.metadataKey] = try taskTraceContext(traceparent ?? metadata[TraceContext.metadataKey]).traceparent
    var payload = TaskPayload(node: node, input: input, messages: messages, detailed: detailed, metadata: metadata,
                              timeout: timeout, bundle: bundle?.sha256, maxRetries: maxRetries, waitTimeout: waitTimeout,
                              budget: budget, tenant: tenant)
    payload.priority = priority
    payload.runAt = delay.map { payload.createdAt + $0 } ?? runAt?.timeIntervalSince1970
    return payload
}

/// The trace a new task carries: a child of the given or current trace, else a new one.
private func taskTraceContext(_ traceparent: String?) throws -> TraceContext {
    if let traceparent {
        guard let context = TraceContext(traceparent: traceparent) else {
            throw DistributedError.invalidArgument("traceparent '\(traceparent)' is not a valid W3C traceparent")
        }
        return context.child()
    }
    return TraceContext.current?.child() ?? TraceContext.generate()
}
