/// What a finished run gives back.
public struct RunResult: Sendable {
    /// The final reply (for a workflow swarm: the last stage's output).
    public var output: String
    /// The whole transcript, the given history first, then this turn; pass it as `messages` to continue.
    public var messages: [Message]
    /// Tokens summed over every step of every agent in the run.
    public var usage: Usage
    /// Model calls made, over every agent in the run.
    public var steps: Int
    /// The output decoded, when it comes from an agent with an output schema (structured output):
    /// the JSON value that matched the schema. `nil` otherwise.
    public var parsed: JSONValue?

    public init(output: String, messages: [Message], usage: Usage, steps: Int, parsed: JSONValue? = nil) {
        self.output = output
        self.messages = messages
        self.usage = usage
        self.steps = steps
        self.parsed = parsed
    }

    /// `{output, usage, steps}` and `parsed` when there is one: the result dict of a distributed task.
    public var resultDict: JSONValue {
        var d: [String: JSONValue] = ["output": .string(output), "usage": usage.json, "steps": .int(steps)]
        if let parsed { d["parsed"] = parsed }
        return .object(d)
    }
}
