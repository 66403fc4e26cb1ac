/// The local runner: `try await run(agent, "...")` and `run.stream(agent, "...", detailed: true)`,
/// the same calls as the original.
public struct Run: Sendable {
    /// Where `provider:model` names are looked up.
    public var providers: ProviderRegistry

    public init(providers: ProviderRegistry = .shared) { self.providers = providers }

    /// Runs to the end and returns the result; throws the run's error.
    public func callAsFunction(_ node: some RunnableConvertible, _ input: String, messages: [Message] = []) async throws -> RunResult {
        try await execute(node.runnable, input: input, messages: messages, detailed: false) { _ in }
    }

    /// Streams the run's events. With `detailed` off only `text`, `tool_call` and `error` come;
    /// with it on the stream ends with exactly one terminal `status` event. On failure the stream
    /// yields the `error` event (and status) and then finishes by throwing. Stopping iteration
    /// cancels the run.
    public func stream(_ node: some RunnableConvertible, _ input: String, messages: [Message] = [], detailed: Bool = false,
                       eventTypes: Set<String>? = nil) -> AsyncThrowingStream<StreamEvent, any Error> {
        let runnable = node.runnable
        let (stream, continuation) = AsyncThrowingStream<StreamEvent, any Error>.makeStream()
        let task = Task {
            do {
                _ = try await execute(runnable, input: input, messages: messages, detailed: detailed) { event in
                    if let eventTypes, !eventTypes.contains(event.type) { return }
                    continuation.yield(event)
                }
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    /// Runs a node, sending each event to `sink` as it happens; the one entry point that local
    /// runs, streams and distributed workers share, so all three behave alike.
    ///
    /// With `detailed`, `status starting` comes first and one terminal status last. Errors are
    /// reported as an `error` event before the terminal status, then rethrown.
    ///
    /// `checkpoint` is called with the run's progress after each completed step and each finished
    /// swarm member (see `Checkpoint`); `resume` continues from such a state instead of starting
    /// over: finished members are skipped, and tools of recorded steps are not run again.
    ///
    /// `meter` holds the prices and budgets the run must keep (a `BudgetExceeded` failure stops it
    /// before the model call that would start past one) and, afterwards, what it spent by model —
    /// also when it failed. A resumed run's meter starts from the checkpoint's spend.
    ///
    /// `humanInput` answers what tools ask a person: approvals of `approval = true` tools and
    /// `orbiter.ask` questions (none by default: such a run fails with `HumanInputUnavailable`).
    /// When it parks the run (`ParkingInput`), this throws `RunParked` with the checkpoint to
    /// resume from, and reports neither an error nor a terminal status.
    public func execute(_ node: Runnable, input: String, messages: [Message] = [], detailed: Bool,
                        resume: Checkpoint? = nil, checkpoint: (@Sendable (Checkpoint) async -> Void)? = nil,
                        humanInput: (any HumanInput)? = nil, meter: SpendMeter? = nil,
                        sink: @escaping @Sendable (StreamEvent) async -> Void) async throws -> RunResult {
        // The frame of this function stays allocated while the run sleeps (issue 21): setup, the
        // end and failures are out of line, so it holds little more than its arguments. (Even
        // `node.name` would take an agent's copy, hundreds of bytes, in this frame.)
        let context = Self.context(detailed: detailed, resume: resume, checkpoint: checkpoint, humanInput: humanInput, meter: meter,
                                   sink: sink, providers: providers)
        if resume == nil { await Self.starting(node, context: context) }
        do {
            let result = try await NodeRunner(context: context).run(node, input: input, history: messages, path: "")
            try Task.checkCancellation()
            return await Self.completed(result, context: context, node: node)
        } catch {
            throw await Self.failed(error, context: context, node: node)
        }
    }

    @inline(never)
    private static func context(detailed: Bool, resume: Checkpoint?, checkpoint: (@Sendable (Checkpoint) async -> Void)?,
                                humanInput: (any HumanInput)?, meter: SpendMeter?, sink: @escaping @Sendable (StreamEvent) async -> Void,
                                providers: ProviderRegistry) -> RunContext {
        let ledger = RunContext.Ledger(meter: meter ?? SpendMeter())
        if let resume {
            ledger.add(usage: resume.usage, steps: resume.steps)
            ledger.meter.seed(resume.spend)
        }
        let checkpoints = (checkpoint != nil || resume != nil)
            ? Checkpointer(resume: resume, ledger: ledger, save: checkpoint ?? { _ in }) : nil
        return RunContext(detailed: detailed, sink: sink, ledger: ledger, providers: providers, checkpoints: checkpoints,
                          human: humanInput ?? NoHumanInput())
    }

    @inline(never)
    private static func starting(_ node: Runnable, context: RunContext) async {
        await context.emit(.status(StatusEvent(status: .starting, agentName: node.name, message: "")))
    }

    @inline(never)
    private static func completed(_ result: NodeResult, context: RunContext, node: Runnable) async -> RunResult {
        let name = node.name
        await context.emit(.status(StatusEvent(status: .completed, agentName: name, message: "", parsed: result.parsed)))
        return RunResult(output: result.output, messages: result.messages, usage: context.ledger.usage, steps: context.ledger.steps,
                         parsed: result.parsed)
    }

    /// Reports a failure (an `error` event unless its agent did, then the terminal status) and
    /// returns what to throw: `RunParked` for a run that stops for a person.
    @inline(never)
    private static func failed(_ error: any Error, context: RunContext, node: Runnable) async -> any Error {
        let name = node.name
        if let needed = error as? InputNeeded {
            return RunParked(request: needed.request, checkpoint: context.checkpoints?.current)
        }
        let underlying = (error as? ReportedFailure)?.underlying ?? error
        if underlying is CancellationError {
            await context.emit(.status(StatusEvent(status: .cancelled, agentName: name, message: "run cancelled")))
            return underlying
        }
        if !(error is ReportedFailure) {
            await context.emit(.error(ErrorEvent(error: errorMessage(underlying), errorType: errorTypeName(underlying), agentName: name)))
        }
        await context.emit(.status(StatusEvent(status: .error, agentName: (error as? ReportedFailure)?.agentName ?? name,
                                               message: errorMessage(underlying))))
        return underlying
    }
}

/// The local runner, called like the original's `run`: `try await run(agent, "Hello")`,
/// `for try await event in run.stream(agent, "Hello", detailed: true)`.
public let run = Run()
