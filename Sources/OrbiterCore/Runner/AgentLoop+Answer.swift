/// The extra turns a final answer may earn: one to repair output that does not match the
/// schema, one after `on_output` rejected it.
struct AnswerRetries {
    var schemaRepaired = false
    var rejected = false

    /// Turns used so far (they do not count against `max_steps`).
    var used: Int { (schemaRepaired ? 1 : 0) + (rejected ? 1 : 0) }
}

/// What became of a final answer.
enum AnswerCheck {
    /// Accepted; the decoded output when the agent has a schema.
    case accepted(JSONValue?)
    /// The model gets another turn with this message.
    case retry(String)
}

extension AgentLoop {
    /// Checks a final answer against the output schema, then the `on_output` hook. A first
    /// failure of each kind gives the model a turn to fix it; a second fails the run with
    /// `OutputValidationError`.
    func check(answer text: String, retries: inout AnswerRetries) async throws -> AnswerCheck {
        var parsed: JSONValue?
        if let schema = agent.output {
            switch OutputDecoding.decode(text, against: schema) {
            case .success(let value):
                parsed = value
            case .failure(let problem):
                guard !retries.schemaRepaired else {
                    throw OrbiterError.outputValidation(agent: agent.name,
                                                        message: "the answer does not match the output schema, also after a repair turn: \(problem)")
                }
                retries.schemaRepaired = true
                return .retry("""
                    Your answer does not match the required output schema: \(problem)
                    Reply again with only the JSON value, matching the schema.
                    """)
            }
        }
        if let hook = agent.hooks.onOutput, case .reject(let reason) = try await hook(text, parsed) {
            guard !retries.rejected else {
                throw OrbiterError.outputValidation(agent: agent.name, message: "the on_output hook rejected the answer again: \(reason)")
            }
            retries.rejected = true
            return .retry("Your answer was not accepted: \(reason)\nPlease answer again.")
        }
        return .accepted(parsed)
    }
}
