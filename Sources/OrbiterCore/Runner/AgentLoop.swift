import Foundation

/// How one agent's turn ended.
enum AgentOutcome: Sendable {
    /// A final answer; `messages` is the transcript including it.
    case finished(output: String, messages: [Message])
    /// The agent handed the conversation to another agent (handoff swarms).
    case handoff(target: String, messages: [Message])
}

/// The step loop of one agent: ask the model, run the tools it asks for, repeat until it answers
/// without tools or `max_steps` runs out.
struct AgentLoop: Sendable {
    let agent: Agent
    /// Tools added for this run only (handoff and delegation tools); the agent is never mutated.
    var extraTools: [Tool] = []
    /// Agents reachable through `transfer_to_<name>` tools or a reply that is exactly their name.
    var handoffTargets: [String] = []
    let context: RunContext
    /// Steps already done before `run` (when resuming from a checkpoint).
    var stepsDone = 0
    /// Called after each completed step with the transcript so far, for checkpoints.
    var onStepCompleted: (@Sendable (_ messages: [Message], _ steps: Int) async -> Void)?

    static func transferToolName(_ target: String) -> String { "transfer_to_\(target)" }

    func run(messages start: [Message]) async throws -> AgentOutcome {
        var messages = start
        var step = stepsDone
        do {
            let provider = try agent.provider ?? context.providers.provider(for: agent.model, settings: agent.settings)
            let modelID = (try? ProviderRegistry.split(agent.model).model) ?? agent.model
            var tools: [String: Tool] = [:]
            for tool in agent.tools + extraTools + handoffTools() { tools[tool.name] = tool }
            let specs = (agent.tools + extraTools + handoffTools()).map(\.spec)

            while step < agent.maxSteps {
                step += 1
                try Task.checkCancellation()
                let startedAt = Date().timeIntervalSince1970
                await context.emit(.step(StepEvent(stepNumber: step, agentName: agent.name, status: .started, startedAt: startedAt)))

                var request = ModelRequest(model: modelID, messages: messages, tools: specs,
                                           temperature: agent.temperature, maxTokens: agent.maxTokens, settings: agent.settings)
                if !agent.instructions.isEmpty { request.messages.insert(.system(agent.instructions), at: 0) }

                var text = ""
                var calls: [ToolCall] = []
                var usage = Usage.zero
                let name = agent.name
                try await provider.complete(request) { event in
                    switch event {
                    case .text(let t):
                        text += t
                        await context.emit(.text(TextEvent(text: t, agentName: name)))
                    case .reasoning(let t):
                        await context.emit(.reasoning(ReasoningEvent(text: t, agentName: name)))
                    case .toolCall(let call):
                        calls.append(call)
                    case .usage(let u):
                        usage = u
                    case .finish:
                        break
                    }
                }
                context.ledger.add(usage: usage, steps: 1)
                await context.emit(.usage(UsageEvent(usage: usage, agentName: agent.name, stepNumber: step, model: agent.model)))

                for i in calls.indices where calls[i].id.isEmpty { calls[i].id = "call_\(step)_\(i + 1)" }
                messages.append(.assistant(text, toolCalls: calls))

                if calls.isEmpty {
                    await completeStep(step, startedAt: startedAt, usage: usage)
                    if !handoffTargets.isEmpty {
                        let reply = text.trimmingCharacters(in: .whitespacesAndNewlines)
                        if handoffTargets.contains(reply) { return .handoff(target: reply, messages: messages) }
                    }
                    return .finished(output: text, messages: messages)
                }

                for call in calls {
                    await context.emit(.toolCall(ToolCallEvent(toolName: call.name, toolCallID: call.id, agentName: agent.name)))
                }
                let results = try await runTools(calls, tools: tools)
                var handoff: String?
                for (call, result) in zip(calls, results) {
                    messages.append(.tool(result, callID: call.id, name: call.name))
                    if handoff == nil, let target = handoffTargets.first(where: { Self.transferToolName($0) == call.name }) {
                        handoff = target
                    }
                }
                await completeStep(step, startedAt: startedAt, usage: usage)
                if let handoff { return .handoff(target: handoff, messages: messages) }
                if let onStepCompleted { await onStepCompleted(messages, step) }
            }
            throw OrbiterError.maxStepsExceeded(agent: agent.name, maxSteps: agent.maxSteps)
        } catch let error as ReportedFailure {
            throw error
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            await context.emit(.error(ErrorEvent(error: errorMessage(error), errorType: errorTypeName(error),
                                                 agentName: agent.name, stepNumber: step == 0 ? nil : step,
                                                 recoverable: (error as? ModelError)?.retryable ?? false)))
            throw ReportedFailure(underlying: error, agentName: agent.name)
        }
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

    /// Runs every call of one step concurrently; each reports its own `tool_result` when it ends.
    /// Returns the texts sent back to the model, in call order. Tool failures are results, not throws;
    /// only cancellation propagates.
    private func runTools(_ calls: [ToolCall], tools: [String: Tool]) async throws -> [String] {
        try await withThrowingTaskGroup(of: (Int, String).self) { group in
            for (index, call) in calls.enumerated() {
                group.addTask {
                    (index, try await runTool(call, tool: tools[call.name], available: tools))
                }
            }
            var results = Array(repeating: "", count: calls.count)
            for try await (index, text) in group { results[index] = text }
            return results
        }
    }

    private func runTool(_ call: ToolCall, tool: Tool?, available: [String: Tool]) async throws -> String {
        let clock = ContinuousClock.now
        let parsed = (try? JSONValue.parse(call.arguments.isEmpty ? "{}" : call.arguments))
        var output = ""
        var failure: String?
        if let tool {
            if let parsed {
                if let problem = argumentProblem(parsed, schema: tool.spec.parameters) {
                    failure = "invalid arguments for tool '\(call.name)': \(problem)"
                } else {
                    do {
                        output = try await tool.body(parsed).toolResultText
                    } catch is CancellationError {
                        throw CancellationError()
                    } catch {
                        failure = errorMessage(error)
                    }
                }
            } else {
                failure = "invalid arguments for tool '\(call.name)': not valid JSON: \(call.arguments.prefix(200))"
            }
        } else {
            failure = "unknown tool '\(call.name)'; available tools: "
                + (available.keys.sorted().joined(separator: ", ").nilIfEmpty ?? "(none)")
        }
        let elapsed = ContinuousClock.now - clock
        let ms = elapsed.inMilliseconds
        await context.emit(.toolResult(ToolResultEvent(
            toolName: call.name, toolCallID: call.id, arguments: parsed ?? .string(call.arguments), result: output,
            error: failure, success: failure == nil, durationMs: ms, agentName: agent.name)))
        if let failure { return "Error: \(failure)" }
        return output
    }
}

extension String {
    var nilIfEmpty: String? { isEmpty ? nil : self }
}
