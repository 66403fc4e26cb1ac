import Synchronization

/// Where a run stands: enough to continue it elsewhere after its worker died.
///
/// Every node of the run has a path: `""` is the root, `"1"` its second member, `"1/0"` that
/// member's first member. An agent part-way through records its transcript after each completed
/// step; a member that finished records its output, so a resumed swarm skips it. Tools of
/// recorded steps are not run again. (A team's delegations are tool calls of its leader: they are
/// covered by the leader's steps.)
public struct Checkpoint: Sendable, Equatable {
    /// What each node has done, by path.
    public var nodes: [String: NodeProgress]
    /// Usage summed over every completed step of the run.
    public var usage: Usage
    /// Steps completed in the whole run.
    public var steps: Int
    /// Usage by agent and model, so a resumed run's costs and budgets count what came before.
    public var spend: [SpendEntry] = []

    public init(nodes: [String: NodeProgress] = [:], usage: Usage = .zero, steps: Int = 0, spend: [SpendEntry] = []) {
        self.nodes = nodes
        self.usage = usage
        self.steps = steps
        self.spend = spend
    }

    /// A single agent's checkpoint: its transcript after `steps` steps.
    public init(messages: [Message], usage: Usage, steps: Int) {
        self.init(nodes: ["": .running(AgentProgress(messages: messages, steps: steps))], usage: usage, steps: steps)
    }

    /// The root agent's transcript, when the root is an agent part-way through.
    public var messages: [Message] {
        if case .running(let progress)? = nodes[""] { return progress.messages }
        return []
    }

    /// `{"version": 2, "nodes": {path: {"output"} | {"messages", "steps", "agent"?, "handoffs"?}}, "usage", "steps",
    /// "spend"?: [{"agent", "model", "usage"}]}`.
    public var json: JSONValue {
        var d: [String: JSONValue] = ["version": 2, "nodes": .object(nodes.mapValues(\.json)), "usage": usage.json,
                                      "steps": .int(steps)]
        if !spend.isEmpty { d["spend"] = .array(spend.map(\.json)) }
        return .object(d)
    }

    /// Reads version 2, or version 1 (`{"messages", "usage", "steps"}`, a single agent's).
    public init(json: JSONValue) throws {
        // Checkpoints come back from Redis: counts out of range would change how long a run may go.
        guard let steps = json["steps"]?.intValue, steps >= 0 else {
            throw OrbiterError.invalidConfiguration("checkpoint must have 'steps', 0 or more")
        }
        if let list = json["messages"]?.arrayValue {
            self.init(messages: try list.map(Message.init(json:)), usage: Usage(json: json["usage"]), steps: steps)
            return
        }
        guard let nodes = json["nodes"]?.objectValue else {
            throw OrbiterError.invalidConfiguration("checkpoint must have 'nodes' (or a version 1 'messages')")
        }
        self.init(nodes: try nodes.mapValues(NodeProgress.init(json:)), usage: Usage(json: json["usage"]), steps: steps,
                  spend: try (json["spend"]?.arrayValue ?? []).map(SpendEntry.init(json:)))
    }
}

/// One node's part of a checkpoint.
public enum NodeProgress: Sendable, Equatable {
    /// The node finished with this output; a resumed run does not run it again.
    case finished(output: String)
    /// An agent (or a handoff swarm's current agent) part-way through.
    case running(AgentProgress)

    var json: JSONValue {
        switch self {
        case .finished(let output): return ["output": .string(output)]
        case .running(let p):
            var object: [String: JSONValue] = ["messages": .array(p.messages.map(\.json)), "steps": .int(p.steps)]
            if let agent = p.agent { object["agent"] = .string(agent) }
            if p.handoffs > 0 { object["handoffs"] = .int(p.handoffs) }
            if let suspended = p.suspended { object["suspended"] = suspended.json }
            return .object(object)
        }
    }

    init(json: JSONValue) throws {
        if let output = json["output"]?.stringValue {
            self = .finished(output: output)
            return
        }
        guard let list = json["messages"]?.arrayValue, let steps = json["steps"]?.intValue, steps >= 0 else {
            throw OrbiterError.invalidConfiguration("checkpoint node must have 'output', or 'messages' and 'steps' (0 or more)")
        }
        let handoffs = json["handoffs"]?.intValue ?? 0
        guard handoffs >= 0 else { throw OrbiterError.invalidConfiguration("checkpoint node 'handoffs' must be 0 or more") }
        self = .running(AgentProgress(messages: try list.map(Message.init(json:)), steps: steps,
                                      agent: json["agent"]?.stringValue, handoffs: handoffs,
                                      suspended: try json["suspended"].map(SuspendedStep.init(json:))))
    }
}

