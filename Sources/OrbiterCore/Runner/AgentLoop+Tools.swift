extension AgentLoop {
    /// Runs every call of one step concurrently; each reports its own `tool_result` when it ends.
    /// Returns the texts sent back to the model, in call order. Tool failures are results, not
    /// throws; cancellation and hook errors propagate.
    func runTools(_ calls: [ToolCall], tools: [String: Tool]) async throws -> [String] {
        try await withThrowingTaskGroup(of: (Int, String).self) { group in
            for (index, call) in calls.enumerated() {
                group.addTask {
                    (index, try await runTool(call, tool: tools[call.name], available: tools))
                }
            }
            var results = Array(repeating: "", count: calls.count)
            for try await (index, text) in group { results[index] = text }
            return results
        }
    }

    /// One call: `before_tool` may deny it (the tool does not run), `after_tool` may replace
    /// what the model is sent. The `tool_result` event shows what the model is sent.
    private func runTool(_ call: ToolCall, tool: Tool?, available: [String: Tool]) async throws -> String {
        let clock = ContinuousClock.now
        let parsed = (try? JSONValue.parse(call.arguments.isEmpty ? "{}" : call.arguments))
        var value: JSONValue?
        var failure: String?
        if let tool {
            if let parsed {
                if let problem = argumentProblem(parsed, schema: tool.spec.parameters) {
                    failure = "invalid arguments for tool '\(call.name)': \(problem)"
                } else if let hook = agent.hooks.beforeTool, case .deny(let reason) = try await hook(call) {
                    failure = "denied: \(reason)"
                } else {
                    do {
                        value = try await tool.body(parsed)
                    } catch is CancellationError {
                        throw CancellationError()
                    } catch {
                        failure = errorMessage(error)
                    }
                }
            } else {
                failure = "invalid arguments for tool '\(call.name)': not valid JSON: \(call.arguments.prefix(200))"
            }
        } else {
            failure = "unknown tool '\(call.name)'; available tools: "
                + (available.keys.sorted().joined(separator: ", ").nilIfEmpty ?? "(none)")
        }
        if let hook = agent.hooks.afterTool, let replacement = try await hook(call, ToolCallResult(value: value, error: failure)) {
            value = replacement
            failure = nil
        }
        let output = failure == nil ? (value ?? .string("")).toolResultText : ""
        let ms = (ContinuousClock.now - clock).inMilliseconds
        await context.emit(.toolResult(ToolResultEvent(
            toolName: call.name, toolCallID: call.id, arguments: parsed ?? .string(call.arguments), result: output,
            error: failure, success: failure == nil, durationMs: ms, agentName: agent.name)))
        if let failure { return "Error: \(failure)" }
        return output
    }
}
