import CoreMetrics
import Foundation
import Logging
import OrbiterCore
import OrbiterQueue
import OrbiterLua
import OrbiterLimits
import OrbiterRedis
import ServiceLifecycle
import Synchronization

/// Runs tasks from a queue: claims them, rebuilds each agent or swarm from its payload in a fresh
/// sandboxed Lua state, runs it with the task's input, messages and timeout, publishes every
/// event, and finishes it atomically.
public final class Worker: Service {
    public let configuration: WorkerConfiguration
    let broker: TaskBroker
    /// Sends every run's events, many runs' in one call.
    let appender: EventAppender
    let running = RunningTasks()
    let counters = WorkerCounters()
    let stopSignal = StopSignal()
    /// Script bundles by SHA-256, and the Lua state tasks of each share; least recently used go first.
    let bundles = LRUCache<String, ScriptBundle>(capacity: 128)
    let runtimes = LRUCache<String, LuaRuntime>(capacity: 64)
    let startedAt = Date()
    /// This process's claim on its worker id (see `heartbeat.lua`).
    let instance = RandomBytes.take(8).hexString
    let warnedUnsigned = Mutex(false)
    /// Models already warned about having no price (one warning per model per worker).
    let warnedUnpriced = Mutex<Set<String>>([])
    let metrics: WorkerMetrics
    /// Connected and claiming (what `/healthz` reports).
    let healthy = Mutex(false)
    /// Where the next XAUTOCLAIM sweep continues, so the whole pending list is visited over time.
    let reclaimCursor = Mutex<[String: String]>([:])
    /// The configuration's providers, each wrapped in the shared rate limiter when `rateLimits` is set.
    let providers: ProviderRegistry

    public init(configuration: WorkerConfiguration) throws {
        guard configuration.concurrency >= 1 else { throw DistributedError.invalidArgument("concurrency must be at least 1") }
        guard configuration.heartbeatTTL >= 1 else { throw DistributedError.invalidArgument("heartbeat TTL must be at least 1 s") }
        guard configuration.leaseSeconds >= 1 else { throw DistributedError.invalidArgument("lease must be at least 1 s") }
        guard configuration.maxRetries >= 0 else { throw DistributedError.invalidArgument("max retries must not be negative") }
        self.configuration = configuration
        self.metrics = WorkerMetrics(factory: configuration.metricsFactory ?? MetricsSystem.factory, queue: configuration.queue,
                                     labels: configuration.metricsLabels, isKnownTool: { [configuration] in configuration.offersTool($0) })
        self.broker = try TaskBroker(redisURL: configuration.redisURL, queue: configuration.queue, settings: configuration.settings)
        self.appender = EventAppender(broker: broker, window: configuration.eventWindow)
        self.providers = configuration.rateLimits.map { [broker] limits in
            limits.applied(to: configuration.providers, client: broker.client,
                           metrics: LimitMetrics(factory: configuration.metricsFactory ?? MetricsSystem.factory, queue: configuration.queue))
        } ?? configuration.providers
    }

    var keys: QueueKeys { broker.keys }
    var client: RedisClient { broker.client }
    /// Logs with the worker's id, and the task's id, agent, trace id and step where known.
    func log(_ line: @autoclosure () -> String, level: Logger.Level = .info, task: String? = nil, agent: String? = nil,
             trace: String? = nil, step: Int? = nil) {
        guard configuration.logger.logLevel <= level else { return }
        var metadata = logMetadata(task: task, agent: agent, trace: trace).mapValues(Logger.MetadataValue.string)
        if let step { metadata["step"] = .stringConvertible(step) }
        configuration.logger.log(level: level, "\(configuration.secrets.redact(line()))", metadata: metadata)
    }

    /// The worker's id, and the task's id, agent and trace id where known: the metadata of the
    /// worker's log lines, and (`LuaLogContext`) of the `orbiter.log` lines of a task's Lua code.
    func logMetadata(task: String?, agent: String?, trace: String?) -> [String: String] {
        var metadata = ["worker_id": configuration.workerID]
        if let task { metadata["task_id"] = task }
        if let agent, !agent.isEmpty { metadata["agent"] = agent }
        if let trace { metadata["trace_id"] = trace }
        return metadata
    }

    /// Stop claiming; running tasks get `drainTimeout` to finish, then go back on the queue (another
    /// worker resumes each from its last checkpoint). `run()` returns after.
    public func stop() {
        healthy.withLock { $0 = false }
        stopSignal.stop()
    }

    /// True while the worker is connected to Redis and claiming tasks.
    public var isHealthy: Bool { healthy.withLock { $0 } }

    /// Tasks finished so far (completed, failed or cancelled).
    public var tasksProcessed: Int { counters.processed }

