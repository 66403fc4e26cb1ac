/// Runs any node (agent, swarm, group) within one run's context.
struct NodeRunner: Sendable {
    let context: RunContext

    /// The output and transcript of one node run on `input` after `history`. `path` names the
    /// node in checkpoints (`Checkpoint`).
    func run(_ node: Runnable, input: String, history: [Message], path: String) async throws -> NodeResult {
        // Each kind out of line: this frame is alive while the run sleeps (issue 21), and would
        // otherwise hold the locals of every kind.
        // (The node, not its agent, group or swarm, is passed on: it is one pointer.)
        switch node {
        case .agent: return try await runAgent(node, input: input, history: history, path: path)
        case .group: return try await runGroup(node, input: input, history: history, path: path)
        case .swarm: return try await runSwarm(node, input: input, history: history, path: path)
        }
    }

    @inline(never)
    private func runAgent(_ node: Runnable, input: String, history: [Message], path: String) async throws -> NodeResult {
        let (loop, start) = agentLoop(of: node, path: path, start: history + [.user(input)])
        switch try await loop.run(messages: start) {
        case .finished(let output, let messages, let parsed): return NodeResult(output: output, messages: messages, parsed: parsed)
        case .handoff(_, let messages): return NodeResult(output: outputOf(messages), messages: messages)
        }
    }

    @inline(never)
    private func runGroup(_ node: Runnable, input: String, history: [Message], path: String) async throws -> NodeResult {
        guard case .group(let group) = node else { preconditionFailure("runGroup of \(node.name)") }
        let members = group.agents.enumerated().map { (memberPath(path, $0.offset), $0.element) }
        switch group.kind {
        case .parallel: return try await runParallel(members, input: input, history: history)
        case .serial: return try await runChain(members.map { [$0] }, input: input, history: history)
        }
    }

    @inline(never)
    private func runSwarm(_ node: Runnable, input: String, history: [Message], path: String) async throws -> NodeResult {
        guard case .swarm(let swarm) = node else { preconditionFailure("runSwarm of \(node.name)") }
        switch swarm.mode {
        case .workflow:
            let byName = Dictionary(uniqueKeysWithValues: swarm.agents.enumerated().map {
                ($0.element.name, (memberPath(path, $0.offset), $0.element))
            })
            let stages = try swarm.workflowStages().map { $0.map { byName[$0]! } }
            return try await runChain(stages, input: input, history: history)
        case .handoff:
            return try await runHandoff(swarm, input: input, history: history, path: path)
        case .team:
            return try await runTeam(swarm, input: input, history: history, path: path)
        }
    }

    /// A member's run: its recorded output when a resumed checkpoint says it finished, else a
    /// run whose end is recorded. (A recorded output passed its schema when it was recorded.)
    private func runMember(_ member: Runnable, path: String, input: String) async throws -> NodeResult {
        if case .finished(let output)? = context.checkpoints?.progress(at: path) {
            return NodeResult(output: output, messages: [], parsed: member.structuredOutput(of: output))
        }
        await announce(member)
        let result = try await run(member, input: input, history: [], path: path)
        await context.checkpoints?.finished(path, output: result.output)
        return result
    }

    /// An agent's step loop at `path`, resuming from its recorded transcript when there is one and
    /// recording each completed step.
    @inline(never)
    private func agentLoop(_ agent: Agent, path: String, start: [Message], extraTools: [Tool] = [],
                           handoffTargets: [String] = []) -> (loop: AgentLoop, start: [Message]) {
        var messages = start
        var (stepsDone, resumeStep): (Int, SuspendedStep?) = (0, nil)
        if case .running(let progress)? = context.checkpoints?.progress(at: path), progress.agent == nil {
            messages = progress.messages
            (stepsDone, resumeStep) = (progress.steps, progress.suspended)
        }
        guard let checkpoints = context.checkpoints else {
            return (AgentLoop(agent: agent, extraTools: extraTools, handoffTargets: handoffTargets, context: context), messages)
        }
        let loop = AgentLoop(agent: agent, extraTools: extraTools, handoffTargets: handoffTargets, context: context,
                             stepsDone: stepsDone, resumeStep: resumeStep, onStepCompleted: { transcript, steps in
            await checkpoints.record(AgentProgress(messages: transcript, steps: steps), at: path)
        }, onSuspended: { transcript, steps, suspended in
            checkpoints.suspend(AgentProgress(messages: transcript, steps: steps, suspended: suspended), at: path)
        })
        return (loop, messages)
    }

