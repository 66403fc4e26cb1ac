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

    // A sleeping task holds the async frames of every function on its chain (this one, `runTask`,
    // `awaitRun`, and the run's own `Task`), each as large as all the locals its function keeps
    // across any await. So the work is split: the functions alive while the run sleeps keep little
    // (issue 21: memory of 100,000 tasks in flight), and `prepare` and `conclude`, whose frames
    // are big, are gone by then. `@inline(never)` keeps the split when optimising.

    func process(_ claim: ClaimedEntry, payloadText: String, attempt: Int, signature: String, checkpoint: String,
                 lease: String, reply: String = "") async {
        let clock = ContinuousClock.now
        metrics.inFlight.increment()
        defer { metrics.inFlight.decrement() }
        let publisher = eventPublisher(taskID: claim.taskID, lease: lease)
        var facts = TaskFacts(maxRetries: configuration.maxRetries, meter: SpendMeter(prices: configuration.prices))
        let outcome = await runTask(claim, payloadText: payloadText, attempt: attempt, signature: signature, checkpoint: checkpoint,
                                    lease: lease, reply: reply, publisher: publisher, facts: &facts)
        await conclude(outcome, taskID: claim.taskID, attempt: attempt, facts: facts, publisher: publisher, since: clock)
    }

    /// The task's event publisher; a refused event (the lease is lost) stops the run.
    @inline(never)
    private func eventPublisher(taskID: String, lease: String) -> EventPublisher {
        EventPublisher(appender: appender, taskID: taskID, lease: lease, secrets: configuration.secrets) { [self] in
            if running.stop(taskID, lease: lease, reason: .leaseLost) {
                log("task \(taskID): event refused: the lease is lost (another worker took the task over); run cancelled",
                    level: .warning, task: taskID)
            }
        }
    }

    /// Runs the task and says how it ended; `facts` gets what the payload says as it is read.
    @inline(never)
    private func runTask(_ claim: ClaimedEntry, payloadText: String, attempt: Int, signature: String, checkpoint: String,
                         lease: String, reply: String, publisher: EventPublisher, facts: inout TaskFacts) async -> TaskOutcome {
        let stopReason = StopReasonSlot()
        do {
            let work = try await prepare(claim, payloadText: payloadText, attempt: attempt, signature: signature, checkpoint: checkpoint,
                                         lease: lease, reply: reply, publisher: publisher, stopReason: stopReason, facts: &facts)
            return try await awaitRun(work, stopReason: stopReason, meter: facts.meter)
        } catch {
            return Self.failed(error, stopReason: stopReason, attempt: attempt, facts: facts, publisher: publisher)
        }
    }

    @inline(never)
    private static func failed(_ error: any Error, stopReason: StopReasonSlot, attempt: Int, facts: TaskFacts,
                               publisher: EventPublisher) -> TaskOutcome {
        TaskOutcome.of(error: error, stopReason: stopReason.value, attempt: attempt, maxRetries: facts.maxRetries,
                       timeout: facts.timeout, reported: publisher.sawError, waitTimeout: facts.waitTimeout)
    }

    /// Checks and reads the payload, rebuilds the agent, and starts the run in a `Task` of its own,
    /// registered with `running` (which stops it at the deadline, on a lost lease, or on shutdown).
    @inline(never)
    private func prepare(_ claim: ClaimedEntry, payloadText: String, attempt: Int, signature: String, checkpoint: String,
                         lease: String, reply: String, publisher: EventPublisher, stopReason: StopReasonSlot,
                         facts: inout TaskFacts) async throws -> Task<RunResult, any Error> {
        let taskID = claim.taskID
        let payload = try checkedPayload(payloadText, signature: signature, taskID: taskID)
        facts.maxRetries = payload.maxRetries ?? configuration.maxRetries
        facts.timeout = payload.timeout
        facts.waitTimeout = payload.waitTimeout ?? TaskPayload.defaultWaitTimeout
        facts.agentName = payload.node["name"]?.stringValue ?? ""
        facts.traceID = payload.metadata[TraceContext.metadataKey].flatMap(TraceContext.init(traceparent:))?.traceID
        let (agentName, traceID) = (facts.agentName, facts.traceID)
        metrics.waited(since: payload.createdAt)
        // One info line per task (its outcome, in `conclude`); the start is for debugging.
        log("task \(taskID) started: \(agentName) (attempt \(attempt))", level: .debug, task: taskID, agent: agentName, trace: traceID)
        try checkProviderSettings(payload.node)
        let runMeter = spendMeter(for: payload)
        facts.meter = runMeter
        // The task's Lua code (loading its script, its tool and model calls) logs as the task.
        let luaContext = logMetadata(task: taskID, agent: agentName, trace: traceID)
        let node = try await LuaLogContext.$metadata.withValue(luaContext) { try await rebuild(payload) }
        let (resume, answered) = resumePoint(checkpoint, reply: reply, taskID: taskID, agentName: agentName, trace: traceID)
        if let resume {
            let after = answered.map { "resumed after input (\($0.summary))" } ?? "resumed after step \(resume.steps)"
            await publisher.publish(.status(StatusEvent(status: .resumed, agentName: agentName,
                                                        message: after + (attempt > 1 ? " (attempt \(attempt))" : ""))))
        }
        let deadline = ContinuousClock.now + .seconds(min(payload.timeout, 1e9))
        let work = LuaLogContext.$metadata.withValue(luaContext) {
            startRun(node, input: payload.input, messages: payload.messages, detailed: payload.detailed, resume: resume,
                     meter: runMeter, deadline: deadline, taskID: taskID, lease: lease, publisher: publisher)
        }
        // The timeout sweep (`timeoutLoop`) stops the run with `.timeout` once the deadline passes.
        running.add(taskID, entryID: claim.entryID, lease: lease, deadline: deadline) { reason in
            stopReason.set(reason)
            work.cancel()
        }
        return work
    }

    /// The run, in a `Task` of its own that the worker can cancel. It captures only what it uses,
    /// not the payload.
    @inline(never)
    private func startRun(_ node: Runnable, input: String, messages: [Message], detailed: Bool, resume: Checkpoint?, meter: SpendMeter,
                          deadline: ContinuousClock.Instant, taskID: String, lease: String,
                          publisher: EventPublisher) -> Task<RunResult, any Error> {
        // The run is always detailed, so every task's tool times and token counts reach the
        // metrics; a task that did not ask for detail publishes only the basic events.
        let publishes: @Sendable (StreamEvent) -> Bool = { detailed || $0.isBasic }
        let (providers, broker, metrics) = (providers, broker, metrics)
        return Task {
            // A model call does not book room under a shared limit for after the task's deadline.
            try await AdmissionDeadline.$current.withValue(deadline) {
                try await Run(providers: providers).execute(node, input: input, messages: messages, detailed: true, resume: resume,
                                                            checkpoint: { [self] state in
                    // Best effort: a lost checkpoint only means more work after a takeover. Refused
                    // (0) once the run lost its lease: the new owner's checkpoint is the one that counts.
                    _ = try? await broker.checkpoint(taskID, lease: lease, state: sealCheckpoint(configuration.secrets.redact(state.json.jsonString), taskID: taskID))
                }, humanInput: ParkingInput(), meter: meter) { event in
                    metrics.observe(event)
                    if publishes(event) { await publisher.publish(event) }
                }
            }
        }
    }

    /// The completed run's outcome; cancelling the waiting task (the worker shuts down) cancels the run.
    @inline(never)
    private func awaitRun(_ work: Task<RunResult, any Error>, stopReason: StopReasonSlot, meter: SpendMeter) async throws -> TaskOutcome {
        let result = try await withTaskCancellationHandler {
            try await work.value
        } onCancel: {
            stopReason.set(.shutdown)
            work.cancel()
        }
        return .completed(result: Self.resultJSON(result, meter: meter).jsonString, parsed: result.parsed)
    }

    /// Records the outcome, counts the task and logs its line.
    @inline(never)
    private func conclude(_ outcome: TaskOutcome, taskID: String, attempt: Int, facts: TaskFacts, publisher: EventPublisher,
                          since clock: ContinuousClock.Instant) async {
        warnUnpriced(facts.meter, task: taskID)
        await record(outcome.redacted(by: configuration.secrets), taskID: taskID, attempt: attempt, agentName: facts.agentName,
                     publisher: publisher, usage: ModelUsage.of(facts.meter))
        let ms = (ContinuousClock.now - clock).inMilliseconds
        if let status = publisher.finalStatus.flatMap(TaskStatus.init(rawValue:)), status.isFinished {
            metrics.finished(status, duration: ContinuousClock.now - clock)
        }
        log("task \(taskID) \(publisher.finalStatus ?? "ended") in \(Int(ms.rounded())) ms", task: taskID, agent: facts.agentName,
            trace: facts.traceID)
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

/// What `process` learns of a task as `prepare` reads its payload, for the outcome and the log
/// lines; a task that fails earlier keeps the worker's defaults.
struct TaskFacts {
    var agentName = ""
    var maxRetries: Int
    var timeout = 0.0
    var waitTimeout = TaskPayload.defaultWaitTimeout
    var traceID: String?
    var meter: SpendMeter
}

/// Why the worker stopped a run (the first reason given), for its outcome.
final class StopReasonSlot: Sendable {
    private let reason = Mutex<StopReason?>(nil)
    func set(_ new: StopReason) { reason.withLock { $0 = $0 ?? new } }
    var value: StopReason? { reason.withLock { $0 } }
}
