/// Several agents working as one: in a fixed flow, handing a conversation on, or as a team.
public struct Swarm: Sendable {
    /// How the members cooperate.
    public enum Mode: String, Sendable, Hashable, CaseIterable {
        /// Members run in `flow` order, each one's output the next one's input.
        case workflow
        /// The first member starts and may hand the conversation to one of its `handoffs`.
        case handoff
        /// The first member leads and delegates tasks to the others through tools.
        case team
    }

    public var name: String
    public var agents: [Runnable]
    public var mode: Mode
    /// Workflow order, e.g. `"a >> (b | c) >> d"`; `nil` means list order.
    public var flow: String?
    public var maxHandoffs: Int

    public init(name: String? = nil, agents: [Runnable], mode: Mode = .workflow, flow: String? = nil, maxHandoffs: Int = 10) {
        self.name = name ?? "swarm"
        self.agents = agents
        self.mode = mode
        self.flow = flow
        self.maxHandoffs = maxHandoffs
    }

    /// `{type: "swarm", name, agents, mode, flow, max_handoffs}`; members nest as their own dicts.
    public func toDict() -> JSONValue {
        .object([
            "type": "swarm",
            "name": .string(name),
            "agents": .array(agents.map { $0.toDict() }),
            "mode": .string(mode.rawValue),
            "flow": flow.map(JSONValue.string) ?? .null,
            "max_handoffs": .int(maxHandoffs),
        ])
    }
}

/// A group of members that behaves as one node: `parallel` runs all on the same input at once,
/// `serial` chains them. The original has these as `ParallelGroup` and `SerialGroup`.
public struct AgentGroup: Sendable {
    public enum Kind: String, Sendable, Hashable { case parallel, serial }
    public var name: String
    public var kind: Kind
    public var agents: [Runnable]

    public init(name: String, kind: Kind, agents: [Runnable]) {
        self.name = name
        self.kind = kind
        self.agents = agents
    }

    /// `{type: "parallel"|"serial", name, agents}`.
    public func toDict() -> JSONValue {
        .object(["type": .string(kind.rawValue), "name": .string(name), "agents": .array(agents.map { $0.toDict() })])
    }
}

/// Anything `run`, `run.stream` and `distributed` accept: an agent, a swarm, or a group.
public indirect enum Runnable: Sendable {
    case agent(Agent)
    case swarm(Swarm)
    case group(AgentGroup)

    /// The node's name, used as `agent_name` of its own status events.
    public var name: String {
        switch self {
        case .agent(let a): return a.name
        case .swarm(let s): return s.name
        case .group(let g): return g.name
        }
    }

    /// The serialisable form; `type` tells the kinds apart.
    public func toDict() -> JSONValue {
        switch self {
        case .agent(let a): return a.toDict()
        case .swarm(let s): return s.toDict()
        case .group(let g): return g.toDict()
        }
    }

    /// Rebuilds any node from `toDict` output. Dicts without `type` (the original's) are told apart
    /// by their fields: `mode` or `flow` means a swarm.
    public static func fromDict(_ dict: JSONValue, resolver: any DefinitionResolver) throws -> Runnable {
        guard dict.objectValue != nil else {
            throw OrbiterError.invalidConfiguration("an agent or swarm must be an object, got \(dict.jsonString.prefix(80))")
        }
        let type = dict["type"]?.stringValue ?? (dict["mode"] != nil || dict["flow"] != nil ? "swarm" : "agent")
        switch type {
        case "agent":
            return .agent(try Agent.fromDict(dict, resolver: resolver))
        case "swarm":
            let fields = try DictReader(dict, what: "swarm")
            let modeName = try fields.string("mode", default: "workflow")
            guard let mode = Swarm.Mode(rawValue: modeName) else {
                throw OrbiterError.invalidConfiguration("swarm field 'mode' must be one of workflow, handoff, team; got '\(modeName)'")
            }
            let members = try fields.array("agents").map { try fromDict($0, resolver: resolver) }
            let swarm = Swarm(name: try fields.optionalString("name"), agents: members, mode: mode,
                              flow: try fields.optionalString("flow"), maxHandoffs: try fields.int("max_handoffs", default: 10))
            try swarm.validate()
            return .swarm(swarm)
        case "parallel", "serial":
            let fields = try DictReader(dict, what: "\(type) group")
            let members = try fields.array("agents").map { try fromDict($0, resolver: resolver) }
            return .group(AgentGroup(name: try fields.string("name"), kind: AgentGroup.Kind(rawValue: type)!, agents: members))
        default:
            throw OrbiterError.invalidConfiguration("unknown node type '\(type)' (expected agent, swarm, parallel or serial)")
        }
    }
}

/// Lets `run`, `run.stream` and `distributed` take an `Agent`, a `Swarm` or a `Runnable` directly.
public protocol RunnableConvertible: Sendable {
    var runnable: Runnable { get }
}

extension Runnable: RunnableConvertible { public var runnable: Runnable { self } }
extension Agent: RunnableConvertible { public var runnable: Runnable { .agent(self) } }
extension Swarm: RunnableConvertible { public var runnable: Runnable { .swarm(self) } }
extension AgentGroup: RunnableConvertible { public var runnable: Runnable { .group(self) } }