    /// `agentLoop` of an agent node.
    @inline(never)
    private func agentLoop(of node: Runnable, path: String, start: [Message]) -> (loop: AgentLoop, start: [Message]) {
        guard case .agent(let agent) = node else { preconditionFailure("agentLoop of \(node.name)") }
        return agentLoop(agent, path: path, start: start)
    }

    private func outputOf(_ messages: [Message]) -> String {
        messages.last(where: { $0.role == .assistant })?.content ?? ""
    }

    private func announce(_ node: Runnable) async {
        await context.emit(.status(StatusEvent(status: .running, agentName: node.name, message: "\(node.name) started")))
    }

    /// Stages in order, each stage's output the next one's input. The transcript is the history,
    /// the user's input, and the final output: a conversation that can be continued.
    private func runChain(_ stages: [[(path: String, node: Runnable)]], input: String,
                          history: [Message]) async throws -> NodeResult {
        var current = NodeResult(output: input, messages: [])
        for stage in stages {
            if stage.count == 1 {
                current = try await runMember(stage[0].node, path: stage[0].path, input: current.output)
            } else {
                current = try await runParallel(stage, input: current.output, history: [])
            }
        }
        return NodeResult(output: current.output, messages: history + [.user(input), .assistant(current.output)], parsed: current.parsed)
    }

    /// All members at once on the same input; outputs joined in member order, separated by a blank line.
    private func runParallel(_ members: [(path: String, node: Runnable)], input: String,
                             history: [Message]) async throws -> NodeResult {
        let outputs = try await withThrowingTaskGroup(of: (Int, String).self) { group in
            for (index, member) in members.enumerated() {
                group.addTask {
                    (index, try await runMember(member.node, path: member.path, input: input).output)
                }
            }
            var outputs = Array(repeating: "", count: members.count)
            for try await (index, output) in group { outputs[index] = output }
            return outputs
        }
        let joined = outputs.joined(separator: "\n\n")
        return NodeResult(output: joined, messages: history + [.user(input), .assistant(joined)])
    }

    /// The first member answers; a `transfer_to_<name>` call (or a reply that is exactly a target's
    /// name) passes the whole conversation on, up to `max_handoffs` times. The checkpoint at the
    /// swarm's path names the agent holding the conversation.
    private func runHandoff(_ swarm: Swarm, input: String, history: [Message],
                            path: String) async throws -> NodeResult {
        let byName = Dictionary(uniqueKeysWithValues: swarm.agents.map { ($0.name, $0) })
        var current = swarm.agents[0]
        var messages = history + [.user(input)]
        var handoffs = 0
        var stepsDone = 0
        var suspended: SuspendedStep?
        if case .running(let progress)? = context.checkpoints?.progress(at: path), let agent = progress.agent,
           let member = byName[agent] {
            (current, messages, handoffs, stepsDone, suspended) = (member, progress.messages, progress.handoffs, progress.steps, progress.suspended)
        }
        while true {
            await announce(current)
            guard case .agent(let agent) = current else {
                let result = try await run(current, input: lastUserText(messages) ?? input, history: [],
                                           path: memberPath(path, swarm.agents.firstIndex { $0.name == current.name } ?? 0))
                return NodeResult(output: result.output, messages: messages + [.assistant(result.output)], parsed: result.parsed)
            }
            let targets = agent.handoffs.filter { byName[$0] != nil }
            let loop: AgentLoop
            if let checkpoints = context.checkpoints {
                let hops = handoffs
                loop = AgentLoop(agent: agent, handoffTargets: targets, context: context, stepsDone: stepsDone,
                                 resumeStep: suspended.take(), onStepCompleted: { transcript, steps in
                    await checkpoints.record(AgentProgress(messages: transcript, steps: steps, agent: agent.name, handoffs: hops), at: path)
                }, onSuspended: { transcript, steps, step in
                    checkpoints.suspend(AgentProgress(messages: transcript, steps: steps, agent: agent.name, handoffs: hops,
                                                      suspended: step), at: path)
                })
            } else {
                loop = AgentLoop(agent: agent, handoffTargets: targets, context: context, stepsDone: stepsDone, resumeStep: suspended.take())
            }
            switch try await loop.run(messages: messages) {
            case .finished(let output, let transcript, let parsed):
                return NodeResult(output: output, messages: transcript, parsed: parsed)
            case .handoff(let target, let transcript):
                handoffs += 1
                guard handoffs <= swarm.maxHandoffs else {
                    let error = OrbiterError.maxHandoffsExceeded(swarm: swarm.name, maxHandoffs: swarm.maxHandoffs)
                    await context.emit(.error(ErrorEvent(error: error.description, errorType: error.typeName, agentName: agent.name)))
                    throw ReportedFailure(underlying: error, agentName: agent.name)
                }
                messages = transcript
                current = byName[target]!
                stepsDone = 0
                await context.checkpoints?.record(AgentProgress(messages: messages, steps: 0, agent: target, handoffs: handoffs), at: path)
            }
        }
    }

