/// Runs any node (agent, swarm, group) within one run's context.
struct NodeRunner: Sendable {
    let context: RunContext

    /// The output and transcript of one node run on `input` after `history`.
    func run(_ node: Runnable, input: String, history: [Message]) async throws -> (output: String, messages: [Message]) {
        switch node {
        case .agent(let agent):
            switch try await AgentLoop(agent: agent, context: context).run(messages: history + [.user(input)]) {
            case .finished(let output, let messages): return (output, messages)
            case .handoff(_, let messages): return (outputOf(messages), messages)
            }
        case .group(let group):
            switch group.kind {
            case .parallel: return try await runParallel(group.agents, input: input, history: history)
            case .serial: return try await runChain(group.agents.map { [$0] }, input: input, history: history)
            }
        case .swarm(let swarm):
            switch swarm.mode {
            case .workflow:
                let byName = Dictionary(uniqueKeysWithValues: swarm.agents.map { ($0.name, $0) })
                let stages = try swarm.workflowStages().map { $0.map { byName[$0]! } }
                return try await runChain(stages, input: input, history: history)
            case .handoff:
                return try await runHandoff(swarm, input: input, history: history)
            case .team:
                return try await runTeam(swarm, input: input, history: history)
            }
        }
    }

    private func outputOf(_ messages: [Message]) -> String {
        messages.last(where: { $0.role == .assistant })?.content ?? ""
    }

    private func announce(_ node: Runnable) async {
        await context.emit(.status(StatusEvent(status: .running, agentName: node.name, message: "\(node.name) started")))
    }

    /// Stages in order, each stage's output the next one's input. The transcript is the history,
    /// the user's input, and the final output: a conversation that can be continued.
    private func runChain(_ stages: [[Runnable]], input: String, history: [Message]) async throws -> (output: String, messages: [Message]) {
        var current = input
        for stage in stages {
            if stage.count == 1 {
                await announce(stage[0])
                current = try await run(stage[0], input: current, history: [])
                    .output
            } else {
                current = try await runParallel(stage, input: current, history: []).output
            }
        }
        return (current, history + [.user(input), .assistant(current)])
    }

    /// All members at once on the same input; outputs joined in member order, separated by a blank line.
    private func runParallel(_ members: [Runnable], input: String, history: [Message]) async throws -> (output: String, messages: [Message]) {
        let outputs = try await withThrowingTaskGroup(of: (Int, String).self) { group in
            for (index, member) in members.enumerated() {
                group.addTask {
                    await announce(member)
                    return (index, try await run(member, input: input, history: []).output)
                }
            }
            var outputs = Array(repeating: "", count: members.count)
            for try await (index, output) in group { outputs[index] = output }
            return outputs
        }
        let joined = outputs.joined(separator: "\n\n")
        return (joined, history + [.user(input), .assistant(joined)])
    }

    /// The first member answers; a `transfer_to_<name>` call (or a reply that is exactly a target's
    /// name) passes the whole conversation on, up to `max_handoffs` times.
    private func runHandoff(_ swarm: Swarm, input: String, history: [Message]) async throws -> (output: String, messages: [Message]) {
        let byName = Dictionary(uniqueKeysWithValues: swarm.agents.map { ($0.name, $0) })
        var current = swarm.agents[0]
        var messages = history + [.user(input)]
        var handoffs = 0
        while true {
            await announce(current)
            guard case .agent(let agent) = current else {
                let result = try await run(current, input: lastUserText(messages) ?? input, history: [])
                return (result.output, messages + [.assistant(result.output)])
            }
            let loop = AgentLoop(agent: agent, handoffTargets: agent.handoffs.filter { byName[$0] != nil }, context: context)
            switch try await loop.run(messages: messages) {
            case .finished(let output, let transcript):
                return (output, transcript)
            case .handoff(let target, let transcript):
                handoffs += 1
                guard handoffs <= swarm.maxHandoffs else {
                    let error = OrbiterError.maxHandoffsExceeded(swarm: swarm.name, maxHandoffs: swarm.maxHandoffs)
                    await context.emit(.error(ErrorEvent(error: error.description, errorType: error.typeName, agentName: agent.name)))
                    throw ReportedFailure(underlying: error, agentName: agent.name)
                }
                messages = transcript
                current = byName[target]!
            }
        }
    }

    private func lastUserText(_ messages: [Message]) -> String? {
        messages.last(where: { $0.role == .user })?.content
    }

    /// The first member leads with a `delegate_to_<member>` tool per other member; a delegated
    /// run's output is that tool's result. Tools are added to a copy, per run.
    private func runTeam(_ swarm: Swarm, input: String, history: [Message]) async throws -> (output: String, messages: [Message]) {
        guard case .agent(let leader) = swarm.agents[0] else {
            throw OrbiterError.invalidConfiguration("swarm '\(swarm.name)': the first member of a team must be an agent (the leader)")
        }
        let runner = self
        let delegates = swarm.agents.dropFirst().map { member in
            Tool(name: "delegate_to_\(member.name)", description: "Give a task to the team member '\(member.name)' and get its answer.",
                 parameters: ["type": "object", "properties": ["task": ["type": "string", "description": "What the member should do"]],
                              "required": ["task"]]) { args in
                await runner.announce(member)
                let result = try await runner.run(member, input: args["task"]?.stringValue ?? "", history: [])
                return .string(result.output)
            }
        }
        await announce(swarm.agents[0])
        let loop = AgentLoop(agent: leader, extraTools: delegates, context: context)
        switch try await loop.run(messages: history + [.user(input)]) {
        case .finished(let output, let transcript): return (output, transcript)
        case .handoff(_, let transcript): return (outputOf(transcript), transcript)
        }
    }
}
