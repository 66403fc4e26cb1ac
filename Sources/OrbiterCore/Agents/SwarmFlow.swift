/// A parsed workflow: stages in order, each one member or several run in parallel.
///
/// Grammar: `stage (">>" stage)*`, where a stage is a name or `(name | name ...)`.
public struct SwarmFlow: Sendable, Hashable {
    /// Member names per stage; a stage with several names runs them concurrently.
    public var stages: [[String]]

    /// Parses and checks a flow against the member names; errors quote the flow.
    public init(parsing flow: String, members: [String]) throws {
        func bad(_ why: String) -> OrbiterError { .invalidConfiguration("invalid flow \"\(flow)\": \(why)") }
        var stages: [[String]] = []
        for raw in flow.components(separatedBy: ">>") {
            var part = raw.trimmingCharacters(in: .whitespaces)
            guard !part.isEmpty else { throw bad("empty stage (check the '>>' separators)") }
            var names: [String]
            if part.hasPrefix("(") {
                guard part.hasSuffix(")") else { throw bad("unclosed '(' in stage '\(part)'") }
                part = String(part.dropFirst().dropLast())
                names = part.components(separatedBy: "|").map { $0.trimmingCharacters(in: .whitespaces) }
                guard names.allSatisfy({ !$0.isEmpty }) else { throw bad("empty name in parallel stage '(\(part))'") }
            } else {
                guard !part.contains("|"), !part.contains("(") && !part.contains(")") else {
                    throw bad("parallel stages are written in parentheses: '(a | b)'")
                }
                names = [part]
            }
            stages.append(names)
        }
        var seen = Set<String>()
        for name in stages.joined() {
            guard members.contains(name) else {
                throw bad("unknown agent '\(name)'; members are: \(members.joined(separator: ", "))")
            }
            guard seen.insert(name).inserted else { throw bad("agent '\(name)' appears twice (a cycle)") }
        }
        self.stages = stages
    }

    /// The default flow: every member in list order.
    public init(sequential members: [String]) {
        stages = members.map { [$0] }
    }
}

extension Swarm {
    /// Checks what can be checked before running: members, names, flow, handoff targets.
    public func validate() throws {
        guard !agents.isEmpty else { throw OrbiterError.invalidConfiguration("swarm '\(name)' has no agents") }
        let names = agents.map(\.name)
        if let dup = Dictionary(grouping: names, by: { $0 }).first(where: { $0.value.count > 1 })?.key {
            throw OrbiterError.invalidConfiguration("swarm '\(name)' has two members named '\(dup)'")
        }
        guard maxHandoffs >= 0 else { throw OrbiterError.invalidConfiguration("swarm '\(name)': max_handoffs must not be negative") }
        if let flow {
            guard mode == .workflow else {
                throw OrbiterError.invalidConfiguration("swarm '\(name)': flow is only used in workflow mode, not \(mode.rawValue)")
            }
            _ = try SwarmFlow(parsing: flow, members: names)
        }
        if mode == .handoff {
            for case .agent(let agent) in agents {
                for target in agent.handoffs where !names.contains(target) {
                    throw OrbiterError.invalidConfiguration(
                        "swarm '\(name)': agent '\(agent.name)' hands off to '\(target)', which is not a member")
                }
            }
        }
    }

    /// The stages this swarm runs in workflow mode.
    func workflowStages() throws -> [[String]] {
        if let flow { return try SwarmFlow(parsing: flow, members: agents.map(\.name)).stages }
        return SwarmFlow(sequential: agents.map(\.name)).stages
    }
}
