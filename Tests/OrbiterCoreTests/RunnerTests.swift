import Foundation
import OrbiterTestSupport
import Testing
@testable import OrbiterCore

/// Serialized: several tests measure how long tool steps take.
@Suite("Agent runner", .serialized)
struct RunnerTests {
    let echo = Tool(name: "echo", description: "Echo", parameters: ["type": "object", "properties": ["s": ["type": "string"]], "required": ["s"]]) { args in
        args["s"] ?? .null
    }

    func agent(_ provider: ScriptedProvider, tools: [Tool] = [], maxSteps: Int = 5) -> Agent {
        Agent(name: "a", model: "test:scripted", provider: provider, instructions: "Be brief.", tools: tools, maxSteps: maxSteps)
    }

    @Test("a text-only run: event order and result")
    func textOnlyRunEventOrderAndResult() async throws {
        let provider = ScriptedProvider([.text("Hel", "lo")])
        let (events, error) = await collect(OrbiterCore.run.stream(agent(provider), "hi", detailed: true))
        #expect(error == nil)
        #expect(shape(events) == ["status:starting", "step:started", "text", "text", "usage", "step:completed", "status:completed"])
        let result = try await OrbiterCore.run(agent(ScriptedProvider([.text("Hel", "lo")])), "hi", messages: [.user("before"), .assistant("ok")])
        #expect(result.output == "Hello")
        #expect(result.steps == 1)
        #expect(result.messages.map(\.role) == [.user, .assistant, .user, .assistant])
        #expect(result.usage == Usage(inputTokens: 1, outputTokens: 1))
        // Instructions go first, history next, then the input.
        let request = provider.requests.withLock { $0[0] }
        #expect(request.messages.map(\.role) == [.system, .user])
        #expect(request.model == "scripted")
    }

