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

    public init(output: String, messages: [Message], usage: Usage, steps: Int) {
        self.output = output
        self.messages = messages
        self.usage = usage
        self.steps = steps
    }

    /// `{output, usage, steps}`: the result dict of a distributed task.
    public var resultDict: JSONValue {
        .object(["output": .string(output), "usage": usage.json, "steps": .int(steps)])
    }
}
