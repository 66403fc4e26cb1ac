import CoreMetrics
import Foundation
import Logging
import OrbiterCore
import OrbiterQueue
import OrbiterLua
import OrbiterLimits
import OrbiterRedis
import Synchronization

extension Worker {
    // MARK: One task

    func process(_ claim: ClaimedEntry, payloadText: String, attempt: Int, signature: String, checkpoint: String,
                 lease: String, reply: String = "") async {
        let taskID = claim.taskID, entryID = claim.entryID
        let clock = ContinuousClock.now
        metrics.inFlight.increment()
        defer { metrics.inFlight.decrement() }
        let publisher = EventPublisher(appender: appender, taskID: taskID, lease: lease, secrets: configuration.secrets) { [self] in
            if running.stop(taskID, lease: lease, reason: .leaseLost) {
                log("task \(taskID): event refused: the lease is lost (another worker took the task over); run cancelled",
                    level: .warning, task: taskID)
            }
        }
        let stopReason = Mutex<StopReason?>(nil)
        let outcome: TaskOutcome
        var agentName = ""
        var maxRetries = configuration.maxRetries
        var timeout = 0.0
        var waitTimeout = TaskPayload.defaultWaitTimeout
        var traceID: String?
        var meter = SpendMeter(prices: configuration.prices)
        func taskLog(_ line: @autoclosure () -> String, level: Logger.Level = .info) {
            log(line(), level: level, task: taskID, agent: agentName, trace: traceID)
        }
        do {
            let payload = try checkedPayload(payloadText, signature: signature, taskID: taskID)
            maxRetries = payload.maxRetries ?? configuration.maxRetries
            timeout = payload.timeout
            waitTimeout = payload.waitTimeout ?? TaskPayload.defaultWaitTimeout
            agentName = payload.node["name"]?.stringValue ?? ""
            traceID = payload.metadata[TraceContext.metadataKey].flatMap(TraceContext.init(traceparent:))?.traceID
            metrics.waited(since: payload.createdAt)
            // One info line per task (its outcome, below); the start is for debugging.
            taskLog("task \(taskID) started: \(agentName) (attempt \(attempt))", level: .debug)
            try checkProviderSettings(payload.node)
            let runMeter = spendMeter(for: payload)
            meter = runMeter
            // The task's Lua code (loading its script, its tool and model calls) logs as the task.
            let luaContext = logMetadata(task: taskID, agent: agentName, trace: traceID)
            let node = try await LuaLogContext.$metadata.withValue(luaContext) { try await rebuild(payload) }
            let (resume, answered) = resumePoint(checkpoint, reply: reply, taskID: taskID, agentName: agentName, trace: traceID)
            if let resume {
                let after = answered.map { "resumed after input (\($0.summary))" } ?? "resumed after step \(resume.steps)"
                await publisher.publish(.status(StatusEvent(status: .resumed, agentName: agentName,
                                                            message: after + (attempt > 1 ? " (attempt \(attempt))" : ""))))
            }
            // The run is always detailed, so every task's tool times and token counts reach the
            // metrics; a task that did not ask for detail publishes only the basic events.
            let publishes: @Sendable (StreamEvent) -> Bool = { [detailed = payload.detailed] in detailed || $0.isBasic }
            let deadline = ContinuousClock.now + .seconds(min(payload.timeout, 1e9))
            let work = LuaLogContext.$metadata.withValue(luaContext) { Task {
                // A model call does not book room under a shared limit for after the task's deadline.
                try await AdmissionDeadline.$current.withValue(deadline) { try await Run(providers: providers).execute(node, input: payload.input, messages: payload.messages, detailed: true,
                                        resume: resume, checkpoint: { [broker = self.broker] state in
                    // Best effort: a lost checkpoint only means more work after a takeover. Refused
                    // (0) once the run lost its lease: the new owner's checkpoint is the one that counts.
                    _ = try? await broker.checkpoint(taskID, lease: lease, state: self.sealCheckpoint(self.configuration.secrets.redact(state.json.jsonString), taskID: taskID))
                }, humanInput: ParkingInput(), meter: runMeter) { event in
                    self.metrics.observe(event)
                    if publishes(event) { await publisher.publish(event) }
                } }
            } }
            // The timeout sweep (`timeoutLoop`) stops the run with `.timeout` once the deadline passes.
            running.add(taskID, entryID: entryID, lease: lease, deadline: deadline) { reason in
                stopReason.withLock { $0 = $0 ?? reason }
                work.cancel()
            }
            let result = try await withTaskCancellationHandler {
                try await work.value
            } onCancel: {
                stopReason.withLock { $0 = $0 ?? .shutdown }
                work.cancel()
            }
            outcome = .completed(result: Self.resultJSON(result, meter: meter).jsonString, parsed: result.parsed)
        } catch {
            outcome = TaskOutcome.of(error: error, stopReason: stopReason.withLock { $0 }, attempt: attempt, maxRetries: maxRetries,
                                     timeout: timeout, reported: publisher.sawError, waitTimeout: waitTimeout)
        }
        warnUnpriced(meter, task: taskID)
        await record(outcome.redacted(by: configuration.secrets), taskID: taskID, attempt: attempt, agentName: agentName, publisher: publisher,
                     usage: ModelUsage.of(meter))
        let ms = (ContinuousClock.now - clock).inMilliseconds
        if let status = publisher.finalStatus.flatMap(TaskStatus.init(rawValue:)), status.isFinished {
            metrics.finished(status, duration: ContinuousClock.now - clock)
        }
        taskLog("task \(taskID) \(publisher.finalStatus ?? "ended") in \(Int(ms.rounded())) ms")
    }