    /// Works until `stop()` (or cancellation of the calling task), then drains and returns. Throws
    /// `DistributedError.workerIDInUse`, before claiming anything, when another live worker holds
    /// this worker's id on the queue.
    public func run() async throws {
        try await client.connect()
        try await broker.checkDurability()
        try await sendHeartbeat(status: "running", mode: "start")
        await broker.registerQueue()
        do {
            _ = try await client.send(["XGROUP", "CREATE", keys.stream, QueueKeys.group, "0", "MKSTREAM"])
        } catch RedisError.server(let message) where message.hasPrefix("BUSYGROUP") {}
        await warnAboutEviction()
        log("worker \(configuration.workerID) started: redis \(client.url), queue '\(keys.queue)', concurrency \(configuration.concurrency)"
            + (configuration.settings.durability.level == .none ? "" : ", durability \(configuration.settings.durability)")
            + (configuration.rateLimits.map { ", shared rate limits (calls wait up to \(Int($0.maxWait.inSeconds)) s)" } ?? ""))
        // Maintenance first, claiming last: a group shuts down in reverse order, so heartbeats,
        // lease renewals and cancels go on while the claim loop drains.
        // Services of the host access (MCP servers) first: a group stops in reverse order, so they
        // outlive every task that may call them.
        let accessServices = [configuration.runsAccessServices ? configuration.luaOptions.access.mcp : nil].compactMap { $0 as? any Service }.map {
            ServiceGroupConfiguration.ServiceConfiguration(service: $0)
        }
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(services: accessServices + [
            Self.maintenance(MaintenanceLoop(name: "heartbeat", body: heartbeatLoop)),
            Self.maintenance(MaintenanceLoop(name: "control channel", body: controlLoop)),
            Self.maintenance(MaintenanceLoop(name: "lease renewal", body: leaseLoop)),
            Self.maintenance(MaintenanceLoop(name: "timeout sweep", body: timeoutLoop)),
            Self.maintenance(MaintenanceLoop(name: "wait deadlines", body: waitDeadlineLoop)),
            Self.maintenance(MaintenanceLoop(name: "schedules", body: scheduleLoop)),
            Self.maintenance(MaintenanceLoop(name: "retention sweep", body: retentionLoop)),
            Self.maintenance(MaintenanceLoop(name: "queue depth", body: queueDepthLoop)),
            // The claim loop returns once drained; the group then stops the rest.
            .init(service: ClaimService(worker: self), successTerminationBehavior: .gracefullyShutdownGroup,
                  failureTerminationBehavior: .gracefullyShutdownGroup),
        ], logger: configuration.logger))
        try await withTaskCancellationHandler {
            // Run as a service of a larger group, the worker drains when that group shuts down.
            try await withGracefulShutdownHandler {
                try await group.run()
            } onGracefulShutdown: {
                self.stop()
            }
        } onCancel: {
            self.stopSignal.stop()
        }
        try? await sendHeartbeat(status: "stopped", mode: "stop")
        healthy.withLock { $0 = false }
        log("worker \(configuration.workerID) stopped after \(counters.processed) tasks")
    }

    /// Warns about Redis settings that lose tasks. Reading them needs `CONFIG GET`, which the
    /// README's worker ACL does not grant (it is an admin command): without it, says so and goes on.
    private func warnAboutEviction() async {
        let replies: [RedisReply]
        do {
            replies = try await client.pipeline([["CONFIG", "GET", "maxmemory-policy"], ["CONFIG", "GET", "appendonly"]])
        } catch {
            return
        }
        if case .error(let m) = replies.first, m.hasPrefix("NOPERM") {
            log("cannot check Redis maxmemory-policy and appendonly: Redis user '\(client.url.username ?? "default")' may not run CONFIG GET "
                + "(fine for a least-privilege worker); make sure yourself they are 'noeviction' and 'yes'", level: .info)
            return
        }
        if let items = replies.first?.array, items.count == 2, let policy = items[1].string, policy != "noeviction" {
            log("Redis maxmemory-policy is '\(policy)'; use 'noeviction' so Redis never drops queued tasks", level: .warning)
        }
        if let items = replies.last?.array, items.count == 2, items[1].string == "no" {
            log("Redis has appendonly no; a Redis restart loses every task and event written since its last snapshot. "
                + "Use 'appendonly yes' (appendfsync everysec or always) for durable queues", level: .warning)
        }
    }

    private static func maintenance(_ loop: MaintenanceLoop) -> ServiceGroupConfiguration.ServiceConfiguration {
        // A maintenance loop only ends when the group stops it; that ending must not stop the group.
        .init(service: loop, successTerminationBehavior: .ignore, failureTerminationBehavior: .gracefullyShutdownGroup)
    }
}

/// One of the worker's maintenance loops (heartbeat, leases, cancels, timeouts, queue depth) as a
/// service: it runs until the group shuts it down.
struct MaintenanceLoop: Service {
    let name: String
    let body: @Sendable () async throws -> Void

    func run() async throws {
        do {
            try await cancelWhenGracefulShutdown { try await body() }
        } catch is CancellationError {}
    }
}

/// The claim loop as the group's main service: on graceful shutdown it stops claiming and drains.
struct ClaimService: Service {
    let worker: Worker

    func run() async throws {
        await withGracefulShutdownHandler {
            await worker.claimLoop()
        } onGracefulShutdown: {
            worker.stop()
        }
    }
}
