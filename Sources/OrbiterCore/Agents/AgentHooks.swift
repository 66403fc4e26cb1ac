/// Code an agent runs around its model and tool calls: guardrails, redaction, approval of
/// answers. A Lua agent's hooks are functions of its script (`hooks = {...}`); a Swift agent sets
/// closures. A hook that throws fails the run.
public struct AgentHooks: Sendable {
    /// The hooks by the names scripts and `to_dict` use.
    public enum Name: String, Sendable, CaseIterable {
        case beforeModel = "before_model", beforeTool = "before_tool", afterTool = "after_tool", onOutput = "on_output"
    }

    /// Before each model call: may change the request's messages (for that call only), or stop the run.
    public var beforeModel: (@Sendable (ModelRequest) async throws -> ModelRequestDecision)?
    /// Before each tool call: may deny it; the model then sees the failed result `denied: reason`.
    public var beforeTool: (@Sendable (ToolCall) async throws -> ToolCallDecision)?
    /// After each tool call (or denial): may replace what the model is sent back (`nil`: keep it).
    public var afterTool: (@Sendable (ToolCall, ToolCallResult) async throws -> JSONValue?)?
    /// On the final answer (after it matched the output schema, when there is one): may reject
    /// it; the model gets one more turn with the reason, then the run fails.
    public var onOutput: (@Sendable (_ text: String, _ parsed: JSONValue?) async throws -> OutputDecision)?

    public init(beforeModel: (@Sendable (ModelRequest) async throws -> ModelRequestDecision)? = nil,
                beforeTool: (@Sendable (ToolCall) async throws -> ToolCallDecision)? = nil,
                afterTool: (@Sendable (ToolCall, ToolCallResult) async throws -> JSONValue?)? = nil,
                onOutput: (@Sendable (String, JSONValue?) async throws -> OutputDecision)? = nil) {
        self.beforeModel = beforeModel
        self.beforeTool = beforeTool
        self.afterTool = afterTool
        self.onOutput = onOutput
    }

    /// The names of the hooks that are set, in a fixed order (what `to_dict` lists).
    public var names: [String] {
        var names: [Name] = []
        if beforeModel != nil { names.append(.beforeModel) }
        if beforeTool != nil { names.append(.beforeTool) }
        if afterTool != nil { names.append(.afterTool) }
        if onOutput != nil { names.append(.onOutput) }
        return names.map(\.rawValue)
    }

    /// No hook is set.
    public var isEmpty: Bool { names.isEmpty }
}

/// What `before_model` decided.
public enum ModelRequestDecision: Sendable {
    /// Send this request (the original, or one with edited messages).
    case proceed(ModelRequest)
    /// Stop the run; it fails with `StoppedByHook` and this reason.
    case stop(reason: String)
}

/// What `before_tool` decided.
public enum ToolCallDecision: Sendable, Equatable {
    case allow
    /// The tool does not run; the model sees the failed result `denied: reason`.
    case deny(reason: String)
}

/// What `on_output` decided.
public enum OutputDecision: Sendable, Equatable {
    case accept
    /// The model gets one more turn, told the reason; a second rejection fails the run.
    case reject(reason: String)
}

/// What one tool call gave, as `after_tool` sees it.
public struct ToolCallResult: Sendable, Hashable {
    /// What the tool returned; `nil` when it failed (or was denied).
    public var value: JSONValue?
    /// Why it failed, when it did.
    public var error: String?

    public init(value: JSONValue?, error: String? = nil) {
        self.value = value
        self.error = error
    }
}
