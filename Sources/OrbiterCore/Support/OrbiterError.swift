/// Errors of agents and runs. Each message is written for the person who has to fix it.
public enum OrbiterError: Error, CustomStringConvertible, Sendable, Equatable {
    /// An agent, tool or swarm definition is wrong (unknown provider, bad flow, bad dict).
    case invalidConfiguration(String)
    /// The agent used all its steps without giving a final answer.
    case maxStepsExceeded(agent: String, maxSteps: Int)
    /// A handoff chain was longer than the swarm allows.
    case maxHandoffsExceeded(swarm: String, maxHandoffs: Int)
    /// A run took longer than its timeout.
    case timeout(seconds: Double)
    /// A tool failed; the model sees this message.
    case toolFailed(tool: String, message: String)
    /// A script (Lua) failed; the message carries `path:line:`.
    case script(String)
    /// The final answer did not match the agent's output schema (or its `on_output` hook
    /// rejected it), also after the repair turn.
    case outputValidation(agent: String, message: String)
    /// A hook stopped the run on purpose (`before_model` returned a reason).
    case stoppedByHook(agent: String, hook: String, reason: String)
    /// A tool needs a person (an approval, `orbiter.ask`) and no one can be asked here: no
    /// terminal, or a host that cannot wait. The message says what to do instead.
    case humanInputUnavailable(String)
    /// A parked task waited longer than its wait timeout for a person's reply.
    case inputTimeout(seconds: Double)
    /// A run reached a budget (`scope`: `task`, `agent 'x'`, `tenant 'acme'`) and was stopped
    /// before its next model call; `limit` and `spent` carry their units (`1000 tokens`, `0.5 USD`).
    case budgetExceeded(scope: String, limit: String, spent: String)

    public var description: String {
        switch self {
        case .invalidConfiguration(let m): return m
        case .maxStepsExceeded(let agent, let n): return "agent '\(agent)' reached max_steps (\(n)) without a final answer"
        case .maxHandoffsExceeded(let swarm, let n): return "swarm '\(swarm)' exceeded max_handoffs (\(n))"
        case .timeout(let s): return "run timed out after \(formatSeconds(s)) s"
        case .toolFailed(let tool, let m): return "tool '\(tool)' failed: \(m)"
        case .script(let m): return m
        case .outputValidation(let agent, let m): return "agent '\(agent)': \(m)"
        case .stoppedByHook(let agent, let hook, let reason): return "agent '\(agent)': stopped by its \(hook) hook: \(reason)"
        case .humanInputUnavailable(let m): return m
        case .inputTimeout(let s):
            return "no reply from a person within \(describeDuration(s)) (the task's wait timeout)"
        case .budgetExceeded(let scope, let limit, let spent):
            return "\(scope) budget of \(limit) exceeded: \(spent) spent; stopped before the next model call"
        }
    }

    /// The `error_type` of the `error` event, matching the original's exception names.
    public var typeName: String {
        switch self {
        case .invalidConfiguration: return "ConfigurationError"
        case .maxStepsExceeded: return "MaxStepsExceeded"
        case .maxHandoffsExceeded: return "MaxHandoffsExceeded"
        case .timeout: return "TimeoutError"
        case .toolFailed: return "ToolError"
        case .script: return "ScriptError"
        case .outputValidation: return "OutputValidationError"
        case .stoppedByHook: return "StoppedByHook"
        case .humanInputUnavailable: return "HumanInputUnavailable"
        case .inputTimeout: return "InputTimeout"
        case .budgetExceeded: return "BudgetExceeded"
        }
    }
}

func formatSeconds(_ s: Double) -> String {
    s.rounded() == s ? String(Int(s)) : String(s)
}

/// `45 s`, `5 min`, `24 h`, `2 d` (whole units where they fit, else seconds).
public func describeDuration(_ s: Double) -> String {
    for (unit, name) in [(86_400.0, "d"), (3_600.0, "h"), (60.0, "min")] where s >= unit && (s / unit).rounded() == s / unit {
        return "\(Int(s / unit)) \(name)"
    }
    return "\(formatSeconds(s)) s"
}

/// The `error_type` name for any error: our own names for Orbiter errors, else the Swift type name.
public func errorTypeName(_ error: any Error) -> String {
    if let e = error as? OrbiterError { return e.typeName }
    if error is ModelError { return "ModelError" }
    if error is CancellationError { return "CancelledError" }
    return String(describing: type(of: error))
}

/// A one-line message for any error (its description, not Swift's debug dump).
public func errorMessage(_ error: any Error) -> String {
    if error is CancellationError { return "cancelled" }
    return String(describing: error)
}