/// An agent's transcript after its completed steps.
public struct AgentProgress: Sendable, Equatable {
    /// The conversation so far (history, input, and every completed step).
    public var messages: [Message]
    /// Steps this agent completed.
    public var steps: Int
    /// In a handoff swarm: the agent holding the conversation, and how many handoffs led there.
    public var agent: String?
    public var handoffs: Int
    /// The step under way when the run stopped to wait for a person (its model reply is the last
    /// message): a resumed run goes on with its calls instead of asking the model again.
    public var suspended: SuspendedStep?

    public init(messages: [Message], steps: Int, agent: String? = nil, handoffs: Int = 0, suspended: SuspendedStep? = nil) {
        self.messages = messages
        self.steps = steps
        self.agent = agent
        self.handoffs = handoffs
        self.suspended = suspended
    }
}

/// Collects a run's progress and hands each new state to the saver, one save at a time, the
/// latest last (parallel branches report at once).
final class Checkpointer: Sendable {
    private struct State {
        var checkpoint: Checkpoint
        var saving = false
        var dirty = false
    }

    private let state: Mutex<State>
    private let save: @Sendable (Checkpoint) async -> Void
    private let ledger: RunContext.Ledger

    init(resume: Checkpoint?, ledger: RunContext.Ledger, save: @escaping @Sendable (Checkpoint) async -> Void) {
        state = Mutex(State(checkpoint: resume ?? Checkpoint()))
        self.ledger = ledger
        self.save = save
    }

    /// What the resumed checkpoint (or the run since) recorded for `path`.
    func progress(at path: String) -> NodeProgress? { state.withLock { $0.checkpoint.nodes[path] } }

    /// Records an agent's progress after a completed step and saves. Nodes inside `path` (a team
    /// leader's delegations, which end within the leader's step) are dropped with it.
    func record(_ progress: AgentProgress, at path: String) async {
        await update { checkpoint in
            checkpoint.nodes[path] = .running(progress)
            if !path.isEmpty {
                for key in checkpoint.nodes.keys where key.hasPrefix(path + "/") { checkpoint.nodes[key] = nil }
            }
        }
    }

    /// Records an agent's step that stopped for a person, without saving: the run is about to park,
    /// and parking stores `current` atomically with the task's new state.
    func suspend(_ progress: AgentProgress, at path: String) {
        let (usage, steps, spend) = (ledger.usage, ledger.steps, ledger.meter.entries)
        state.withLock { state in
            state.checkpoint.nodes[path] = .running(progress)
            state.checkpoint.usage = usage
            state.checkpoint.steps = steps
            state.checkpoint.spend = spend
        }
    }

    /// The run's progress as recorded so far.
    var current: Checkpoint { state.withLock { $0.checkpoint } }

    /// Records that the node at `path` finished (dropping what its own members recorded) and saves.
    func finished(_ path: String, output: String) async {
        await update { checkpoint in
            let inside = path.isEmpty ? "" : path + "/"
            for key in checkpoint.nodes.keys where key != path && key.hasPrefix(inside) { checkpoint.nodes[key] = nil }
            checkpoint.nodes[path] = .finished(output: output)
        }
    }

    private func update(_ change: (inout Checkpoint) -> Void) async {
        let (usage, steps, spend) = (ledger.usage, ledger.steps, ledger.meter.entries)
        let startSaving = state.withLock { state -> Bool in
            change(&state.checkpoint)
            state.checkpoint.usage = usage
            state.checkpoint.steps = steps
            state.checkpoint.spend = spend
            state.dirty = true
            guard !state.saving else { return false }
            state.saving = true
            return true
        }
        guard startSaving else { return } // the save under way picks this state up next
        while let next = state.withLock({ state -> Checkpoint? in
            guard state.dirty else {
                state.saving = false
                return nil
            }
            state.dirty = false
            return state.checkpoint
        }) {
            await save(next)
        }
    }
}

/// A member's path below its parent's.
func memberPath(_ parent: String, _ index: Int) -> String { parent.isEmpty ? String(index) : "\(parent)/\(index)" }
