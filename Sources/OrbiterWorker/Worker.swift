import CoreMetrics
import Foundation
import Logging
import OrbiterCore
import OrbiterQueue
import OrbiterLua
import OrbiterRedis
import Synchronization

/// Runs tasks from a queue: claims them, rebuilds each agent or swarm from its payload in a fresh
/// sandboxed Lua state, runs it with the task's input, messages and timeout, publishes every
/// event, and finishes it atomically.
public final class Worker: Sendable {
    public let configuration: WorkerConfiguration
    let broker: TaskBroker
    private let running = RunningTasks()
    private let counters = WorkerCounters()
    private let stopSignal = StopSignal()
    private let bundles = Mutex<[String: ScriptBundle]>([:])
    private let runtimes = Mutex<[String: LuaRuntime]>([:])
    private let startedAt = Date()
    /// This process's claim on its worker id (see `heartbeat.lua`).
    private let instance = RandomBytes.take(8).hexString
    let warnedUnsigned = Mutex(false)
    let metrics: WorkerMetrics
    /// Connected and claiming (what `/healthz` reports).
    private let healthy = Mutex(false)
    /// Where the next XAUTOCLAIM sweep continues, so the whole pending list is visited over time.
    private let reclaimCursor = Mutex("0-0")

    public init(configuration: WorkerConfiguration) throws {
        guard configuration.concurrency >= 1 else { throw DistributedError.invalidArgument("concurrency must be at least 1") }
        guard configuration.heartbeatTTL >= 1 else { throw DistributedError.invalidArgument("heartbeat TTL must be at least 1 s") }
        guard configuration.leaseSeconds >= 1 else { throw DistributedError.invalidArgument("lease must be at least 1 s") }
        guard configuration.maxRetries >= 0 else { throw DistributedError.invalidArgument("max retries must not be negative") }
        self.configuration = configuration
        self.metrics = WorkerMetrics(factory: configuration.metricsFactory ?? MetricsSystem.factory, queue: configuration.queue,
                                     labels: configuration.metricsLabels, isKnownTool: { [configuration] in configuration.offersTool($0) })
        self.broker = try TaskBroker(redisURL: configuration.redisURL, queue: configuration.queue, settings: configuration.settings)
    }