    @Test("without detailed, only text, tool calls and errors are sent")
    func withoutDetailedOnlyTextToolCallAndErrorAreSent() async {
        let provider = ScriptedProvider([.call("echo", #"{"s":"x"}"#), .text("done")])
        let (events, error) = await collect(OrbiterCore.run.stream(agent(provider, tools: [echo]), "hi"))
        #expect(error == nil)
        #expect(shape(events) == ["tool_call", "text"])
    }

    @Test("a tool step: event order and transcript")
    func toolStepOrderAndTranscript() async throws {
        let provider = ScriptedProvider([.call("echo", #"{"s":"x"}"#, id: "c1"), .text("done")])
        let (events, error) = await collect(OrbiterCore.run.stream(agent(provider, tools: [echo]), "hi", detailed: true))
        #expect(error == nil)
        #expect(shape(events) == ["status:starting", "step:started", "usage", "tool_call", "tool_result", "step:completed",
                                  "step:started", "text", "usage", "step:completed", "status:completed"])
        guard case .toolResult(let r) = events[4] else { Issue.record("event 4 is \(events[4])"); return }
        #expect(r.success)
        #expect(r.result == "x")
        #expect(r.arguments == ["s": "x"])
        // The second request carries the assistant's call and the tool's answer.
        let second = provider.requests.withLock { $0[1] }
        #expect(second.messages.last?.role == .tool)
        #expect(second.messages.last?.toolCallID == "c1")
        #expect(second.messages.last?.content == "x")
    }

    @Test("several tool calls in one step run concurrently")
    func severalToolCallsInOneStepRunConcurrently() async throws {
        let slow = Tool(name: "slow", description: "", parameters: ["type": "object"]) { _ in
            try await Task.sleep(for: .milliseconds(300))
            return "ok"
        }
        let calls = (1...3).map { ToolCall(id: "c\($0)", name: "slow", arguments: "{}") }
        let provider = ScriptedProvider([.init(calls: calls), .text("done")])
        let start = ContinuousClock.now
        let (events, error) = await collect(OrbiterCore.run.stream(agent(provider, tools: [slow]), "hi", detailed: true))
        let elapsed = ContinuousClock.now - start
        #expect(error == nil)
        #expect(elapsed < .milliseconds(800), "three 300 ms tools in one step should overlap")
        let results = events.compactMap { if case .toolResult(let r) = $0 { return r } else { return nil } }
        #expect(results.count == 3)
        for r in results { #expect(r.durationMs >= 290) }
    }

    @Test("failing, unknown and invalid tools become results the model sees")
    func failingUnknownAndInvalidToolsBecomeResultsTheModelSees() async throws {
        let failing = Tool(name: "boom", description: "", parameters: ["type": "object"]) { _ in
            throw OrbiterError.toolFailed(tool: "boom", message: "kaput")
        }
        let provider = ScriptedProvider([
            .init(calls: [ToolCall(id: "1", name: "boom", arguments: "{}"), ToolCall(id: "2", name: "nope", arguments: "{}"),
                          ToolCall(id: "3", name: "echo", arguments: "{not json"), ToolCall(id: "4", name: "echo", arguments: #"{"s": 5}"#),
                          ToolCall(id: "5", name: "echo", arguments: "{}")]),
            .text("recovered"),
        ])
        let (events, error) = await collect(OrbiterCore.run.stream(agent(provider, tools: [echo, failing]), "hi", detailed: true))
        #expect(error == nil)
        let results = events.compactMap { if case .toolResult(let r) = $0 { return r } else { return nil } }
        #expect(results.count == 5)
        #expect(results.allSatisfy { !$0.success })
        let errors = Dictionary(uniqueKeysWithValues: results.map { ($0.toolCallID, $0.error ?? "") })
        #expect(errors["1"]!.contains("kaput"))
        #expect(errors["2"]!.contains("unknown tool 'nope'") && errors["2"]!.contains("echo"), "\(errors["2"]!)")
        #expect(errors["3"]!.contains("not valid JSON"))
        #expect(errors["4"]!.contains("must be of type string"), "\(errors["4"]!)")
        #expect(errors["5"]!.contains("missing required argument 's'"))
        let toolMessages = provider.requests.withLock { $0[1] }.messages.filter { $0.role == .tool }
        #expect(toolMessages.map(\.toolCallID) == ["1", "2", "3", "4", "5"])
        #expect(toolMessages.allSatisfy { $0.content.hasPrefix("Error: ") })
        #expect(events.last == .status(StatusEvent(status: .completed, agentName: "a")))
    }

    @Test("running out of steps is an error, not a silent end")
    func maxStepsExhaustedIsAnErrorNotASilentEnd() async {
        let provider = ScriptedProvider(Array(repeating: .call("echo", #"{"s":"x"}"#), count: 5))
        let (events, error) = await collect(OrbiterCore.run.stream(agent(provider, tools: [echo], maxSteps: 2), "hi", detailed: true))
        #expect(error as? OrbiterError == .maxStepsExceeded(agent: "a", maxSteps: 2))
        guard case .error(let e) = events[events.count - 2], case .status(let s) = events.last! else {
            Issue.record("\(shape(events))")
            return
        }
        #expect(e.errorType == "MaxStepsExceeded")
        #expect(e.stepNumber == 2)
        #expect(s.status == .error)
        #expect(events.filter(\.isTerminal).count == 1)
    }

    @Test("a provider error gives an error event and a terminal status, then throws")
    func providerErrorGivesErrorEventTerminalStatusThenThrows() async {
        let provider = ScriptedProvider([.init(error: ModelError(provider: "test", model: "m", status: 500, message: "down", retryable: true))])
        let (events, error) = await collect(OrbiterCore.run.stream(agent(provider), "hi", detailed: true))
        #expect(error is ModelError)
        #expect(shape(events) == ["status:starting", "step:started", "error", "status:error"])
        guard case .error(let e) = events[2] else { Issue.record("event 2 is \(events[2])"); return }
        #expect(e.recoverable)
        #expect(e.error == "test:m HTTP 500: down")
        // Without detailed the error event still comes.
        let (basic, _) = await collect(OrbiterCore.run.stream(agent(ScriptedProvider([.init(error: ModelError(provider: "p", model: "m", message: "x"))])), "hi"))
        #expect(shape(basic) == ["error"])
    }

    @Test("an unknown provider names the known ones")
    func unknownProviderNamesTheKnownOnes() async {
        let registry = ProviderRegistry()
        registry.register("alpha") { _, _ in ScriptedProvider([]) }
        let a = Agent(name: "a", model: "nope:x")
        do {
            _ = try await Run(providers: registry)(a, "hi")
            Issue.record("expected an error")
        } catch {
            #expect("\(error)".contains("unknown model provider 'nope'") && "\(error)".contains("alpha"), "\(error)")
        }
    }

    @Test("stopping the stream cancels the run")
    func stoppingTheStreamCancelsTheRun() async throws {
        let tool = Tool(name: "wait", description: "", parameters: ["type": "object"]) { _ in
            try await Task.sleep(for: .seconds(30))
            return "late"
        }
        let provider = ScriptedProvider([.call("wait", "{}")])
        let stream = OrbiterCore.run.stream(agent(provider, tools: [tool]), "hi", detailed: true)
        let start = ContinuousClock.now
        let consumer = Task { for try await _ in stream {} }
        try await Task.sleep(for: .milliseconds(100))
        consumer.cancel()
        _ = await consumer.result
        #expect(ContinuousClock.now - start < .seconds(5))
    }

    @Test("the event types filter")
    func eventTypesFilter() async {
        let provider = ScriptedProvider([.call("echo", #"{"s":"x"}"#), .text("done")])
        let (events, _) = await collect(OrbiterCore.run.stream(agent(provider, tools: [echo]), "hi", detailed: true, eventTypes: ["text", "tool_result"]))
        #expect(shape(events) == ["tool_result", "text"])
    }
}
