import Synchronization
import OrbiterCore
import OrbiterModels
import OrbiterTestSupport
import Testing

/// Agents run through the HTTP providers on recorded streams: thinking kept and sent back on the
/// tool turn, structured output repaired or refused.
@Suite("Agents over recorded provider streams", .serialized)
struct ProviderAgentTests {
    func runner(_ server: FakeModelServer) -> Run {
        let registry = ProviderRegistry()
        BuiltinProviders.register(in: registry, environment: environment(for: server), options: fastOptions)
        return Run(providers: registry)
    }

    let weather = Tool(name: "get_weather", description: "Current weather",
                       parameters: ["type": "object", "properties": ["location": ["type": "string"]], "required": ["location"]]) { args in
        .string("Sunny in \(args["location"]?.stringValue ?? "?")")
    }

    @Test("Anthropic thinking: signed blocks are kept and sent back on the tool turn, reasoning streams")
    func thinkingSentBack() async throws {
        try await withServer { server in
            // A recorded thinking block (with its signature) followed by a recorded tool_use block:
            // the reply a thinking model gives when it calls a tool.
            let thinking = try ProviderTranscripts.events("anthropic_thinking_docs.sse")
            let toolUse = try ProviderTranscripts.events("anthropic_tool_use.sse")
            let turn = thinking.filter { $0.contains(#""index": 0"#) || $0.contains("message_start") }
                + toolUse.filter { $0.contains(#""index":1"#) || $0.contains("message_delta") || $0.contains("message_stop") }
            server.enqueue(.recordedEvents(turn), try .transcript("anthropic_text.sse"))
            let agent = Agent(name: "a", model: "anthropic:claude-sonnet-4-5", instructions: "Be brief.", tools: [weather],
                              reasoning: ReasoningSettings(budgetTokens: 2000))
            let streamed = Mutex<[String]>([])
            let result = try await runner(server).execute(.agent(agent), input: "Weather in Paris?", detailed: true) { event in
                if case .reasoning(let r) = event { streamed.withLock { $0.append(r.text) } }
            }
            let reasoning = streamed.withLock { $0 }
            #expect(result.output == "Hello there!")
            #expect(reasoning == ["Let me solve this step by step:\n\n1. First break down 27 * 453", "\n2. 453 = 400 + 50 + 3"])
            #expect(server.requests.count == 2)
            let second = try #require(server.requests[1].json)
            #expect(second["thinking"] == ["type": "enabled", "budget_tokens": 2000])
            let assistant = try #require(second["messages"]?.arrayValue?[1])
            #expect(assistant["role"] == "assistant")
            #expect(assistant["content"]?.arrayValue?.first == [
                "type": "thinking", "thinking": "Let me solve this step by step:\n\n1. First break down 27 * 453\n2. 453 = 400 + 50 + 3",
                "signature": "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds..."])
            #expect(assistant["content"]?.arrayValue?[1]["type"] == "tool_use")
            #expect(assistant["content"]?.arrayValue?[1]["input"] == ["location": "Paris"])
            // The transcript keeps the block too, for checkpoints and the next turn.
            #expect(result.messages.first { $0.role == .assistant }?.reasoning.first?.signature?.hasPrefix("EqQB") == true)
        }
    }

    static let schema = JSONSchema(["type": "object", "properties": ["label": ["type": "string", "enum": ["bug", "question"]]],
                                    "required": ["label"], "additionalProperties": false])

    @Test("OpenAI structured output: a recorded non-JSON answer is repaired; twice fails with OutputValidationError")
    func structuredOutputRepair() async throws {
        try await withServer { server in
            server.enqueue(try .transcript("openai_text.sse"), .openAIReply(#"{"label":"#, #""question"}"#))
            let agent = Agent(name: "triage", model: "openai:gpt-4o", output: Self.schema)
            let result = try await runner(server).execute(.agent(agent), input: "How do I export?", detailed: false) { _ in }
            #expect(result.parsed == ["label": "question"])
            #expect(result.resultDict["parsed"] == ["label": "question"])
            let repair = try #require(server.requests[1].json?["messages"]?.arrayValue?.last?["content"]?.stringValue)
            #expect(repair.contains("the answer is not JSON"), "\(repair)")
            #expect(server.requests[1].json?["response_format"]?["json_schema"]?["name"] == "triage")

            server.enqueue(try .transcript("openai_text.sse"), try .transcript("openai_text.sse"))
            var errorType = ""
            do {
                _ = try await runner(server).execute(.agent(agent), input: "How?", detailed: false) { _ in }
            } catch {
                errorType = errorTypeName(error)
            }
            #expect(errorType == "OutputValidationError")
        }
    }
}
