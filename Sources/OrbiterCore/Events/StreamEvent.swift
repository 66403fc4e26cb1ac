/// One event of a run, identical in local `run.stream` and distributed `handle.stream()`.
///
/// The JSON form uses the original's field names and a `type` discriminator, so consumers written
/// for the Python original parse ours unchanged.
///
/// `indirect`: an event is one pointer to a boxed case. Every `emit` of an async function keeps
/// a copy in that function's frame, which stays allocated while the run sleeps; inline, the
/// largest case (a `status`) made each such copy hundreds of bytes (issue 21: memory of tasks in
/// flight; `MemoryLayoutTests` guards the size).
public indirect enum StreamEvent: Sendable, Hashable {
    case text(TextEvent)
    case toolCall(ToolCallEvent)
    case toolResult(ToolResultEvent)
    case step(StepEvent)
    case status(StatusEvent)
    case error(ErrorEvent)
    case usage(UsageEvent)
    case reasoning(ReasoningEvent)

    /// The `type` field: `text`, `tool_call`, `tool_result`, `step`, `status`, `error`, `usage`, `reasoning`.
    public var type: String {
        switch self {
        case .text: return "text"
        case .toolCall: return "tool_call"
        case .toolResult: return "tool_result"
        case .step: return "step"
        case .status: return "status"
        case .error: return "error"
        case .usage: return "usage"
        case .reasoning: return "reasoning"
        }
    }

    /// The agent that produced the event.
    public var agentName: String {
        switch self {
        case .text(let e): return e.agentName
        case .toolCall(let e): return e.agentName
        case .toolResult(let e): return e.agentName
        case .step(let e): return e.agentName
        case .status(let e): return e.agentName
        case .error(let e): return e.agentName
        case .usage(let e): return e.agentName
        case .reasoning(let e): return e.agentName
        }
    }

    /// The types sent when `detailed` is off.
    public static let basicTypes: Set<String> = ["text", "tool_call", "error"]

    /// Whether this event is of a type sent when `detailed` is off (`basicTypes`).
    public var isBasic: Bool {
        switch self {
        case .text, .toolCall, .error: return true
        default: return false
        }
    }

    /// True for a `status` event that ends a run (`completed`, `error`, `cancelled`).
    public var isTerminal: Bool {
        if case .status(let s) = self { return s.status.isTerminal }
        return false
    }

    /// True for a `status waiting_for_input` event: the run waits for a person. A parked task's
    /// stream always has it, detailed or not.
    public var isWaitingForInput: Bool {
        if case .status(let s) = self { return s.status == .waitingForInput }
        return false
    }
}

/// Reply text, as it streams.
public struct TextEvent: Sendable, Hashable {
    public var text: String
    public var agentName: String
    public init(text: String, agentName: String) { self.text = text; self.agentName = agentName }
}

/// The model asked for a tool.
public struct ToolCallEvent: Sendable, Hashable {
    public var toolName: String
    public var toolCallID: String
    public var agentName: String
    public init(toolName: String, toolCallID: String, agentName: String) {
        self.toolName = toolName; self.toolCallID = toolCallID; self.agentName = agentName
    }
}

/// A tool finished, well or badly.
public struct ToolResultEvent: Sendable, Hashable {
    public var toolName: String
    public var toolCallID: String
    /// Arguments as parsed from the model's JSON (an object), or the raw text when it was invalid.
    public var arguments: JSONValue
    /// What the model was sent back.
    public var result: String
    public var error: String?
    public var success: Bool
    public var durationMs: Double
    public var agentName: String
    public init(toolName: String, toolCallID: String, arguments: JSONValue, result: String, error: String?,
                success: Bool, durationMs: Double, agentName: String) {
        self.toolName = toolName; self.toolCallID = toolCallID; self.arguments = arguments; self.result = result
        self.error = error; self.success = success; self.durationMs = durationMs; self.agentName = agentName
    }
}

/// A step (one model call and the tools it asked for) started or completed.
public struct StepEvent: Sendable, Hashable {
    /// `started` or `completed`.
    public enum Status: String, Sendable, Hashable { case started, completed }
    public var stepNumber: Int
    public var agentName: String
    public var status: Status
    /// Seconds since 1970.
    public var startedAt: Double
    public var completedAt: Double?
    public var usage: Usage?
    public init(stepNumber: Int, agentName: String, status: Status, startedAt: Double, completedAt: Double? = nil, usage: Usage? = nil) {
        self.stepNumber = stepNumber; self.agentName = agentName; self.status = status
        self.startedAt = startedAt; self.completedAt = completedAt; self.usage = usage
    }
}

/// A change of the run's state; the last event of every run is a terminal one.
public struct StatusEvent: Sendable, Hashable {
    /// The states of a run, as the original names them (plus `retrying`/`resumed` of the queue).
    public enum Status: String, Sendable, Hashable {
        case starting, running, waitingForTool = "waiting_for_tool", completed, cancelled, error, retrying, resumed
        /// The run waits for a person: an approval or an answer (`pending` says which).
        case waitingForInput = "waiting_for_input"
        /// A model call waits for room under a shared rate limit (`orbiter limits`); `waitMs` says how long.
        case rateLimited = "rate_limited"
        /// Whether a run ends with this status.
        public var isTerminal: Bool { self == .completed || self == .cancelled || self == .error }
    }
    public var status: Status
    public var agentName: String
    public var message: String
    /// On a `completed` status: the structured output of a run whose answer has an output schema
    /// (the decoded object; `RunResult.parsed`). Absent otherwise.
    public var parsed: JSONValue?
    /// On a `waiting_for_input` status: what the person is asked (in JSON: `kind`, `request_id`,
    /// `tool_name`, `tool_call_id`, `arguments`, and `question`, `index` for a question).
    public var pending: InputRequest?
    /// On a `rate_limited` status: how long the model call waits, in milliseconds (`wait_ms`).
    public var waitMs: Int?
    public init(status: Status, agentName: String, message: String = "", parsed: JSONValue? = nil, pending: InputRequest? = nil,
                waitMs: Int? = nil) {
        self.status = status; self.agentName = agentName; self.message = message; self.parsed = parsed; self.pending = pending
        self.waitMs = waitMs
    }

    /// The `waiting_for_input` event of `request`, its message the prompt a person sees.
    public static func waiting(for request: InputRequest) -> StatusEvent {
        StatusEvent(status: .waitingForInput, agentName: request.agentName, message: request.prompt, pending: request)
    }
}

/// Something failed.
public struct ErrorEvent: Sendable, Hashable {
    public var error: String
    public var errorType: String
    public var agentName: String
    public var stepNumber: Int?
    public var recoverable: Bool
    public init(error: String, errorType: String, agentName: String, stepNumber: Int? = nil, recoverable: Bool = false) {
        self.error = error; self.errorType = errorType; self.agentName = agentName
        self.stepNumber = stepNumber; self.recoverable = recoverable
    }
}

/// Tokens used by one step.
public struct UsageEvent: Sendable, Hashable {
    public var usage: Usage
    public var agentName: String
    public var stepNumber: Int
    public var model: String
    public init(usage: Usage, agentName: String, stepNumber: Int, model: String) {
        self.usage = usage; self.agentName = agentName; self.stepNumber = stepNumber; self.model = model
    }
}

/// The model's reasoning text, for models that show it.
public struct ReasoningEvent: Sendable, Hashable {
    public var text: String
    public var agentName: String
    public init(text: String, agentName: String) { self.text = text; self.agentName = agentName }
}
