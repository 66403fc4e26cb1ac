/// An agent's step that stopped to wait for a person. Its model reply is the transcript's last
/// message, so a resumed run does not ask the model again: it goes on with the step's calls.
/// Calls that ended keep their results and everything the person said is kept, so on resume no
/// finished call runs again and nothing is asked twice.
public struct SuspendedStep: Sendable, Equatable {
    /// The step's number within the agent's run.
    public var step: Int
    /// When the step started (seconds since 1970), for its `step completed` event.
    public var startedAt: Double
    /// What the step's model call used (already counted in the checkpoint's totals).
    public var usage: Usage
    /// Calls that ended: the text the model is sent back, by call id.
    public var results: [String: String]
    /// Approvals given or refused, by call id.
    public var decisions: [String: InputReply]
    /// Replies to the questions each call asked, in order, by call id (a call that asks runs again
    /// from its start on resume, and its questions are answered from here first).
    public var answers: [String: [InputReply]]
    /// The request the run stopped for; its reply is folded in by `Checkpoint.applying(_:to:)`.
    public var awaiting: InputRequest?

    public init(step: Int, startedAt: Double, usage: Usage, results: [String: String] = [:],
                decisions: [String: InputReply] = [:], answers: [String: [InputReply]] = [:], awaiting: InputRequest? = nil) {
        self.step = step
        self.startedAt = startedAt
        self.usage = usage
        self.results = results
        self.decisions = decisions
        self.answers = answers
        self.awaiting = awaiting
    }

    var json: JSONValue {
        var d: [String: JSONValue] = ["step": .int(step), "started_at": .double(startedAt), "usage": usage.json,
                                      "results": .object(results.mapValues(JSONValue.string)),
                                      "decisions": .object(decisions.mapValues(\.json)),
                                      "answers": .object(answers.mapValues { .array($0.map(\.json)) })]
        if let awaiting { d["awaiting"] = awaiting.json }
        return .object(d)
    }

    init(json: JSONValue) throws {
        guard let step = json["step"]?.intValue, step >= 1 else {
            throw OrbiterError.invalidConfiguration("checkpoint suspended step must have 'step', 1 or more")
        }
        self.init(step: step, startedAt: json["started_at"]?.doubleValue ?? 0, usage: Usage(json: json["usage"]),
                  results: (json["results"]?.objectValue ?? [:]).compactMapValues(\.stringValue),
                  decisions: try (json["decisions"]?.objectValue ?? [:]).mapValues(InputReply.init(json:)),
                  answers: try (json["answers"]?.objectValue ?? [:]).mapValues { try ($0.arrayValue ?? []).map(InputReply.init(json:)) },
                  awaiting: try json["awaiting"].map(InputRequest.init(json:)))
    }
}

extension Checkpoint {
    /// The checkpoint with `reply` folded into the step that waits for request `requestID`: as the
    /// decision on its call, or as the next answer of its call's questions. `nil` when no step
    /// waits for that request (the reply is then for nothing here, and is not used).
    public func applying(_ reply: InputReply, to requestID: String) -> Checkpoint? {
        for (path, node) in nodes {
            guard case .running(var progress) = node, var step = progress.suspended, let awaiting = step.awaiting,
                  awaiting.id == requestID else { continue }
            switch awaiting.kind {
            case .approval:
                step.decisions[awaiting.toolCallID] = reply
            case .question:
                var answers = step.answers[awaiting.toolCallID] ?? []
                guard answers.count == awaiting.index else { return nil }
                answers.append(reply)
                step.answers[awaiting.toolCallID] = answers
            }
            step.awaiting = nil
            progress.suspended = step
            var copy = self
            copy.nodes[path] = .running(progress)
            return copy
        }
        return nil
    }
}
