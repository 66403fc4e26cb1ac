import Synchronization
import Foundation
import OrbiterTestSupport
import Testing
@testable import OrbiterCore

/// Structured output and hooks in the runner, with Swift agents (Lua and provider tests have their own).
@Suite("Structured output and hooks in the runner")
struct StructuredOutputRunTests {
    static let schema = JSONSchema(["type": "object", "properties": ["label": ["type": "string", "enum": ["bug", "question"]]],
                                    "required": ["label"]])
    let echo = Tool(name: "echo", description: "Echo", parameters: ["type": "object", "properties": ["s": ["type": "string"]]]) { args in
        args["s"] ?? .null
    }

    func agent(_ provider: ScriptedProvider, output: JSONSchema? = schema, hooks: AgentHooks = AgentHooks(), tools: [Tool] = [],
               maxSteps: Int = 3) -> Agent {
        Agent(name: "triage", model: "test:scripted", provider: provider, tools: tools, maxSteps: maxSteps, output: output, hooks: hooks)
    }

    @Test("a valid answer is decoded into parsed, in the result and the completed status")
    func validAnswer() async throws {
        let provider = ScriptedProvider([.text(#"{"label":"#, #""bug"}"#)])
        let (events, error) = await collect(OrbiterCore.run.stream(agent(provider), "crash", detailed: true))
        #expect(error == nil)
        guard case .status(let last)? = events.last else { Issue.record("no status"); return }
        #expect(last.parsed == ["label": "bug"])
        #expect(events.last?.jsonString.hasSuffix(#","parsed":{"label":"bug"}}"#) == true)
        let request = provider.requests.withLock { $0[0] }
        #expect(request.output == Self.schema)
        #expect(request.outputName == "triage")
        let result = try await OrbiterCore.run(agent(ScriptedProvider([.text("```json\n{\"label\":\"question\"}\n```")])), "how?")
        #expect(result.parsed == ["label": "question"], "a code fence around the JSON is tolerated")
        #expect(result.resultDict["parsed"] == ["label": "question"])
        let plain = try await OrbiterCore.run(agent(ScriptedProvider([.text("hi")]), output: nil), "x")
        #expect(plain.parsed == nil)
        #expect(plain.resultDict["parsed"] == nil)
    }

    @Test("an invalid answer gets one repair turn that tells the model what is wrong; it does not use up max_steps")
    func repaired() async throws {
        let provider = ScriptedProvider([.text(#"{"label":"feature"}"#), .text(#"{"label":"bug"}"#)])
        let result = try await OrbiterCore.run(agent(provider, maxSteps: 1), "crash")
        #expect(result.parsed == ["label": "bug"])
        #expect(result.output == #"{"label":"bug"}"#)
        #expect(result.steps == 2)
        let repair = try #require(provider.requests.withLock { $0[1] }.messages.last)
        #expect(repair.role == .user)
        #expect(repair.content.contains(#"$.label: "feature" is not one of "bug", "question""#), "\(repair.content)")
    }

    @Test("invalid twice (or not JSON) fails with OutputValidationError")
    func invalidTwice() async throws {
        let provider = ScriptedProvider([.text("It is a bug."), .text(#"{"kind":"bug"}"#)])
        let (events, error) = await collect(OrbiterCore.run.stream(agent(provider), "crash", detailed: true))
        let failure = try #require(error as? OrbiterError)
        #expect(failure.typeName == "OutputValidationError")
        #expect(errorTypeName(failure) == "OutputValidationError")
        #expect(failure.description.contains(#"$: missing required property "label""#), "\(failure)")
        let first = provider.requests.withLock { $0[1] }.messages.last?.content ?? ""
        #expect(first.contains("the answer is not JSON"), "\(first)")
        #expect(events.contains { if case .error(let e) = $0 { e.errorType == "OutputValidationError" } else { false } })
    }

    @Test("before_model edits this call's messages or stops the run")
    func beforeModel() async throws {
        let provider = ScriptedProvider([.text(#"{"label":"bug"}"#)])
        let redact = AgentHooks(beforeModel: { request in
            var edited = request
            edited.messages = request.messages.map { var m = $0; m.content = m.content.replacingOccurrences(of: "secret", with: "***"); return m }
            return .proceed(edited)
        })
        let result = try await OrbiterCore.run(agent(provider, hooks: redact), "my secret crash")
        #expect(provider.requests.withLock { $0[0] }.messages.last?.content == "my *** crash")
        #expect(result.messages.first?.content == "my secret crash", "the transcript keeps what was said")
        let stop = AgentHooks(beforeModel: { _ in .stop(reason: "off-topic") })
        let (_, error) = await collect(OrbiterCore.run.stream(agent(ScriptedProvider([]), hooks: stop), "x"))
        #expect((error as? OrbiterError) == .stoppedByHook(agent: "triage", hook: "before_model", reason: "off-topic"))
        #expect((error as? OrbiterError)?.typeName == "StoppedByHook")
    }

    @Test("before_tool denies, after_tool replaces; the event shows what the model was sent")
    func toolHooks() async throws {
        let provider = ScriptedProvider([
            ScriptedProvider.Reply(calls: [ToolCall(id: "c1", name: "echo", arguments: #"{"s":"rm -rf"}"#),
                                           ToolCall(id: "c2", name: "echo", arguments: #"{"s":"ok"}"#)]),
            .text("done"),
        ])
        let hooks = AgentHooks(
            beforeTool: { call in call.arguments.contains("rm") ? .deny(reason: "dangerous") : .allow },
            afterTool: { call, result in result.value.map { .string("echoed \($0.toolResultText)") } })
        let (events, error) = await collect(OrbiterCore.run.stream(agent(provider, output: nil, hooks: hooks, tools: [echo]), "x", detailed: true))
        #expect(error == nil)
        let results = events.compactMap { if case .toolResult(let r) = $0 { r } else { nil } }.sorted { $0.toolCallID < $1.toolCallID }
        #expect(results.map(\.success) == [false, true])
        #expect(results[0].error == "denied: dangerous")
        #expect(results[1].result == "echoed ok")
        let sent = provider.requests.withLock { $0[1] }.messages.filter { $0.role == .tool }.map(\.content)
        #expect(sent == ["Error: denied: dangerous", "echoed ok"])
    }

    @Test("on_output rejects once (one more turn with the reason), then fails the run")
    func onOutput() async throws {
        let seen = TestCounter()
        let picky = AgentHooks(onOutput: { text, parsed in
            seen.increment()
            return parsed?["label"] == "question" ? .reject(reason: "this is clearly a bug") : .accept
        })
        let provider = ScriptedProvider([.text(#"{"label":"question"}"#), .text(#"{"label":"bug"}"#)])
        let result = try await OrbiterCore.run(agent(provider, hooks: picky), "crash")
        #expect(result.parsed == ["label": "bug"])
        #expect(seen.value == 2)
        #expect(provider.requests.withLock { $0[1] }.messages.last?.content.contains("this is clearly a bug") == true)
        let stubborn = ScriptedProvider([.text(#"{"label":"question"}"#), .text(#"{"label":"question"}"#)])
        let (_, error) = await collect(OrbiterCore.run.stream(agent(stubborn, hooks: picky), "crash"))
        #expect((error as? OrbiterError)?.typeName == "OutputValidationError")
        #expect("\(error!)".contains("rejected the answer again: this is clearly a bug"))
    }

    @Test("a tool_choice that forces a tool applies until a tool was called")
    func forcedToolChoiceResets() async throws {
        let provider = ScriptedProvider([.call("echo", #"{"s":"x"}"#), .text("done")])
        var forced = agent(provider, output: nil, tools: [echo])
        forced.options = ModelOptions(toolChoice: .required)
        _ = try await OrbiterCore.run(forced, "x")
        #expect(provider.requests.withLock { $0.map(\.options.toolChoice) } == [.required, .auto])
    }

    @Test("output, reasoning, settings and hooks round-trip through to_dict; bad fields are named")
    func dictRoundTrip() throws {
        var agent = Agent(name: "a", model: "x:y", output: Self.schema, reasoning: ReasoningSettings(effort: "low"),
                          options: ModelOptions(toolChoice: .tool("echo"), parallelToolCalls: false, topP: 0.9, stop: ["###"], seed: 7, cache: true),
                          hooks: AgentHooks(beforeTool: { _ in .allow }, onOutput: { _, _ in .accept }))
        let dict = agent.toDict()
        #expect(dict["hooks"] == ["before_tool", "on_output"])
        #expect(dict["settings"] == ["tool_choice": ["name": "echo"], "parallel_tool_calls": false, "top_p": 0.9, "stop": ["###"],
                                     "seed": 7, "cache": true])
        #expect(dict["reasoning"] == ["effort": "low"])
        #expect(throws: OrbiterError.self) { try Agent.fromDict(dict, resolver: TableResolver()) }  // hooks need the script
        agent.hooks = AgentHooks()
        let back = try Agent.fromDict(agent.toDict(), resolver: TableResolver())
        #expect(back.toDict() == agent.toDict())
        #expect(back.output == Self.schema)

        func refusal(_ field: String, _ value: JSONValue) -> String {
            guard case .object(var d) = agent.toDict() else { return "" }
            d[field] = value
            do { _ = try Agent.fromDict(.object(d), resolver: TableResolver()); return "accepted" } catch { return "\(error)" }
        }
        #expect(refusal("settings", ["base_url": "http://evil"]).hasPrefix("agent 'a': settings.base_url is not a provider option"))
        #expect(refusal("settings", ["top_p": 3]) == "agent 'a': settings.top_p must be a number from 0 to 1")
        #expect(refusal("reasoning", ["effort": "max"]).hasPrefix("agent 'a': reasoning.effort must be one of"))
        #expect(refusal("reasoning", ["effort": "low", "budget_tokens": 2000]).contains("not both"))
        #expect(refusal("output", ["type": "strin"]).hasPrefix(#"agent 'a': output.type: unknown type "strin""#))
        #expect(refusal("hooks", ["before_everything"]).contains("not a hook"))
    }
}

/// A thread-safe count for closures that run on other tasks.
final class TestCounter: Sendable {
    private let count = Mutex(0)
    func increment() { count.withLock { $0 += 1 } }
    var value: Int { count.withLock { $0 } }
}
