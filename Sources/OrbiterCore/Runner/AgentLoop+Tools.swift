/// One call of a step, once its arguments and `before_tool` have been looked at.
private enum PreparedCall: Sendable {
    /// It ended in an earlier run of this step (before the run parked): what the model is sent back.
    case ended(String)
    /// It fails without running: bad arguments, an unknown tool, denied or rejected.
    case failing(String, arguments: JSONValue)
    case ready(Tool, arguments: JSONValue)
}

/// How one call of a step came out.
private enum CallOutcome: Sendable {
    /// The text the model is sent back.
    case result(String)
    /// Its body asked a person and the run parks; the replies its questions had so far.
    case suspended(InputNeeded, replies: [InputReply])
}

extension AgentLoop {
    /// Runs the calls of one step and returns the texts sent back to the model, in call order.
    /// First each call's arguments are checked and `before_tool` decides; then calls of tools that
    /// need approval are put to a person one at a time, in call order, before any call runs; then
    /// the calls run concurrently, each reporting its own `tool_result` when it ends.
    ///
    /// When a person must be waited for (the human input parks the run), the step's state goes to
    /// `suspend` — calls that ended, approvals, answers, the request — and `InputNeeded` is thrown.
    /// Calls running at that moment are let finish first, so none runs twice. Tool failures are
    /// results, not throws; cancellation, hook errors and a missing person propagate.
    func runTools(_ calls: [ToolCall], tools: [String: Tool], turn: SuspendedStep,
                  suspend: @Sendable (SuspendedStep) -> Void) async throws -> [String] {
        var turn = turn
        var prepared: [PreparedCall] = []
        for call in calls {
            if let ended = turn.results[call.id] { prepared.append(.ended(ended)) } else { prepared.append(try await prepare(call, tools: tools)) }
        }
        for (index, call) in calls.enumerated() {
            guard case .ready(let tool, let arguments) = prepared[index], tool.needsApproval else { continue }
            let decision: InputReply
            if let given = turn.decisions[call.id] {
                decision = given
            } else {
                let request = InputRequest(kind: .approval, agentName: agent.name, toolName: call.name, toolCallID: call.id, arguments: arguments)
                do {
                    decision = try await askPerson(request)
                } catch let needed as InputNeeded {
                    turn.awaiting = needed.request
                    suspend(turn)
                    throw needed
                }
                turn.decisions[call.id] = decision
            }
            switch decision {
            case .approved: break
            case .rejected(let reason): prepared[index] = .failing("rejected: \(reason)", arguments: arguments)
            case .answer(let text): prepared[index] = .failing("rejected: the reply was \"\(text)\", not an approval", arguments: arguments)
            }
        }
        let outcomes = try await withThrowingTaskGroup(of: (Int, CallOutcome).self) { group in
            for (index, call) in calls.enumerated() {
                if case .ended = prepared[index] { continue }
                let (plan, replies) = (prepared[index], turn.answers[call.id] ?? [])
                group.addTask { [self] in (index, try await finish(call, plan, replies: replies)) }
            }
            var outcomes: [Int: CallOutcome] = [:]
            for try await (index, outcome) in group { outcomes[index] = outcome }
            return outcomes
        }
        var results = Array(repeating: "", count: calls.count)
        var parked: InputNeeded?
        for (index, call) in calls.enumerated() {
            if case .ended(let text) = prepared[index] {
                results[index] = text
                continue
            }
            switch outcomes[index] {
            case .result(let text)?:
                results[index] = text
                turn.results[call.id] = text
            case .suspended(let needed, let replies)?:
                turn.answers[call.id] = replies
                parked = parked ?? needed
            case nil:
                break
            }
        }
        if let parked {
            // The request is this step's own (a call of this agent asks), or a delegated member's,
            // which records it in its own progress: a reply is folded in where it was asked.
            let own = parked.request.agentName == agent.name && calls.contains { $0.id == parked.request.toolCallID }
            turn.awaiting = own ? parked.request : nil
            suspend(turn)
            throw parked
        }
        return results
    }

    /// The person's reply; a host that waits here (a terminal) reports `waiting_for_input` first.
    private func askPerson(_ request: InputRequest) async throws -> InputReply {
        if context.human.waitsInProcess { await context.emit(.status(.waiting(for: request))) }
        return try await context.human.ask(request)
    }

    /// Checks a call's arguments against its tool and lets `before_tool` decide.
    private func prepare(_ call: ToolCall, tools: [String: Tool]) async throws -> PreparedCall {
        guard let tool = tools[call.name] else {
            return .failing("unknown tool '\(call.name)'; available tools: " + (tools.keys.sorted().joined(separator: ", ").nilIfEmpty ?? "(none)"),
                            arguments: (try? JSONValue.parse(call.arguments.isEmpty ? "{}" : call.arguments)) ?? .string(call.arguments))
        }
        guard let arguments = try? JSONValue.parse(call.arguments.isEmpty ? "{}" : call.arguments) else {
            return .failing("invalid arguments for tool '\(call.name)': not valid JSON: \(call.arguments.prefix(200))", arguments: .string(call.arguments))
        }
        if let problem = argumentProblem(arguments, schema: tool.spec.parameters) {
            return .failing("invalid arguments for tool '\(call.name)': \(problem)", arguments: arguments)
        }
        if let hook = agent.hooks.beforeTool, case .deny(let reason) = try await hook(call) {
            return .failing("denied: \(reason)", arguments: arguments)
        }
        return .ready(tool, arguments: arguments)
    }

    /// Runs one prepared call (its body sees the call as `ToolCallScope.current`, for questions),
    /// then `after_tool`, which may replace what the model is sent, and reports `tool_result`.
    private func finish(_ call: ToolCall, _ plan: PreparedCall, replies: [InputReply]) async throws -> CallOutcome {
        let clock = ContinuousClock.now
        var value: JSONValue?
        var failure: String?
        let arguments: JSONValue
        switch plan {
        case .ended(let text):
            return .result(text)
        case .failing(let message, let args):
            (failure, arguments) = (message, args)
        case .ready(let tool, let args):
            arguments = args
            let context = self.context
            let scope = ToolCallScope(call: call, agentName: agent.name, arguments: args, human: context.human, replies: replies) {
                await context.emit(.status(.waiting(for: $0)))
            }
            do {
                value = try await ToolCallScope.$current.withValue(scope) { try await tool.body(args) }
            } catch is CancellationError {
                throw CancellationError()
            } catch let needed as InputNeeded {
                return .suspended(needed, replies: scope.replies)
            } catch let error as OrbiterError {
                if case .humanInputUnavailable = error { throw error }
                failure = errorMessage(error)
            } catch {
                failure = errorMessage(error)
            }
        }
        if let hook = agent.hooks.afterTool, let replacement = try await hook(call, ToolCallResult(value: value, error: failure)) {
            value = replacement
            failure = nil
        }
        let output = failure == nil ? (value ?? .string("")).toolResultText : ""
        let ms = (ContinuousClock.now - clock).inMilliseconds
        await context.emit(.toolResult(ToolResultEvent(
            toolName: call.name, toolCallID: call.id, arguments: arguments, result: output,
            error: failure, success: failure == nil, durationMs: ms, agentName: agent.name)))
        if let failure { return .result("Error: \(failure)") }
        return .result(output)
    }
}