    private func lastUserText(_ messages: [Message]) -> String? {
        messages.last(where: { $0.role == .user })?.content
    }

    /// The first member leads with a `delegate_to_<member>` tool per other member; a delegated
    /// run's output is that tool's result. Tools are added to a copy, per run. The leader's steps
    /// are checkpointed; a delegation records its progress inside the leader's path, under the
    /// delegating call's id, until the leader's step completes, so a delegation that stopped for
    /// a person resumes where it stood (other delegations of an unfinished step run again).
    private func runTeam(_ swarm: Swarm, input: String, history: [Message],
                         path: String) async throws -> NodeResult {
        guard case .agent(let leader) = swarm.agents[0] else {
            throw OrbiterError.invalidConfiguration("swarm '\(swarm.name)': the first member of a team must be an agent (the leader)")
        }
        let runner = self
        let leaderPath = memberPath(path, 0)
        let delegates = swarm.agents.enumerated().dropFirst().map { index, member in
            Tool(name: "delegate_to_\(member.name)", description: "Give a task to the team member '\(member.name)' and get its answer.",
                 parameters: ["type": "object", "properties": ["task": ["type": "string", "description": "What the member should do"]],
                              "required": ["task"]]) { args in
                await runner.announce(member)
                // Each delegation starts afresh (the same member may be asked several times): its
                // progress is its call's own.
                let task = args["task"]?.stringValue ?? ""
                guard let call = ToolCallScope.current?.call.id else {
                    return .string(try await NodeRunner(context: runner.context.withoutCheckpoints)
                        .run(member, input: task, history: [], path: memberPath(path, index)).output)
                }
                return .string(try await runner.run(member, input: task, history: [], path: "\(leaderPath)/\(index)@\(call)").output)
            }
        }
        await announce(swarm.agents[0])
        let (loop, start) = agentLoop(leader, path: leaderPath, start: history + [.user(input)], extraTools: delegates)
        switch try await loop.run(messages: start) {
        case .finished(let output, let transcript, let parsed): return NodeResult(output: output, messages: transcript, parsed: parsed)
        case .handoff(_, let transcript): return NodeResult(output: outputOf(transcript), messages: transcript)
        }
    }
}

/// What a node's run gave: its output, the transcript, and the decoded output when the node that
/// produced the output has an output schema.
struct NodeResult: Sendable {
    var output: String
    var messages: [Message]
    var parsed: JSONValue? = nil
}

extension Runnable {
    /// The decoded form of `output` when this node's output comes from an agent with an output
    /// schema (used for outputs recorded in a checkpoint, which were checked when recorded).
    func structuredOutput(of output: String) -> JSONValue? {
        guard case .agent(let agent) = self, let schema = agent.output else { return nil }
        return try? OutputDecoding.decode(output, against: schema).get()
    }
}
