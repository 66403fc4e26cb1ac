/// A parsed workflow: stages in order, each one member or several run in parallel.
///
/// Grammar: `sequence := branches (">>" branches)*`, `branches := item ("|" item)*`,
/// `item := name | "(" sequence ")"`. `|` binds tighter than `>>`, so `a | b >> c` is
/// `(a | b) >> c`; parentheses may wrap anything (`((a | b) >> c)`), but each parallel branch
/// must come down to one agent.
public struct SwarmFlow: Sendable, Hashable {
    /// Member names per stage; a stage with several names runs them concurrently.
    public var stages: [[String]]

    /// Parses and checks a flow against the member names; errors quote the flow and name the column.
    public init(parsing flow: String, members: [String]) throws {
        var parser = FlowParser(flow: flow)
        let stages = try parser.parse()
        var seen = Set<String>()
        for name in stages.joined() {
            guard members.contains(name) else {
                throw parser.bad("unknown agent '\(name)'; members are: \(members.joined(separator: ", "))")
            }
            guard seen.insert(name).inserted else { throw parser.bad("agent '\(name)' appears twice (a cycle)") }
        }
        self.stages = stages
    }

    /// The default flow: every member in list order.
    public init(sequential members: [String]) {
        stages = members.map { [$0] }
    }
}

/// Recursive descent over the flow's characters; each rule returns the stages it stands for.
private struct FlowParser {
    let flow: String
    private let chars: [Character]
    private var position = 0

    init(flow: String) {
        self.flow = flow
        chars = Array(flow)
    }

    func bad(_ why: String) -> OrbiterError { .invalidConfiguration("invalid flow \"\(flow)\": \(why)") }

    private func bad(_ why: String, at column: Int) -> OrbiterError { bad("\(why) (column \(column + 1))") }

    mutating func parse() throws -> [[String]] {
        skipSpaces()
        guard position < chars.count else { throw bad("it is empty; write member names joined by '>>' (in order) and '|' (at once)") }
        let stages = try sequence()
        skipSpaces()
        if position < chars.count { throw bad("unexpected '\(chars[position])'", at: position) }
        return stages
    }

    private mutating func sequence() throws -> [[String]] {
        var stages = try branches()
        while accept(">>") { stages += try branches() }
        return stages
    }

    private mutating func branches() throws -> [[String]] {
        let start = position
        var items = [try item()]
        while accept("|") { items.append(try item()) }
        guard items.count > 1 else { return items[0] }
        var names: [String] = []
        for stages in items {
            guard stages.count == 1 else {
                let text = String(chars[start..<position]).trimmingCharacters(in: .whitespaces)
                throw bad("each branch of '\(text)' must be one agent, not a sequence; put the sequence in a "
                          + "swarm of its own and use that swarm as a member", at: start)
            }
            names += stages[0]
        }
        return [names]
    }

    private mutating func item() throws -> [[String]] {
        skipSpaces()
        let start = position
        if accept("(") {
            let stages = try sequence()
            guard accept(")") else { throw bad("'(' at column \(start + 1) is not closed", at: position) }
            return stages
        }
        // A name runs to the next operator or parenthesis (member names may hold spaces).
        while position < chars.count, !"()|".contains(chars[position]),
              !(chars[position] == ">" && position + 1 < chars.count && chars[position + 1] == ">") {
            position += 1
        }
        let name = String(chars[start..<position]).trimmingCharacters(in: .whitespaces)
        guard !name.isEmpty else {
            let found = position < chars.count ? "'\(chars[position])'" : "the end"
            throw bad("expected an agent name or '(', found \(found)", at: position)
        }
        return [[name]]
    }

    /// Consumes `token` (after spaces) when it comes next.
    private mutating func accept(_ token: String) -> Bool {
        skipSpaces()
        let t = Array(token)
        guard position + t.count <= chars.count, Array(chars[position..<(position + t.count)]) == t else { return false }
        position += t.count
        return true
    }

    private mutating func skipSpaces() {
        while position < chars.count, chars[position].isWhitespace { position += 1 }
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
