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
    /// For a single agent, `checkpoint` is called after each completed step with the state to
    /// resume from, and `resume` continues from such a state instead of starting over (tools of
    /// checkpointed steps are not run again). Swarms always start from the beginning.
    public func execute(_ node: Runnable, input: String, messages: [Message] = [], detailed: Bool,
                        resume: Checkpoint? = nil, checkpoint: (@Sendable (Checkpoint) async -> Void)? = nil,
                        sink: @escaping @Sendable (StreamEvent) async -> Void) async throws -> RunResult {
        let context = RunContext(detailed: detailed, sink: sink, ledger: .init(), providers: providers)
        let name = node.name
        if resume == nil { await context.emit(.status(StatusEvent(status: .starting, agentName: name, message: ""))) }
        do {
            let result: (output: String, messages: [Message])
            if case .agent(let agent) = node, resume != nil || checkpoint != nil {
                var loop = AgentLoop(agent: agent, context: context)
                var start = messages + [.user(input)]
                if let resume {
                    start = resume.messages
                    loop.stepsDone = resume.steps
                    context.ledger.add(usage: resume.usage, steps: resume.steps)
                }
                if let checkpoint {
                    let ledger = context.ledger
                    loop.onStepCompleted = { transcript, steps in
                        await checkpoint(Checkpoint(messages: transcript, usage: ledger.usage, steps: steps))
                    }
                }
                switch try await loop.run(messages: start) {
                case .finished(let output, let transcript): result = (output, transcript)
                case .handoff(_, let transcript): result = (transcript.last(where: { $0.role == .assistant })?.content ?? "", transcript)
                }
            } else {
                result = try await NodeRunner(context: context).run(node, input: input, history: messages)
            }
            try Task.checkCancellation()
            await context.emit(.status(StatusEvent(status: .completed, agentName: name, message: "")))
            return RunResult(output: result.output, messages: result.messages, usage: context.ledger.usage, steps: context.ledger.steps)
        } catch {
            let underlying = (error as? ReportedFailure)?.underlying ?? error
            if underlying is CancellationError {
                await context.emit(.status(StatusEvent(status: .cancelled, agentName: name, message: "run cancelled")))
                throw underlying
            }
            if !(error is ReportedFailure) {
                await context.emit(.error(ErrorEvent(error: errorMessage(underlying), errorType: errorTypeName(underlying), agentName: name)))
            }
            await context.emit(.status(StatusEvent(status: .error, agentName: (error as? ReportedFailure)?.agentName ?? name,
                                                   message: errorMessage(underlying))))
            throw underlying
        }
    }
}

/// Where a single agent's run stands after a completed step: enough to continue it elsewhere.
public struct Checkpoint: Sendable, Equatable {
    /// The transcript so far (history, input, and every completed step).
    public var messages: [Message]
    /// Usage summed over the completed steps.
    public var usage: Usage
    /// Steps completed.
    public var steps: Int

    public init(messages: [Message], usage: Usage, steps: Int) {
        self.messages = messages
        self.usage = usage
        self.steps = steps
    }

    public var json: JSONValue {
        ["messages": .array(messages.map(\.json)), "usage": usage.json, "steps": .int(steps)]
    }

    public init(json: JSONValue) throws {
        guard let list = json["messages"]?.arrayValue, let steps = json["steps"]?.intValue else {
            throw OrbiterError.invalidConfiguration("checkpoint must have 'messages' and 'steps'")
        }
        self.init(messages: try list.map(Message.init(json:)), usage: Usage(json: json["usage"]), steps: steps)
    }
}

/// The local runner, called like the original's `run`: `try await run(agent, "Hello")`,
/// `for try await event in run.stream(agent, "Hello", detailed: true)`.
public let run = Run()
