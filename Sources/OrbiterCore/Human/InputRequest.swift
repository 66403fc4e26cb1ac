/// What a run asks a person: to approve a call of an `approval = true` tool, or to answer a
/// question a tool asks (`orbiter.ask`).
///
/// Each request has an id of its own, so an answer that arrives later (on a worker, after the task
/// parked) is applied to the request it answers, and only once.
public struct InputRequest: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable {
        case approval, question
    }

    public var kind: Kind
    /// Random, new for every request.
    public var id: String
    public var agentName: String
    /// The call waiting: for an approval the call itself, for a question the call that asks it.
    public var toolName: String
    public var toolCallID: String
    /// The call's arguments (decoded).
    public var arguments: JSONValue
    /// For a question: its text.
    public var question: String?
    /// For a question: its place among the questions this call asked (0 for the first).
    public var index: Int

    public init(kind: Kind, id: String = InputRequest.newID(), agentName: String, toolName: String, toolCallID: String,
                arguments: JSONValue, question: String? = nil, index: Int = 0) {
        self.kind = kind
        self.id = id
        self.agentName = agentName
        self.toolName = toolName
        self.toolCallID = toolCallID
        self.arguments = arguments
        self.question = question
        self.index = index
    }

    /// 16 random hex digits.
    public static func newID() -> String {
        var generator = SystemRandomNumberGenerator()
        let value = generator.next() as UInt64
        let hex = String(value, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    /// What a person is asked: `approve refund {"amount": 30}?`, or the question.
    public var prompt: String {
        switch kind {
        case .approval: return "approve \(toolName) \(arguments.displayString)?"
        case .question: return question ?? ""
        }
    }

    /// `{kind, id, agent_name, tool_name, tool_call_id, arguments, question?, index?}`: how a
    /// parked task stores it and `task status --json` shows it.
    public var json: JSONValue {
        var d: [String: JSONValue] = ["kind": .string(kind.rawValue), "id": .string(id), "agent_name": .string(agentName),
                                      "tool_name": .string(toolName), "tool_call_id": .string(toolCallID), "arguments": arguments]
        if let question {
            d["question"] = .string(question)
            d["index"] = .int(index)
        }
        return .object(d)
    }

    /// Reads what `json` writes; the error names the field.
    public init(json: JSONValue) throws {
        guard let kindName = json["kind"]?.stringValue, let kind = Kind(rawValue: kindName) else {
            throw OrbiterError.invalidConfiguration("input request field 'kind' must be approval or question")
        }
        guard let id = json["id"]?.stringValue, let tool = json["tool_name"]?.stringValue,
              let call = json["tool_call_id"]?.stringValue else {
            throw OrbiterError.invalidConfiguration("input request needs 'id', 'tool_name' and 'tool_call_id'")
        }
        let index = json["index"]?.intValue ?? 0
        guard index >= 0 else { throw OrbiterError.invalidConfiguration("input request field 'index' must be 0 or more") }
        self.init(kind: kind, id: id, agentName: json["agent_name"]?.stringValue ?? "", toolName: tool, toolCallID: call,
                  arguments: json["arguments"] ?? .object([:]), question: json["question"]?.stringValue, index: index)
    }
}

/// A person's reply to an `InputRequest`.
public enum InputReply: Sendable, Hashable {
    /// The call may run.
    case approved
    /// An approval refused (the model sees the failed result `rejected: <reason>`), or a question
    /// the person declined to answer (`orbiter.ask` raises `rejected: <reason>` in the tool).
    case rejected(reason: String)
    /// The answer to a question (what `orbiter.ask` returns).
    case answer(String)

    /// `{"approved": true}`, `{"rejected": reason}` or `{"answer": text}`.
    public var json: JSONValue {
        switch self {
        case .approved: return ["approved": true]
        case .rejected(let reason): return ["rejected": .string(reason)]
        case .answer(let text): return ["answer": .string(text)]
        }
    }

    public init(json: JSONValue) throws {
        if let text = json["answer"]?.stringValue {
            self = .answer(text)
        } else if let reason = json["rejected"]?.stringValue {
            self = .rejected(reason: reason)
        } else if json["approved"]?.boolValue == true {
            self = .approved
        } else {
            throw OrbiterError.invalidConfiguration("input reply must be {\"approved\": true}, {\"rejected\": reason} or {\"answer\": text}")
        }
    }

    /// A few words for a `status resumed` event: `approved`, `rejected: too much`, `answered`.
    public var summary: String {
        switch self {
        case .approved: return "approved"
        case .rejected(let reason): return "rejected: \(reason)"
        case .answer: return "answered"
        }
    }
}

extension JSONValue {
    /// One line for a person, with a space after `:` and `,` (`{"amount": 30}`); object keys sorted.
    public var displayString: String {
        switch self {
        case .array(let items): return "[" + items.map(\.displayString).joined(separator: ", ") + "]"
        case .object(let members):
            return "{" + members.sorted { $0.key < $1.key }.map { JSONValue.string($0.key).jsonString + ": " + $0.value.displayString }
                .joined(separator: ", ") + "}"
        default: return jsonString
        }
    }
}
