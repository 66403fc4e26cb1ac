import ArgumentParser
import OrbiterCore
import OrbiterClient
import OrbiterQueue

/// `orbiter task approve|reject|reply`: a person's reply to a parked task. The task goes back on
/// the queue and a worker resumes it; a task that is not waiting is refused (exit 1), nothing changed.
struct TaskApproveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "approve", abstract: "Approve the tool call a parked task waits for; it resumes and the call runs. Exit 1 when it is not waiting.")

    @Argument(help: "The task id.") var id: String
    @OptionGroup var redis: RedisOptions
    @OptionGroup var output: JSONOption

    func run() async throws {
        try await sendReply(.approved, to: id, redis: redis, json: output.json, done: "approved; the task resumes and the call runs")
    }
}

struct TaskRejectCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reject",
        abstract: "Reject the tool call a parked task waits for (the model sees 'rejected: REASON'), or decline its question. Exit 1 when it is not waiting.")

    @Argument(help: "The task id.") var id: String
    @Option(help: "Why, for the model (default: rejected by a person).") var reason: String = "rejected by a person"
    @OptionGroup var redis: RedisOptions
    @OptionGroup var output: JSONOption

    func run() async throws {
        try await sendReply(.rejected(reason: reason), to: id, redis: redis, json: output.json, done: "rejected; the task resumes")
    }
}

struct TaskReplyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reply", abstract: "Answer the question a parked task asks (orbiter.ask returns TEXT); it resumes. Exit 1 when it is not waiting.")

    @Argument(help: "The task id.") var id: String
    @Argument(help: "The answer.") var text: String
    @OptionGroup var redis: RedisOptions
    @OptionGroup var output: JSONOption

    func run() async throws {
        try await sendReply(.answer(text), to: id, redis: redis, json: output.json, done: "answered; the task resumes")
    }
}

/// Sends the reply; prints what happened (`--json`: `{"task_id", "outcome": "resumed" |
/// "not_found" | "not_waiting" | "mismatch", "status"?, "waits_for"?}`), exit 1 unless resumed.
private func sendReply(_ reply: InputReply, to id: String, redis: RedisOptions, json: Bool, done: String) async throws {
    let broker = try await redis.broker()
    let outcome = try await broker.reply(id, reply)
    var fields: [String: JSONValue] = ["task_id": .string(id)]
    let problem: String?
    switch outcome {
    case .resumed:
        fields["outcome"] = "resumed"
        problem = nil
    case .notFound:
        fields["outcome"] = "not_found"
        problem = await notFoundMessage(id, on: broker)
    case .notWaiting(let status):
        (fields["outcome"], fields["status"]) = ("not_waiting", .string(status.rawValue))
        problem = DistributedError.notWaitingForInput(id: id, status: status).description
    case .mismatch(let kind):
        (fields["outcome"], fields["waits_for"]) = ("mismatch", .string(kind.rawValue))
        problem = DistributedError.replyDoesNotFit(id: id, waitsFor: kind).description
    }
    if json {
        Terminal.out(JSONValue.object(fields).jsonString + "\n")
    } else if let problem {
        Terminal.error("orbiter: " + problem)
    } else {
        Terminal.out("task \(id) \(done)\n")
    }
    if problem != nil { throw Exit.failed }
}

extension InputRequest {
    /// One line for `task status` and `task list`: what the person is asked, and where.
    var summary: String {
        switch kind {
        case .approval: return "approval of \(toolName) \(arguments.displayString) (call \(toolCallID), agent \(agentName))"
        case .question: return "answer to \"\(question ?? "")\" (asked by \(toolName), call \(toolCallID), agent \(agentName))"
        }
    }

    /// The commands that reply to it.
    func howToReply(_ taskID: String) -> String {
        switch kind {
        case .approval: return "orbiter task approve \(taskID), or orbiter task reject \(taskID) --reason TEXT"
        case .question: return "orbiter task reply \(taskID) TEXT, or orbiter task reject \(taskID)"
        }
    }
}
