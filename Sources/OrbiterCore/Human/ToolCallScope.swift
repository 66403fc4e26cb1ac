import Synchronization

/// The tool call running in this task, for what a tool body asks a person (`orbiter.ask`).
///
/// Set by the agent around each tool body. A call that runs again after its task parked (the tool
/// runs from its start) gets the answers given so far, in order: its first question is answered
/// with the first answer, and so on; only a question past those reaches the person.
public final class ToolCallScope: Sendable {
    /// The call whose body is running in this task, if any.
    @TaskLocal public static var current: ToolCallScope?

    let call: ToolCall
    let agentName: String
    let arguments: JSONValue
    private let human: any HumanInput
    /// Reports `waiting_for_input` before a person is asked here (a terminal).
    private let announce: @Sendable (InputRequest) async -> Void
    private let state: Mutex<(replies: [InputReply], next: Int)>

    init(call: ToolCall, agentName: String, arguments: JSONValue, human: any HumanInput, replies: [InputReply],
         announce: @escaping @Sendable (InputRequest) async -> Void) {
        self.call = call
        self.agentName = agentName
        self.arguments = arguments
        self.human = human
        self.announce = announce
        state = Mutex((replies, 0))
    }

    /// The replies this call has had so far, in the order its questions were asked.
    var replies: [InputReply] { state.withLock { $0.replies } }

    /// The person's answer to `question`. Throws `QuestionRejected` when they declined to answer,
    /// `InputNeeded` to park the task, `OrbiterError.humanInputUnavailable` when no one can be asked.
    public func ask(_ question: String) async throws -> String {
        let (index, given) = state.withLock { s -> (Int, InputReply?) in
            defer { s.next += 1 }
            return (s.next, s.next < s.replies.count ? s.replies[s.next] : nil)
        }
        let reply: InputReply
        if let given {
            reply = given
        } else {
            let request = InputRequest(kind: .question, agentName: agentName, toolName: call.name, toolCallID: call.id,
                                       arguments: arguments, question: question, index: index)
            if human.waitsInProcess { await announce(request) }
            reply = try await human.ask(request)
            state.withLock { $0.replies.append(reply) }
        }
        switch reply {
        case .answer(let text): return text
        case .approved: return "yes"
        case .rejected(let reason): throw QuestionRejected(reason: reason)
        }
    }
}

/// The person declined to answer a question; the tool sees the error `rejected: <reason>`.
public struct QuestionRejected: Error, Sendable, CustomStringConvertible {
    public let reason: String
    public var description: String { "rejected: \(reason)" }
}
