import Foundation

/// How one agent's turn ended.
enum AgentOutcome: Sendable {
    /// A final answer; `messages` is the transcript including it, `parsed` its decoded form when
    /// the agent has an output schema.
    case finished(output: String, messages: [Message], parsed: JSONValue?)
    /// The agent handed the conversation to another agent (handoff swarms).
    case handoff(target: String, messages: [Message])
}

/// The step loop of one agent: ask the model, run the tools it asks for, repeat until it answers
/// without tools or `max_steps` runs out. A final answer is checked (output schema, `on_output`)
/// and may earn the model one more turn to fix it; such a turn does not count against `max_steps`.
///
/// A class: the functions of a run that sleeps in a model call keep it in their frames (issue 21:
/// memory of tasks in flight), where as a struct (the agent inline) it was about 800 bytes a copy.
final class AgentLoop: Sendable {
    let agent: Agent
    /// Tools added for this run only (handoff and delegation tools); the agent is never mutated.
    let extraTools: [Tool]
    /// Agents reachable through `transfer_to_<name>` tools or a reply that is exactly their name.
    let handoffTargets: [String]
    let context: RunContext
    /// Steps already done before `run` (when resuming from a checkpoint).
    let stepsDone: Int
    /// The step that stopped for a person, to go on with (when resuming from a checkpoint).
    let resumeStep: SuspendedStep?
    /// Called after each completed step with the transcript so far, for checkpoints.
    let onStepCompleted: (@Sendable (_ messages: [Message], _ steps: Int) async -> Void)?
    /// Called when a step stops for a person, before the run parks: the transcript (ending with
    /// the step's model reply), the steps completed, and the step's state.
    let onSuspended: (@Sendable (_ messages: [Message], _ steps: Int, _ step: SuspendedStep) -> Void)?

    init(agent: Agent, extraTools: [Tool] = [], handoffTargets: [String] = [], context: RunContext, stepsDone: Int = 0,
         resumeStep: SuspendedStep? = nil, onStepCompleted: (@Sendable (_ messages: [Message], _ steps: Int) async -> Void)? = nil,
         onSuspended: (@Sendable (_ messages: [Message], _ steps: Int, _ step: SuspendedStep) -> Void)? = nil) {
        self.agent = agent; self.extraTools = extraTools; self.handoffTargets = handoffTargets; self.context = context
        self.stepsDone = stepsDone; self.resumeStep = resumeStep; self.onStepCompleted = onStepCompleted; self.onSuspended = onSuspended
    }

    static func transferToolName(_ target: String) -> String { "transfer_to_\(target)" }

    // The frames of `run`, `steps`, `modelTurn` and `ask` stay allocated while the model call
    // sleeps (issue 21: memory of tasks in flight), each as large as all the locals its function
    // keeps across any await. So the answer, the tools, the failure path and the bookkeeping after
    // a call are functions of their own, out of line, allocated only while they run.

    func run(messages start: [Message]) async throws -> AgentOutcome {
        var step = stepsDone
        do {
            return try await steps(from: start, step: &step)
        } catch {
            throw await failure(error, step: step)
        }
    }

    /// Model calls and the tools they ask for, until an answer, a handoff or `max_steps`; `step`
    /// is the step in progress.
    @inline(never)
    private func steps(from start: [Message], step: inout Int) async throws -> AgentOutcome {
        var messages = start
        var retries = AnswerRetries()
        var resuming = resumeStep != nil
        let (provider, modelID, maxSteps) = try modelOfAgent()
        let (tools, specs) = toolTable()
        while step < maxSteps + retries.used {
            let end: TurnEnd
            if resuming, let resumed = resumedTurn(messages) {
                // Resumed after a person replied: the step's model reply is in the transcript.
                resuming = false
                step = resumed.step
                end = resumed
            } else {
                resuming = false
                step += 1
                end = try await modelTurn(step, provider: provider, model: modelID, specs: specs, messages: &messages, retries: &retries)
            }
            switch end {
            case .ended(let outcome):
                return outcome
            case .again:
                continue
            case .tools:
                if let handoff = try await toolTurn(end, tools: tools, step: step, messages: &messages) {
                    return .handoff(target: handoff, messages: messages)
                }
            }
        }
        throw maxStepsExceeded()
    }

    /// The agent's provider, the model's id at that provider, and `max_steps` (out of line, so
    /// that no copy of the agent's settings takes room in the frame of `steps`).
    @inline(never)
    private func modelOfAgent() throws -> (provider: any ModelProvider, model: String, maxSteps: Int) {
        let provider = try agent.provider ?? context.providers.provider(for: agent.model, settings: agent.settings)
        return (provider, (try? ProviderRegistry.split(agent.model).model) ?? agent.model, agent.maxSteps)
    }

    @inline(never)
    private func maxStepsExceeded() -> any Error {
        OrbiterError.maxStepsExceeded(agent: agent.name, maxSteps: agent.maxSteps)
    }

