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
struct AgentLoop: Sendable {
    let agent: Agent
    /// Tools added for this run only (handoff and delegation tools); the agent is never mutated.
    var extraTools: [Tool] = []
    /// Agents reachable through `transfer_to_<name>` tools or a reply that is exactly their name.
    var handoffTargets: [String] = []
    let context: RunContext
    /// Steps already done before `run` (when resuming from a checkpoint).
    var stepsDone = 0
    /// The step that stopped for a person, to go on with (when resuming from a checkpoint).
    var resumeStep: SuspendedStep?
    /// Called after each completed step with the transcript so far, for checkpoints.
    var onStepCompleted: (@Sendable (_ messages: [Message], _ steps: Int) async -> Void)?
    /// Called when a step stops for a person, before the run parks: the transcript (ending with
    /// the step's model reply), the steps completed, and the step's state.
    var onSuspended: (@Sendable (_ messages: [Message], _ steps: Int, _ step: SuspendedStep) -> Void)?

    static func transferToolName(_ target: String) -> String { "transfer_to_\(target)" }

    func run(messages start: [Message]) async throws -> AgentOutcome {
        var messages = start
        var step = stepsDone
        var retries = AnswerRetries()
        var resuming = resumeStep
        do {
            let provider = try agent.provider ?? context.providers.provider(for: agent.model, settings: agent.settings)
            let modelID = (try? ProviderRegistry.split(agent.model).model) ?? agent.model
            var tools: [String: Tool] = [:]
            for tool in agent.tools + extraTools + handoffTools() { tools[tool.name] = tool }
            let specs = (agent.tools + extraTools + handoffTools()).map(\.spec)

            while step < agent.maxSteps + retries.used {
                let turn: SuspendedStep
                let calls: [ToolCall]
                if let suspended = resuming.take(), let last = messages.last, last.role == .assistant, !last.toolCalls.isEmpty {
                    // Resumed after a person replied: the step's model reply is in the transcript.
                    (step, turn, calls) = (suspended.step, suspended, last.toolCalls)
                } else {
                    step += 1
                    try Task.checkCancellation()
                    // Budgets are checked before each call, so a run ends at most one call past one.
                    try await context.ledger.meter.beforeCall(agent: agent.name, model: agent.model, agentBudget: agent.budget)
                    let startedAt = Date().timeIntervalSince1970
                    await context.emit(.step(StepEvent(stepNumber: step, agentName: agent.name, status: .started, startedAt: startedAt)))

                    let request = try await request(model: modelID, messages: messages, tools: specs)
                    let reply = try await ask(provider, request, step: step)
                    var replyCalls = reply.calls
                    for i in replyCalls.indices where replyCalls[i].id.isEmpty { replyCalls[i].id = "call_\(step)_\(i + 1)" }
                    messages.append(.assistant(reply.text, toolCalls: replyCalls, reasoning: reply.reasoning))

                    if replyCalls.isEmpty {
                        await completeStep(step, startedAt: startedAt, usage: reply.usage)
                        if !handoffTargets.isEmpty {
                            let answer = reply.text.trimmingCharacters(in: .whitespacesAndNewlines)
                            if handoffTargets.contains(answer) { return .handoff(target: answer, messages: messages) }
                        }
                        switch try await check(answer: reply.text, retries: &retries) {
                        case .accepted(let parsed):
                            return .finished(output: reply.text, messages: messages, parsed: parsed)
                        case .retry(let note):
                            messages.append(.user(note))
                            if let onStepCompleted { await onStepCompleted(messages, step) }
                            continue
                        }
                    }

                    for call in replyCalls {
                        await context.emit(.toolCall(ToolCallEvent(toolName: call.name, toolCallID: call.id, agentName: agent.name)))
                    }
                    (turn, calls) = (SuspendedStep(step: step, startedAt: startedAt, usage: reply.usage), replyCalls)
                }
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
                if let handoff { return .handoff(target: handoff, messages: messages) }
                if let onStepCompleted { await onStepCompleted(messages, step) }
            }
            throw OrbiterError.maxStepsExceeded(agent: agent.name, maxSteps: agent.maxSteps)
        } catch let error as ReportedFailure {
            throw error
        } catch let needed as InputNeeded {
            throw needed // the run parks: not a failure
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            await context.emit(.error(ErrorEvent(error: errorMessage(error), errorType: errorTypeName(error),
                                                 agentName: agent.name, stepNumber: step == 0 ? nil : step,
                                                 recoverable: (error as? ModelError)?.retryable ?? false)))
            throw ReportedFailure(underlying: error, agentName: agent.name)
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
        context.ledger.add(usage: reply.usage, steps: 1)
        await context.emit(.usage(UsageEvent(usage: reply.usage, agentName: agent.name, stepNumber: step, model: agent.model)))
        try await context.ledger.meter.record(agent: agent.name, model: agent.model, usage: reply.usage)
        return reply
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