    private var keys: QueueKeys { broker.keys }
    private var client: RedisClient { broker.client }
    /// Logs with the worker's id, and the task's id, agent, trace id and step where known.
    func log(_ line: @autoclosure () -> String, level: Logger.Level = .info, task: String? = nil, agent: String? = nil,
             trace: String? = nil, step: Int? = nil) {
        guard configuration.logger.logLevel <= level else { return }
        var metadata = logMetadata(task: task, agent: agent, trace: trace).mapValues(Logger.MetadataValue.string)
        if let step { metadata["step"] = .stringConvertible(step) }
        configuration.logger.log(level: level, "\(line())", metadata: metadata)
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
        try await sendHeartbeat(status: "running", mode: "start")
        await broker.registerQueue()
        do {
            _ = try await client.send(["XGROUP", "CREATE", keys.stream, QueueKeys.group, "0", "MKSTREAM"])
        } catch RedisError.server(let message) where message.hasPrefix("BUSYGROUP") {}
        await warnAboutEviction()
        log("worker \(configuration.workerID) started: redis \(client.url), queue '\(keys.queue)', concurrency \(configuration.concurrency)")
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await self.heartbeatLoop() }
            group.addTask { try await self.controlLoop() }
            group.addTask { try await self.leaseLoop() }
            group.addTask { try await self.timeoutLoop() }
            group.addTask { await self.queueDepthLoop() }
            group.addTask { [self] in
                await withTaskCancellationHandler {
                    await self.claimLoop()
                } onCancel: {
                    self.stopSignal.stop()
                }
            }
            // The claim loop returns once drained; the helpers then stop.
            _ = try await group.next()
            group.cancelAll()
            try? await sendHeartbeat(status: "stopped", mode: "stop")
        }
        healthy.withLock { $0 = false }
        log("worker \(configuration.workerID) stopped after \(counters.processed) tasks")
    }

    private func warnAboutEviction() async {
        guard let reply = try? await client.send(["CONFIG", "GET", "maxmemory-policy"]), let items = reply.array, items.count == 2,
              let policy = items[1].string else { return }
        if policy != "noeviction" {
            log("Redis maxmemory-policy is '\(policy)'; use 'noeviction' so Redis never drops queued tasks", level: .warning)
        }
        if let reply = try? await client.send(["CONFIG", "GET", "appendonly"]), let items = reply.array, items.count == 2,
           items[1].string == "no" {
            log("Redis has appendonly no; a Redis restart loses every task and event written since its last snapshot. "
                + "Use 'appendonly yes' (appendfsync everysec or always) for durable queues", level: .warning)
        }
    }

    // MARK: Claiming

    private func claimLoop() async {
        let slots = AsyncStream<Void>.makeStream()
        let maintenanceInterval = Duration.milliseconds(max(200, configuration.leaseSeconds * 1000 / 3))
        let blockMs = min(1000, max(100, configuration.leaseSeconds * 1000 / 3))
        var nextMaintenance = ContinuousClock.now
        // A stop wakes a loop that waits for a free slot, so draining starts at once.
        stopSignal.onStop { slots.continuation.yield() }
        await withDiscardingTaskGroup { tasks in
            var backoff = Duration.milliseconds(100)
            while !stopSignal.isStopped {
                let free = configuration.concurrency - running.count
                if free <= 0 {
                    // Wait for a slot (or a stop), never spinning.
                    var it = slots.stream.makeAsyncIterator()
                    _ = await it.next()
                    continue
                }
                let reply: RedisReply
                var entries: [(id: String, fields: [String: String])]
                do {
                    if ContinuousClock.now >= nextMaintenance {
                        nextMaintenance = ContinuousClock.now + maintenanceInterval
                        try await promoteDelayed()
                        entries = try await reclaimExpired(limit: min(free, Self.claimBatch))
                    } else {
                        entries = []
                    }
                    if entries.isEmpty {
                        let (count, consumer, stream) = (min(free, Self.claimBatch), configuration.workerID, keys.stream)
                        reply = try await stopSignal.cancelOnStop { [client] in
                            try await client.blocking(["XREADGROUP", "GROUP", QueueKeys.group, consumer, "COUNT", count,
                                                       "BLOCK", blockMs, "STREAMS", stream, ">"])
                        }
                        entries = StreamReplies.firstStream(reply)
                    }
                    backoff = .milliseconds(100)
                    if !stopSignal.isStopped { healthy.withLock { $0 = true } }
                } catch {
                    if stopSignal.isStopped || Task.isCancelled { break }
                    healthy.withLock { $0 = false }
                    log("cannot read the queue (\(error)); retrying in \(backoff)", level: .warning)
                    try? await Task.sleep(for: backoff)
                    backoff = min(backoff * 2, .seconds(5))
                    continue
                }
                var claims: [ClaimedEntry] = []
                for entry in entries {
                    guard let taskID = entry.fields["task"] else {
                        _ = try? await client.pipeline([["XACK", keys.stream, QueueKeys.group, entry.id], ["XDEL", keys.stream, entry.id]])
                        log("dropped queue entry \(entry.id) without a task id", level: .warning)
                        continue
                    }
                    claims.append(ClaimedEntry(entryID: entry.id, taskID: taskID))
                }
                let outcomes: [StartOutcome]
                do {
                    outcomes = try await metrics.redis("start") { try await broker.start(claims, workerID: configuration.workerID) }
                } catch {
                    // The entries stay claimed but unstarted; their leases lapse and a worker takes them over.
                    log("could not start \(claims.count) task(s) (\(error)); they stay queued", level: .warning)
                    continue
                }
                for (claim, outcome) in zip(claims, outcomes) {
                    guard case .run(let payload, let attempt, let signature, let checkpoint, let lease) = outcome else {
                        if case .drop(let reason) = outcome { log("task \(claim.taskID): skipped (\(reason))", task: claim.taskID) }
                        continue
                    }
                    running.add(claim.taskID, entryID: claim.entryID, lease: lease) { _ in } // reserve the slot until the task registers its stop handle
                    tasks.addTask {
                        await self.process(claim, payloadText: payload, attempt: attempt, signature: signature, checkpoint: checkpoint,
                                           lease: lease)
                        self.running.remove(claim.taskID, lease: lease)
                        slots.continuation.yield()
                    }
                }
            }
            await releaseUnstarted()
            await drain(tasks: &tasks)
        }
    }

    /// Entries delivered to this worker that it never started (a stop cut a read short, or a
    /// start failed) go back to the queue, so other workers need not wait out their lease.
    private func releaseUnstarted() async {
        do {
            let history = try await client.send(["XREADGROUP", "GROUP", QueueKeys.group, configuration.workerID, "COUNT", 1000,
                                                 "STREAMS", keys.stream, "0"])
            let held = Set(running.leases.map(\.entryID))
            let claims = StreamReplies.firstStream(history).compactMap { entry -> ClaimedEntry? in
                guard !held.contains(entry.id), let taskID = entry.fields["task"] else { return nil }
                return ClaimedEntry(entryID: entry.id, taskID: taskID)
            }
            guard !claims.isEmpty else { return }
            let released = try await client.run(QueueScripts.release, keys: [keys.stream] + claims.map { keys.task($0.taskID) },
                                                 args: [QueueKeys.group as any RedisArgument]
                                                    + claims.map { $0.entryID as any RedisArgument } + claims.map { $0.taskID as any RedisArgument })
            if let count = released.int, count > 0 { log("put \(count) claimed but unstarted task(s) back on the queue") }
        } catch {
            log("could not put unstarted tasks back (\(error)); they are taken over once their lease lapses", level: .warning)
        }
    }

    private func drain(tasks: inout DiscardingTaskGroup) async {
        guard running.count > 0 else { return }
        log("draining \(running.count) running task(s) for up to \(configuration.drainTimeout)")
        let deadline = ContinuousClock.now + configuration.drainTimeout
        while running.count > 0, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        if running.count > 0 {
            log("drain timeout: putting \(running.count) task(s) still running back on the queue, for other workers to resume",
                level: .warning)
            for id in running.ids { running.stop(id, reason: .shutdown) }
        }
    }

    // MARK: One task

    private func process(_ claim: ClaimedEntry, payloadText: String, attempt: Int, signature: String, checkpoint: String,
                         lease: String) async {
        let taskID = claim.taskID, entryID = claim.entryID
        let clock = ContinuousClock.now
        metrics.inFlight.increment()
        defer { metrics.inFlight.decrement() }
        let publisher = EventPublisher(client: client, keys: keys, taskID: taskID, lease: lease, settings: configuration.settings) { [self] in
            if running.stop(taskID, lease: lease, reason: .leaseLost) {
                log("task \(taskID): event refused: the lease is lost (another worker took the task over); run cancelled",
                    level: .warning, task: taskID)
            }
        }
        let stopReason = Mutex<StopReason?>(nil)
        var agentName = ""
        var maxRetries = configuration.maxRetries
        var traceID: String?
        func taskLog(_ line: @autoclosure () -> String, level: Logger.Level = .info) {
            log(line(), level: level, task: taskID, agent: agentName, trace: traceID)
        }
        do {
            let payload = try checkedPayload(payloadText, signature: signature, taskID: taskID)
            maxRetries = payload.maxRetries ?? configuration.maxRetries
            agentName = payload.node["name"]?.stringValue ?? ""
            traceID = payload.metadata[TraceContext.metadataKey].flatMap(TraceContext.init(traceparent:))?.traceID
            metrics.waited(since: payload.createdAt)
            // One info line per task (its outcome, below); the start is for debugging.
            taskLog("task \(taskID) started: \(agentName) (attempt \(attempt))", level: .debug)
            try checkProviderSettings(payload.node)
            // The task's Lua code (loading its script, its tool and model calls) logs as the task.
            let luaContext = logMetadata(task: taskID, agent: agentName, trace: traceID)
            let node = try await LuaLogContext.$metadata.withValue(luaContext) { try await rebuild(payload) }
            let resume = openCheckpoint(checkpoint, taskID: taskID, agentName: agentName, trace: traceID)
            if let resume {
                await publisher.publish(.status(StatusEvent(status: .resumed, agentName: agentName,
                                                            message: "resumed after step \(resume.steps) (attempt \(attempt))")))
            }
            // The run is always detailed, so every task's tool times and token counts reach the
            // metrics; a task that did not ask for detail publishes only the basic events.
            let publishes: @Sendable (StreamEvent) -> Bool = { [detailed = payload.detailed] in detailed || $0.isBasic }
            let work = LuaLogContext.$metadata.withValue(luaContext) { Task {
                try await Run().execute(node, input: payload.input, messages: payload.messages, detailed: true,
                                        resume: resume, checkpoint: { [client = self.client, taskKey = self.keys.task(taskID)] state in
                    // Best effort: a lost checkpoint only means more work after a takeover. Refused
                    // (0) once the run lost its lease: the new owner's checkpoint is the one that counts.
                    _ = try? await client.run(QueueScripts.checkpoint, keys: [taskKey],
                                              args: [lease, self.sealCheckpoint(state.json.jsonString, taskID: taskID)])
                }) { event in
                    self.metrics.observe(event)
                    if publishes(event) { await publisher.publish(event) }
                }
            } }
            // The timeout sweep (`timeoutLoop`) stops the run with `.timeout` once the deadline passes.
            running.add(taskID, entryID: entryID, lease: lease, deadline: .now + .seconds(min(payload.timeout, 1e9))) { reason in
                stopReason.withLock { $0 = $0 ?? reason }
                work.cancel()
            }
            let result = try await withTaskCancellationHandler {
                try await work.value
            } onCancel: {
                stopReason.withLock { $0 = $0 ?? .shutdown }
                work.cancel()
            }
            await finish(taskID, status: .completed, result: result.resultDict.jsonString, error: "",
                         terminal: .init(status: .completed, agentName: agentName), publisher: publisher)
        } catch {
            let reason = stopReason.withLock { $0 }
            let isCancel = error is CancellationError
            switch (reason, isCancel) {
            case (.leaseLost?, _):
                // Another worker owns the task now and records its outcome; this run writes nothing more.
                publisher.finalStatus = "abandoned: its lease was lost to another worker"
            case (.timeout?, true):
                let timeout = OrbiterError.timeout(seconds: (try? TaskPayload(jsonText: payloadText).timeout) ?? 0)
                await publisher.publish(.error(ErrorEvent(error: timeout.description, errorType: timeout.typeName, agentName: agentName)))
                await finish(taskID, status: .failed, result: "", error: timeout.description,
                             terminal: .init(status: .error, agentName: agentName, message: timeout.description), publisher: publisher)
            case (.requested?, true):
                await finishCancelled(taskID, agentName: agentName, publisher: publisher)
            case (.shutdown?, true):
                await handBack(taskID, agentName: agentName, publisher: publisher)
            default:
                let message = errorMessage(error)
                if Self.isRetryable(error), attempt <= maxRetries {
                    await retry(taskID, attempt: attempt, error: message, agentName: agentName, publisher: publisher)
                    break
                }
                if !(publisher.sawError) {
                    await publisher.publish(.error(ErrorEvent(error: message, errorType: errorTypeName(error), agentName: agentName)))
                }
                await finish(taskID, status: .failed, result: "", error: message,
                             terminal: .init(status: .error, agentName: agentName, message: message), publisher: publisher)
            }
        }
        let ms = Double((ContinuousClock.now - clock).components.attoseconds) / 1e15 + Double((ContinuousClock.now - clock).components.seconds) * 1000
        if let status = publisher.finalStatus.flatMap(TaskStatus.init(rawValue:)), status.isFinished {
            metrics.finished(status, duration: ContinuousClock.now - clock)
        }
        taskLog("task \(taskID) \(publisher.finalStatus ?? "ended") in \(Int(ms.rounded())) ms")
    }

    /// Rebuilds the agent or swarm: the bundle's Lua state binds its tools and models.
    private func rebuild(_ payload: TaskPayload) async throws -> Runnable {
        let hostTools = configuration.currentHostTools()
        guard let sha = payload.bundle else {
            return try Runnable.fromDict(payload.node, resolver: HostToolResolver(tools: hostTools))
        }
        let runtime = try await runtime(forBundle: sha)
        return try Runnable.fromDict(payload.node, resolver: runtime.resolver(hostTools: hostTools))
    }

    /// The Lua state a task of this bundle runs in. By default all tasks of one script share one
    /// state (each call in its own coroutine, like OpenResty's one VM per worker): creating a state
    /// costs about a millisecond and 100 KiB, which would dominate small tasks. With
    /// `isolateTasks`, every task gets a fresh state.
    private func runtime(forBundle sha: String) async throws -> LuaRuntime {
        if !configuration.isolateTasks, let shared = runtimes.withLock({ $0[sha] }) { return shared }
        let runtime = try await LuaRuntime.load(bundle: try await bundle(sha), options: configuration.luaOptions)
        if !configuration.isolateTasks {
            return runtimes.withLock { all in
                if let raced = all[sha] { return raced }
                if all.count >= 64 { all.removeAll() } // a bound; running tasks keep their own reference
                all[sha] = runtime
                return runtime
            }
        }
        return runtime
    }

    private func bundle(_ sha: String) async throws -> ScriptBundle {
        if let cached = bundles.withLock({ $0[sha] }) { return cached }
        guard let text = try await client.send(["GET", keys.bundle(sha)]).string else {
            throw DistributedError.badPayload("script bundle \(sha) is not stored in Redis (expired or never submitted)")
        }
        let bundle: ScriptBundle
        do {
            bundle = try ScriptBundle(jsonText: text, expectedSHA256: sha)
        } catch {
            throw DistributedError.badPayload("\(error)")
        }
        bundles.withLock { cache in
            if cache.count >= 128 { cache.removeAll() }
            cache[sha] = bundle
        }
        return bundle
    }

    private func finish(_ taskID: String, status: TaskStatus, result: String, error: String, terminal: StatusEvent,
                        publisher: EventPublisher) async {
        publisher.finalStatus = status.rawValue
        let now = TaskBroker.nowMs()
        let settings = configuration.settings
        // A lost connection does not lose the outcome: keep it and report it when Redis is back
        // (for up to two minutes; after that another worker will have taken the task over).
        var backoff = Duration.milliseconds(100)
        var warned = false
        let giveUp = ContinuousClock.now + .seconds(120)
        while true {
            do {
                let done = try await metrics.redis("finish") { try await client.run(QueueScripts.finish,
                                                keys: [keys.task(taskID), keys.stream, keys.events(taskID), keys.dead,
                                                       keys.counter(status.rawValue, minute: now / 60_000)],
                                                args: [QueueKeys.group, configuration.workerID, status.rawValue, result, error,
                                                       StreamEvent.status(terminal).jsonString, String(now), settings.taskTTL,
                                                       settings.eventsTTL, taskID, result.utf8.count <= Self.resultInEventLimit ? "1" : "",
                                                       publisher.lease]) }
                if done.int == 0 {
                    log("task \(taskID): no longer running under this worker's lease; outcome '\(status.rawValue)' not recorded",
                        level: .warning, task: taskID)
                }
                break
            } catch RedisError.connection(let message) where ContinuousClock.now < giveUp && !Task.isCancelled {
                if !warned {
                    log("task \(taskID): Redis unavailable (\(message)); will record '\(status.rawValue)' when it is back", level: .warning, task: taskID)
                }
                warned = true
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, .seconds(5))
            } catch {
                log("task \(taskID): could not record outcome '\(status.rawValue)' (\(error))", level: .error, task: taskID)
                break
            }
        }
        counters.finished(failed: status != .completed)
    }

    private func finishCancelled(_ taskID: String, agentName: String, publisher: EventPublisher) async {
        let message = "cancelled by request"
        await finish(taskID, status: .cancelled, result: "", error: message,
                     terminal: .init(status: .cancelled, agentName: agentName, message: message), publisher: publisher)
    }

    /// A task still running when the drain time is up goes back on the queue (not cancelled):
    /// another worker claims it and resumes it from its last checkpoint.
    private func handBack(_ taskID: String, agentName: String, publisher: EventPublisher) async {
        let event = StreamEvent.status(StatusEvent(status: .retrying, agentName: agentName,
                                                   message: "worker \(configuration.workerID) stopped before the task finished; "
                                                       + "back on the queue for another worker to resume"))
        publisher.finalStatus = "put back on the queue (this worker is stopping)"
        do {
            let reply = try await client.run(QueueScripts.handback, keys: [keys.task(taskID), keys.stream, keys.events(taskID)],
                                             args: [QueueKeys.group, configuration.workerID, publisher.lease, taskID, event.jsonString])
            switch reply.string {
            case "requeued": break
            case "cancel": await finishCancelled(taskID, agentName: agentName, publisher: publisher)
            default:
                publisher.finalStatus = "left as it is (no longer running under this worker's lease)"
            }
        } catch {
            log("task \(taskID): could not put it back on the queue (\(error)); another worker takes it over once its lease lapses",
                level: .warning, task: taskID, agent: agentName)
        }
    }

    /// Most entries claimed (and started, in one script call) at once: big enough to amortise the
    /// round trip, small enough that a start never holds Redis for long and idle workers get a share.
    static let claimBatch = 256

    /// Results up to this many bytes are copied into the terminal event's stream entry, so
    /// `result()` needs no second read; larger ones stay only in the task hash.
    static let resultInEventLimit = 16 * 1024

    /// Stops tasks that ran past their timeout, checking every 50 ms (timeouts are whole seconds
    /// or more in practice, so the slack is small next to them).
    private func timeoutLoop() async throws {
        while !Task.isCancelled {
            try await Task.sleep(for: .milliseconds(50))
            running.stopOverdue()
        }
    }

    // MARK: Retries, leases, takeover

    /// Provider failures that may pass (rate limits, 5xx, network) are worth another attempt;
    /// script errors, bad configuration and bad payloads are not.
    static func isRetryable(_ error: any Error) -> Bool {
        if let model = error as? ModelError { return model.retryable }
        return false
    }

    private func retry(_ taskID: String, attempt: Int, error: String, agentName: String, publisher: EventPublisher) async {
        let base = configuration.retryBaseDelay
        let exponential = base * (1 << min(attempt - 1, 16))
        let capped = min(exponential, .seconds(60))
        let jittered = capped * Double.random(in: 0.75...1.25)
        let ms = Int64(Double(jittered.components.seconds) * 1000 + Double(jittered.components.attoseconds) / 1e15)
        let event = StreamEvent.status(StatusEvent(status: .retrying, agentName: agentName,
                                                   message: "attempt \(attempt) failed (\(error)); retrying in \(ms) ms"))
        publisher.finalStatus = "retrying"
        metrics.retried.increment()
        do {
            _ = try await client.run(QueueScripts.retry, keys: [keys.task(taskID), keys.stream, keys.events(taskID), keys.delayed],
                                     args: [QueueKeys.group, configuration.workerID, String(TaskBroker.nowMs() + ms), error,
                                            event.jsonString, taskID, publisher.lease])
        } catch {
            log("task \(taskID): could not schedule a retry (\(error))", level: .error, task: taskID)
        }
    }

    /// Moves delayed retries whose time has come back onto the queue, and drops index entries of
    /// tasks older than the task TTL (their hashes have expired).
    private func promoteDelayed() async throws {
        let now = TaskBroker.nowMs()
        _ = try await client.run(QueueScripts.promote, keys: [keys.delayed, keys.stream],
                                 args: [String(now), 100, keys.taskPrefix])
        _ = try await client.send(["ZREMRANGEBYSCORE", keys.index, "-inf", "(" + String(now - Int64(configuration.settings.taskTTL) * 1000)])
    }

    /// Takes over entries whose lease expired (their worker stopped renewing: it died). Redis looks
    /// at no more than about 10×COUNT pending entries per call, so each sweep continues where the
    /// last one stopped (Redis answers the cursor `0-0` after the end): entries of a dead worker
    /// behind many live ones are reached too.
    private func reclaimExpired(limit: Int) async throws -> [(id: String, fields: [String: String])] {
        let cursor = reclaimCursor.withLock { $0 }
        let reply = try await client.send(["XAUTOCLAIM", keys.stream, QueueKeys.group, configuration.workerID,
                                           configuration.leaseSeconds * 1000, cursor, "COUNT", limit])
        guard let parts = reply.array, parts.count >= 2 else { return [] }
        reclaimCursor.withLock { $0 = parts[0].string ?? "0-0" }
        var runnable: [(id: String, fields: [String: String])] = []
        for entry in StreamReplies.entries(parts[1]) {
            guard let taskID = entry.fields["task"] else {
                _ = try await client.pipeline([["XACK", keys.stream, QueueKeys.group, entry.id], ["XDEL", keys.stream, entry.id]])
                continue
            }
            let payload = try? await client.send(["HGET", keys.task(taskID), "payload"]).string.map { try TaskPayload(jsonText: $0) }
            let allowed = 1 + ((payload ?? nil)?.maxRetries ?? configuration.maxRetries)
            let agentName = (payload ?? nil)?.node["name"]?.stringValue ?? ""
            let retrying = StreamEvent.status(StatusEvent(status: .retrying, agentName: agentName,
                                                          message: "worker lost; \(configuration.workerID) takes the task over"))
            let dead = StreamEvent.status(StatusEvent(status: .error, agentName: agentName, message: "worker lost and no attempts left"))
            let cancelled = StreamEvent.status(StatusEvent(status: .cancelled, agentName: agentName,
                                                           message: "cancelled by request while its worker was lost"))
            let outcome = try await client.run(QueueScripts.reclaim,
                                               keys: [keys.task(taskID), keys.stream, keys.events(taskID), keys.dead],
                                               args: [QueueKeys.group, entry.id, String(TaskBroker.nowMs()), allowed, retrying.jsonString,
                                                      dead.jsonString, configuration.settings.taskTTL, configuration.settings.eventsTTL, taskID,
                                                      cancelled.jsonString])
            switch outcome.string {
            case "run":
                log("task \(taskID): lease expired; taking it over", task: taskID)
                runnable.append(entry)
            case "dead":
                metrics.failed.increment()
                metrics.deadLettered.increment()
                log("task \(taskID): lease expired and no attempts left; failed", level: .warning, task: taskID, agent: agentName)
            case "cancelled":
                metrics.cancelled.increment()
                log("task \(taskID): lease expired and a cancel was requested; cancelled, not run again", task: taskID, agent: agentName)
            default: break
            }
        }
        return runnable
    }

    /// Renews the leases of running tasks every third of the lease.
    private func leaseLoop() async throws {
        let interval = Duration.milliseconds(max(100, configuration.leaseSeconds * 1000 / 3))
        while !Task.isCancelled {
            try await Task.sleep(for: interval)
            let leases = running.leases
            guard !leases.isEmpty else { continue }
            do {
                let lost = try await client.run(QueueScripts.renew, keys: [keys.stream] + leases.map { keys.task($0.taskID) },
                                                args: [QueueKeys.group, configuration.workerID] + leases.map { $0.entryID as any RedisArgument }
                                                    + leases.map { $0.lease as any RedisArgument })
                for position in (lost.array ?? []).compactMap(\.int) where position >= 1 && Int(position) <= leases.count {
                    let (taskID, _, lease) = leases[Int(position) - 1]
                    if running.stop(taskID, lease: lease, reason: .leaseLost) {
                        log("task \(taskID): lease lost (another worker took it over while this one stalled); run cancelled",
                            level: .warning, task: taskID)
                    }
                }
            } catch is CancellationError {
                return
            } catch {
                log("could not renew leases (\(error))", level: .warning)
            }
        }
    }

    // MARK: Heartbeat and control

    private func heartbeatLoop() async throws {
        let interval = Duration.milliseconds(max(200, configuration.heartbeatTTL * 1000 / 3))
        while !Task.isCancelled {
            do {
                try await sendHeartbeat(status: stopSignal.isStopped ? "draining" : "running")
                try await checkCancelFlags()
            } catch is CancellationError {
                return
            } catch {
                log("heartbeat failed (\(error))", level: .warning)
            }
            try await Task.sleep(for: interval)
        }
    }

    /// `mode`: "start" (refused with `workerIDInUse` while another live process holds this worker
    /// id), "beat", or "stop".
    private func sendHeartbeat(status: String, mode: String = "beat") async throws {
        let current = JSONValue.array(running.ids.map(JSONValue.string)).jsonString
        do {
            _ = try await metrics.redis("heartbeat") { try await client.run(QueueScripts.heartbeat, keys: [keys.worker(configuration.workerID), keys.workers],
                                 args: [configuration.workerID, String(TaskBroker.nowMs()), configuration.heartbeatTTL, instance, mode,
                                        "status", status, "tasks_processed", counters.processed, "tasks_failed", counters.failed,
                                        "current_tasks", current, "concurrency", configuration.concurrency,
                                        "hostname", ProcessInfo.processInfo.hostName, "version", OrbiterVersion.current,
                                        "started_at", String(Int64(startedAt.timeIntervalSince1970 * 1000)), "queue", keys.queue]) }
        } catch RedisError.server(let message) where message.hasPrefix("INUSE ") {
            // "INUSE <ms since its last heartbeat> <its heartbeat TTL s> <its hostname>"
            let parts = message.split(separator: " ", maxSplits: 3).map(String.init)
            let ago = (Double(parts.count > 1 ? parts[1] : "") ?? 0) / 1000
            let ttl = parts.count > 2 ? parts[2] : "?", host = parts.count > 3 ? parts[3] : "?"
            throw DistributedError.workerIDInUse(
                workerID: configuration.workerID, queue: keys.queue,
                detail: "its last heartbeat came \(String(format: "%.1f", ago)) s ago from host \(host); if that worker was killed, "
                    + "the id is free \(ttl) s after its last heartbeat")
        }
    }

    /// The cancel flag backs up the Pub/Sub message, which a reconnecting worker could miss.
    private func checkCancelFlags() async throws {
        let ids = running.ids
        guard !ids.isEmpty else { return }
        let flags = try await client.pipeline(ids.map { ["HGET", keys.task($0), "cancel_requested"] })
        for (id, flag) in zip(ids, flags) where flag.string == "1" {
            if running.stop(id, reason: .requested) { log("task \(id): cancel requested", task: id) }
        }
    }

    private func controlLoop() async throws {
        while !Task.isCancelled {
            do {
                for try await message in client.subscribe([keys.control(configuration.workerID)]) {
                    let text = String(decoding: message.message, as: UTF8.self)
                    guard text.hasPrefix("cancel ") else { continue }
                    let id = String(text.dropFirst(7))
                    if running.stop(id, reason: .requested) { log("task \(id): cancel requested", task: id) }
                }
            } catch is CancellationError {
                return
            } catch {
                if Task.isCancelled { return }
                log("control channel lost (\(error)); resubscribing", level: .warning)
                try await Task.sleep(for: .seconds(1))
            }
        }
    }
}