    /// The step to go on with when resuming after a person replied: the suspended step and the
    /// tool calls of its model reply (the transcript's last message).
    @inline(never)
    private func resumedTurn(_ messages: [Message]) -> TurnEnd? {
        guard let suspended = resumeStep, let last = messages.last, last.role == .assistant, !last.toolCalls.isEmpty else { return nil }
        return .tools(suspended, last.toolCalls)
    }

    /// The agent's tools by name (its own, the run's extra ones, the handoff tools) and their specs.
    @inline(never)
    private func toolTable() -> (byName: [String: Tool], specs: [ToolSpec]) {
        let all = agent.tools + extraTools + handoffTools()
        var byName: [String: Tool] = [:]
        for tool in all { byName[tool.name] = tool }
        return (byName, all.map(\.spec))
    }

    /// How a model call's turn ended (`indirect`: one pointer in the frames that hold it).
    private indirect enum TurnEnd {
        /// The agent's turn is over (an accepted answer or a handoff by name).
        case ended(AgentOutcome)
        /// The answer earned another turn; its note is in the transcript.
        case again
        /// The model asked for tools (or the run resumes a step that did).
        case tools(SuspendedStep, [ToolCall])

        var step: Int {
            if case .tools(let turn, _) = self { return turn.step }
            return 0
        }
    }

    /// One step's model call (after the budget check and the `before_model` hook), its reply
    /// appended to `messages`.
    @inline(never)
    private func modelTurn(_ step: Int, provider: any ModelProvider, model: String, specs: [ToolSpec], messages: inout [Message],
                           retries: inout AnswerRetries) async throws -> TurnEnd {
        let startedAt = try await startStep(step)
        let reply = try await ask(provider, try await request(model: model, messages: messages, tools: specs), step: step)
        return try await replied(reply, step: step, startedAt: startedAt, messages: &messages, retries: &retries)
    }

    /// Starts a step: the budget check and the `step started` event; the time it started.
    @inline(never)
    private func startStep(_ step: Int) async throws -> Double {
        try Task.checkCancellation()
        // Budgets are checked before each call, so a run ends at most one call past one.
        try await context.ledger.meter.beforeCall(agent: agent.name, model: agent.model, agentBudget: agent.budget)
        let startedAt = Date().timeIntervalSince1970
        await context.emit(.step(StepEvent(stepNumber: step, agentName: agent.name, status: .started, startedAt: startedAt)))
        return startedAt
    }

    /// The model's reply, appended to `messages`: an answer, or the tool calls it asks for.
    @inline(never)
    private func replied(_ reply: ModelReply, step: Int, startedAt: Double, messages: inout [Message],
                         retries: inout AnswerRetries) async throws -> TurnEnd {
        var replyCalls = reply.calls
        for i in replyCalls.indices where replyCalls[i].id.isEmpty { replyCalls[i].id = "call_\(step)_\(i + 1)" }
        messages.append(.assistant(reply.text, toolCalls: replyCalls, reasoning: reply.reasoning))
        if replyCalls.isEmpty {
            return try await answered(reply.text, step: step, startedAt: startedAt, usage: reply.usage, messages: &messages,
                                      retries: &retries)
        }
        for call in replyCalls {
            await context.emit(.toolCall(ToolCallEvent(toolName: call.name, toolCallID: call.id, agentName: agent.name)))
        }
        return .tools(SuspendedStep(step: step, startedAt: startedAt, usage: reply.usage), replyCalls)
    }

    /// A reply without tool calls: a handoff by name, an accepted answer, or another turn.
    @inline(never)
    private func answered(_ text: String, step: Int, startedAt: Double, usage: Usage, messages: inout [Message],
                          retries: inout AnswerRetries) async throws -> TurnEnd {
        await completeStep(step, startedAt: startedAt, usage: usage)
        if !handoffTargets.isEmpty {
            let answer = text.trimmingCharacters(in: .whitespacesAndNewlines)
            if handoffTargets.contains(answer) { return .ended(.handoff(target: answer, messages: messages)) }
        }
        switch try await check(answer: text, retries: &retries) {
        case .accepted(let parsed):
            return .ended(.finished(output: text, messages: messages, parsed: parsed))
        case .retry(let note):
            messages.append(.user(note))
            if let onStepCompleted { await onStepCompleted(messages, step) }
            return .again
        }
    }