    /// The run's meter: this worker's prices, the task's budget and its tenant's daily budget.
    func spendMeter(for payload: TaskPayload) -> SpendMeter {
        SpendMeter(prices: configuration.prices, budget: payload.budget ?? SpendingBudget(),
                   account: payload.tenant.map { TenantAccount(tenant: $0, budgets: TenantBudgets(client: client)) })
    }

    /// The result JSON: the run's `{output, usage, steps, parsed?}` plus what it cost
    /// (`cost`, `models`, `unpriced_models`; see `SpendMeter.report`).
    static func resultJSON(_ result: RunResult, meter: SpendMeter) -> JSONValue {
        guard var d = result.resultDict.objectValue else { return result.resultDict }
        for (k, v) in meter.report.objectValue ?? [:] { d[k] = v }
        return .object(d)
    }

    /// A model used without a price makes the task's cost unknown (`null`, never 0): said once per
    /// model, when the worker has a price table to add it to.
    func warnUnpriced(_ meter: SpendMeter, task: String) {
        guard let prices = configuration.prices else { return }
        for model in meter.unpricedModels where warnedUnpriced.withLock({ $0.insert(model).inserted }) {
            log("no price for model '\(model)' in \(prices.source): the cost of its tasks is unknown (cost null); add it to the price table",
                level: .warning, task: task)
        }
    }

    /// Rebuilds the agent or swarm: the bundle's Lua state binds its tools and models.
    func rebuild(_ payload: TaskPayload) async throws -> Runnable {
        let hostTools = configuration.currentHostTools()
        guard let sha = payload.bundle else {
            return try Runnable.fromDict(payload.node, resolver: HostToolResolver(tools: hostTools))
        }
        let runtime = try await runtime(forBundle: sha)
        // The MCP servers the agents use, as this worker offers them (started on first use).
        let mcpTools = try await runtime.mcpTools(for: payload.node)
        return try Runnable.fromDict(payload.node, resolver: runtime.resolver(hostTools: hostTools, mcpTools: mcpTools))
    }

    /// The Lua state a task of this bundle runs in. By default all tasks of one script share one
    /// state (each call in its own coroutine, like OpenResty's one VM per worker): creating a state
    /// costs about a millisecond and 100 KiB, which would dominate small tasks. With
    /// `isolateTasks`, every task gets a fresh state.
    func runtime(forBundle sha: String) async throws -> LuaRuntime {
        if !configuration.isolateTasks, let shared = runtimes[sha] { return shared }
        var options = configuration.luaOptions
        options.providers = providers
        let runtime = try await LuaRuntime.load(bundle: try await bundle(sha), options: options)
        // Evicted states live on while their running tasks hold them.
        return configuration.isolateTasks ? runtime : runtimes.insert(runtime, for: sha)
    }

    func bundle(_ sha: String) async throws -> ScriptBundle {
        if let cached = bundles[sha] { return cached }
        return bundles.insert(try await broker.storedBundle(sha), for: sha)
    }
}