/// Publishes a task's events to its stream in order. The run's own terminal status events are
/// left out: `finish` appends the one authoritative terminal event atomically with the outcome.
///
/// Events are appended by `append.lua` (in batches of what queued up meanwhile) under the run's
/// lease token with their numbers in the run, so an append retried after a lost reply is stored once, and a run that lost its lease (another
/// worker took the task over) cannot mix its events into the new owner's: the first refused append
/// calls `onLeaseLost`, which cancels the run.
final class EventPublisher: Sendable {
    private let client: RedisClient
    private let taskKey: String
    private let key: String
    /// The run's lease token (from start.lua): its events, checkpoints and outcome count only with it.
    let lease: String
    private let settings: QueueSettings
    private let onLeaseLost: @Sendable () -> Void
    private struct State {
        /// The number of the last event given out, and of the last one stored (or given up on).
        var seq = 0
        var committed = 0
        /// Numbered events not yet sent, in order.
        var pending: [(seq: Int, json: String)] = []
        /// An append is under way: its sender also sends what queues up meanwhile.
        var sending = false
        var waiters: [(seq: Int, continuation: CheckedContinuation<Void, Never>)] = []
        var lost = false
        var sawError = false
        var finalStatus: String?
    }
    private let state = Mutex(State())

    init(client: RedisClient, keys: QueueKeys, taskID: String, lease: String, settings: QueueSettings,
         onLeaseLost: @escaping @Sendable () -> Void) {
        self.client = client
        self.taskKey = keys.task(taskID)
        self.key = keys.events(taskID)
        self.lease = lease
        self.settings = settings
        self.onLeaseLost = onLeaseLost
    }