    /// Runs a step's tool calls and completes the step; the handoff target when one was called.
    @inline(never)
    private func toolTurn(_ end: TurnEnd, tools: [String: Tool], step: Int, messages: inout [Message]) async throws -> String? {
        guard case .tools(let turn, let calls) = end else { return nil }
        let (transcript, completed, onSuspended) = (messages, step - 1, onSuspended)
        let results = try await runTools(calls, tools: tools, turn: turn) { onSuspended?(transcript, completed, $0) }
        var handoff: String?
        for (call, result) in zip(calls, results) {
            messages.append(.tool(result, callID: call.id, name: call.name))
            if handoff == nil, let target = handoffTargets.first(where: { Self.transferToolName($0) == call.name }) {
                handoff = target
            }
        }
        await completeStep(step, startedAt: turn.startedAt, usage: turn.usage)
        if let handoff { return handoff }
        if let onStepCompleted { await onStepCompleted(messages, step) }
        return nil
    }

    /// What `run` throws for `error`: a failure of this agent is reported (an `error` event) and
    /// wrapped in `ReportedFailure`; a parked run, a cancellation and an already reported failure
    /// pass through.
    @inline(never)
    private func failure(_ error: any Error, step: Int) async -> any Error {
        switch error {
        case is ReportedFailure, is InputNeeded:
            return error // InputNeeded: the run parks, not a failure
        case is CancellationError:
            return CancellationError()
        default:
            await context.emit(.error(ErrorEvent(error: errorMessage(error), errorType: errorTypeName(error),
                                                 agentName: agent.name, stepNumber: step == 0 ? nil : step,
                                                 recoverable: (error as? ModelError)?.retryable ?? false)))
            return ReportedFailure(underlying: error, agentName: agent.name)
        }
    }

    /// The request of one step, after the `before_model` hook (which may edit its messages for
    /// this call or stop the run). A `tool_choice` that forces a tool applies until the model has
    /// called one; later steps use `auto`, or the agent could never answer.
    private func request(model: String, messages: [Message], tools: [ToolSpec]) async throws -> ModelRequest {
        var request = ModelRequest(model: model, messages: messages, tools: tools, temperature: agent.temperature,
                                   maxTokens: agent.maxTokens, settings: agent.settings, output: agent.output,
                                   outputName: agent.name, reasoning: agent.reasoning, options: agent.options)
        if !agent.instructions.isEmpty { request.messages.insert(.system(agent.instructions), at: 0) }
        switch agent.options.toolChoice {
        case .required?, .tool?:
            if messages.last?.role == .tool { request.options.toolChoice = .auto }
        default:
            break
        }
        guard let hook = agent.hooks.beforeModel else { return request }
        switch try await hook(request) {
        case .proceed(let edited):
            request.messages = edited.messages
            return request
        case .stop(let reason):
            throw OrbiterError.stoppedByHook(agent: agent.name, hook: AgentHooks.Name.beforeModel.rawValue, reason: reason)
        }
    }

    /// One model reply, its text and reasoning streamed as events meanwhile.
    @inline(never)
    private func ask(_ provider: any ModelProvider, _ request: ModelRequest, step: Int) async throws -> ModelReply {
        var reply = ModelReply()
        let (name, context) = (agent.name, context)
        let scope = ModelCallScope(agentName: name, emit: { await context.emit($0) })
        try await ModelCallScope.$current.withValue(scope) { try await provider.complete(request) { event in
            switch event {
            case .text(let t):
                reply.text += t
                await context.emit(.text(TextEvent(text: t, agentName: name)))
            case .reasoning(let t):
                await context.emit(.reasoning(ReasoningEvent(text: t, agentName: name)))
            case .reasoningBlock(let block):
                reply.reasoning.append(block)
            case .toolCall(let call):
                reply.calls.append(call)
            case .usage(let u):
                reply.usage = u
            case .finish:
                break
            }
        } }
        try await counted(reply.usage, step: step)
        return reply
    }

    /// Books a model call's usage: the run's totals, a `usage` event, the meter.
    @inline(never)
    private func counted(_ usage: Usage, step: Int) async throws {
        context.ledger.add(usage: usage, steps: 1)
        await context.emit(.usage(UsageEvent(usage: usage, agentName: agent.name, stepNumber: step, model: agent.model)))
        try await context.ledger.meter.record(agent: agent.name, model: agent.model, usage: usage)
    }

    private func completeStep(_ step: Int, startedAt: Double, usage: Usage) async {
        await context.emit(.step(StepEvent(stepNumber: step, agentName: agent.name, status: .completed, startedAt: startedAt,
                                           completedAt: Date().timeIntervalSince1970, usage: usage)))
    }

    private func handoffTools() -> [Tool] {
        handoffTargets.map { target in
            Tool(name: Self.transferToolName(target), description: "Hand the conversation to the agent '\(target)'.",
                 parameters: ["type": "object", "properties": .object([:])]) { _ in
                .string("Transferred to \(target).")
            }
        }
    }
}

/// What one model call gave back.
struct ModelReply {
    var text = ""
    var calls: [ToolCall] = []
    var reasoning: [ReasoningBlock] = []
    var usage = Usage.zero
}

extension String {
    var nilIfEmpty: String? { isEmpty ? nil : self }
}
