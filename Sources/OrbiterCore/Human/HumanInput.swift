/// Where a run's requests for a person go (`Run.execute(humanInput:)`).
///
/// Three hosts, three answers: a terminal asks the person and waits (`orbiter run`, `chat`);
/// `ApproveAll` approves every call at once; a worker parks the task (`ParkingInput`): it throws
/// `InputNeeded`, the run records where it stands, and the task waits in Redis, holding nothing,
/// until someone replies.
public protocol HumanInput: Sendable {
    /// The person's reply. Throws `InputNeeded` to park the run, `OrbiterError.humanInputUnavailable`
    /// when no one can be asked (the run fails).
    func ask(_ request: InputRequest) async throws -> InputReply

    /// True when `ask` waits here for the person: the run then reports `waiting_for_input` itself
    /// (a parked task's event comes from the queue instead).
    var waitsInProcess: Bool { get }
}

/// Thrown by a human input to park the run until `request` is answered. The agent records the
/// step it is in (finished calls, decisions and answers so far, the request) before it lets the
/// signal go on; `Run.execute` then throws `RunParked`.
public struct InputNeeded: Error, Sendable {
    public let request: InputRequest
    public init(request: InputRequest) { self.request = request }
}

/// A run that stopped to wait for a person: the request and the checkpoint to resume from (the
/// reply is applied to it with `Checkpoint.applying(_:to:)`).
public struct RunParked: Error, Sendable, Equatable {
    public let request: InputRequest
    public let checkpoint: Checkpoint?
    public init(request: InputRequest, checkpoint: Checkpoint?) {
        self.request = request
        self.checkpoint = checkpoint
    }
}

/// Approves every call (`--approve-all`); questions go to `questions` (a terminal), or fail.
public struct ApproveAll: HumanInput {
    let questions: (any HumanInput)?

    public init(questions: (any HumanInput)? = nil) { self.questions = questions }

    public var waitsInProcess: Bool { false }

    public func ask(_ request: InputRequest) async throws -> InputReply {
        switch request.kind {
        case .approval: return .approved
        case .question:
            guard let questions else {
                throw OrbiterError.humanInputUnavailable(
                    "tool '\(request.toolName)' asks \"\(request.question ?? "")\", and there is no terminal to ask it on "
                        + "(--approve-all approves tool calls but cannot answer questions); run it on a terminal, or on a worker")
            }
            return try await questions.ask(request)
        }
    }
}

/// No one to ask: every request fails the run with `reason` (what to do instead).
public struct NoHumanInput: HumanInput {
    let reason: String

    public init(reason: String = "this run has no one to ask (give Run.execute a humanInput)") { self.reason = reason }

    public var waitsInProcess: Bool { false }

    public func ask(_ request: InputRequest) async throws -> InputReply {
        switch request.kind {
        case .approval:
            throw OrbiterError.humanInputUnavailable("tool '\(request.toolName)' needs a person's approval, and \(reason)")
        case .question:
            throw OrbiterError.humanInputUnavailable("tool '\(request.toolName)' asks \"\(request.question ?? "")\", and \(reason)")
        }
    }
}

/// A worker's human input: every request parks the task (answers already given were applied to the
/// checkpoint before the run resumed, so they never reach here).
public struct ParkingInput: HumanInput {
    public init() {}

    public var waitsInProcess: Bool { false }

    public func ask(_ request: InputRequest) async throws -> InputReply {
        throw InputNeeded(request: request)
    }
}