    /// Whether an `error` event was published (so the worker does not report it twice).
    var sawError: Bool { state.withLock { $0.sawError } }
    /// The outcome recorded, for the log line.
    var finalStatus: String? {
        get { state.withLock { $0.finalStatus } }
        set { state.withLock { $0.finalStatus = newValue } }
    }

    /// Appends the event and returns once it is stored (or refused). Events are numbered in the
    /// order they arrive (a swarm's parallel agents publish concurrently; a number never
    /// overtakes a smaller one). While one append is under way, the events that arrive queue up
    /// and go out together in the next one: a run streaming many small events pays one round trip
    /// and one script call per batch, not per event.
    func publish(_ event: StreamEvent) async {
        if event.isTerminal { return }
        let json = event.jsonString
        let (mine, leads) = state.withLock { s -> (Int?, Bool) in
            if case .error = event { s.sawError = true }
            guard !s.lost else { return (nil, false) }
            s.seq += 1
            s.pending.append((s.seq, json))
            if s.sending { return (s.seq, false) }
            s.sending = true
            return (s.seq, true)
        }
        guard let mine else { return }
        if leads {
            await sendPending()
            return
        }
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let done = state.withLock { s -> Bool in
                if s.committed >= mine || s.lost { return true }
                s.waiters.append((mine, c))
                return false
            }
            if done { c.resume() }
        }
    }

    /// Sends what is pending, batch after batch, until nothing is; then lets the next publisher lead.
    private func sendPending() async {
        while true {
            guard let batch = state.withLock({ s -> [(seq: Int, json: String)]? in
                if s.pending.isEmpty || s.lost {
                    s.sending = false
                    s.pending = []
                    return nil
                }
                defer { s.pending = [] }
                return s.pending
            }) else { return }
            let stored = await append(batch)
            let ready = state.withLock { s -> [CheckedContinuation<Void, Never>] in
                s.committed = batch.last!.seq
                if !stored { s.lost = true }
                let (done, waiting) = s.waiters.reduce(into: ([CheckedContinuation<Void, Never>](), [(seq: Int, continuation: CheckedContinuation<Void, Never>)]())) {
                    if $1.seq <= s.committed || s.lost { $0.0.append($1.continuation) } else { $0.1.append($1) }
                }
                s.waiters = waiting
                return done
            }
            for c in ready { c.resume() }
            if !stored { onLeaseLost() }
        }
    }

    /// One `append.lua` call; false when the lease is lost. While Redis is unreachable the run
    /// waits here (up to two minutes) rather than lose events; streams stay complete and in order.
    /// The retry sends the same numbers, so an append whose reply was lost is not stored twice.
    private func append(_ batch: [(seq: Int, json: String)]) async -> Bool {
        var args: [any RedisArgument] = [lease, batch[0].seq, settings.maxEventsPerTask, settings.eventsTTL + settings.taskTTL]
        args.reserveCapacity(4 + batch.count)
        for event in batch { args.append(event.json) }
        var backoff = Duration.milliseconds(50)
        let giveUp = ContinuousClock.now + .seconds(120)
        while true {
            do {
                let reply = try await client.run(QueueScripts.append, keys: [taskKey, key], args: args)
                return reply.int != 0
            } catch RedisError.connection where ContinuousClock.now < giveUp && !Task.isCancelled {
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, .seconds(2))
            } catch {
                return true // given up: the run goes on without these events
            }
        }
    }
}

/// Binds only host-offered tools (for tasks without a script bundle).
struct HostToolResolver: DefinitionResolver {
    let tools: [String: Tool]
    func tool(from dict: JSONValue) throws -> Tool {
        let name = dict["source"]?["registry"]?.stringValue ?? dict["name"]?.stringValue ?? ""
        guard let tool = tools[name] else {
            throw OrbiterError.invalidConfiguration("tool '\(name)' is not offered by this worker")
        }
        return tool
    }
    func model(named qualifiedName: String) throws -> (any ModelProvider)? {
        if qualifiedName.hasPrefix("lua:") {
            throw OrbiterError.invalidConfiguration("model \"\(qualifiedName)\" needs the script bundle it was defined in, and the task has none")
        }
        return nil
    }
}
