import Foundation
import XCTest
@testable import OrbiterCore

final class RunnerTests: XCTestCase {
    let echo = Tool(name: "echo", description: "Echo", parameters: ["type": "object", "properties": ["s": ["type": "string"]], "required": ["s"]]) { args in
        args["s"] ?? .null
    }

    func agent(_ provider: ScriptedProvider, tools: [Tool] = [], maxSteps: Int = 5) -> Agent {
        Agent(name: "a", model: "test:scripted", provider: provider, instructions: "Be brief.", tools: tools, maxSteps: maxSteps)
    }

    func testTextOnlyRunEventOrderAndResult() async throws {
        let provider = ScriptedProvider([.text("Hel", "lo")])
        let (events, error) = await collect(OrbiterCore.run.stream(agent(provider), "hi", detailed: true))
        XCTAssertNil(error)
        XCTAssertEqual(shape(events), ["status:starting", "step:started", "text", "text", "usage", "step:completed", "status:completed"])
        let result = try await OrbiterCore.run(agent(ScriptedProvider([.text("Hel", "lo")])), "hi", messages: [.user("before"), .assistant("ok")])
        XCTAssertEqual(result.output, "Hello")
        XCTAssertEqual(result.steps, 1)
        XCTAssertEqual(result.messages.map(\.role), [.user, .assistant, .user, .assistant])
        XCTAssertEqual(result.usage, Usage(inputTokens: 1, outputTokens: 1))
        // Instructions go first, history next, then the input.
        let request = provider.requests.withLock { $0[0] }
        XCTAssertEqual(request.messages.map(\.role), [.system, .user])
        XCTAssertEqual(request.model, "scripted")
    }

    func testWithoutDetailedOnlyTextToolCallAndErrorAreSent() async {
        let provider = ScriptedProvider([.call("echo", #"{"s":"x"}"#), .text("done")])
        let (events, error) = await collect(OrbiterCore.run.stream(agent(provider, tools: [echo]), "hi"))
        XCTAssertNil(error)
        XCTAssertEqual(shape(events), ["tool_call", "text"])
    }

    func testToolStepOrderAndTranscript() async throws {
        let provider = ScriptedProvider([.call("echo", #"{"s":"x"}"#, id: "c1"), .text("done")])
        let (events, error) = await collect(OrbiterCore.run.stream(agent(provider, tools: [echo]), "hi", detailed: true))
        XCTAssertNil(error)
        XCTAssertEqual(shape(events), ["status:starting", "step:started", "usage", "tool_call", "tool_result", "step:completed",
                                       "step:started", "text", "usage", "step:completed", "status:completed"])
        guard case .toolResult(let r) = events[4] else { return XCTFail() }
        XCTAssertTrue(r.success)
        XCTAssertEqual(r.result, "x")
        XCTAssertEqual(r.arguments, ["s": "x"])
        // The second request carries the assistant's call and the tool's answer.
        let second = provider.requests.withLock { $0[1] }
        XCTAssertEqual(second.messages.last?.role, .tool)
        XCTAssertEqual(second.messages.last?.toolCallID, "c1")
        XCTAssertEqual(second.messages.last?.content, "x")
    }

    func testSeveralToolCallsInOneStepRunConcurrently() async throws {
        let slow = Tool(name: "slow", description: "", parameters: ["type": "object"]) { _ in
            try await Task.sleep(for: .milliseconds(300))
            return "ok"
        }
        let calls = (1...3).map { ToolCall(id: "c\($0)", name: "slow", arguments: "{}") }
        let provider = ScriptedProvider([.init(calls: calls), .text("done")])
        let start = ContinuousClock.now
        let (events, error) = await collect(OrbiterCore.run.stream(agent(provider, tools: [slow]), "hi", detailed: true))
        let elapsed = ContinuousClock.now - start
        XCTAssertNil(error)
        XCTAssertLessThan(elapsed, .milliseconds(800), "three 300 ms tools in one step should overlap")
        let results = events.compactMap { if case .toolResult(let r) = $0 { return r } else { return nil } }
        XCTAssertEqual(results.count, 3)
        for r in results { XCTAssertGreaterThanOrEqual(r.durationMs, 290) }
    }

    func testFailingUnknownAndInvalidToolsBecomeResultsTheModelSees() async throws {
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
        XCTAssertNil(error)
        let results = events.compactMap { if case .toolResult(let r) = $0 { return r } else { return nil } }
        XCTAssertEqual(results.count, 5)
        XCTAssertTrue(results.allSatisfy { !$0.success })
        let errors = Dictionary(uniqueKeysWithValues: results.map { ($0.toolCallID, $0.error ?? "") })
        XCTAssertTrue(errors["1"]!.contains("kaput"))
        XCTAssertTrue(errors["2"]!.contains("unknown tool 'nope'") && errors["2"]!.contains("echo"), errors["2"]!)
        XCTAssertTrue(errors["3"]!.contains("not valid JSON"))
        XCTAssertTrue(errors["4"]!.contains("must be of type string"), errors["4"]!)
        XCTAssertTrue(errors["5"]!.contains("missing required argument 's'"))
        let toolMessages = provider.requests.withLock { $0[1] }.messages.filter { $0.role == .tool }
        XCTAssertEqual(toolMessages.map(\.toolCallID), ["1", "2", "3", "4", "5"])
        XCTAssertTrue(toolMessages.allSatisfy { $0.content.hasPrefix("Error: ") })
        XCTAssertEqual(events.last, .status(StatusEvent(status: .completed, agentName: "a")))
    }

    func testMaxStepsExhaustedIsAnErrorNotASilentEnd() async {
        let provider = ScriptedProvider(Array(repeating: .call("echo", #"{"s":"x"}"#), count: 5))
        let (events, error) = await collect(OrbiterCore.run.stream(agent(provider, tools: [echo], maxSteps: 2), "hi", detailed: true))
        XCTAssertEqual(error as? OrbiterError, .maxStepsExceeded(agent: "a", maxSteps: 2))
        guard case .error(let e) = events[events.count - 2], case .status(let s) = events.last! else { return XCTFail("\(shape(events))") }
        XCTAssertEqual(e.errorType, "MaxStepsExceeded")
        XCTAssertEqual(e.stepNumber, 2)
        XCTAssertEqual(s.status, .error)
        XCTAssertEqual(events.filter(\.isTerminal).count, 1)
    }

    func testProviderErrorGivesErrorEventTerminalStatusThenThrows() async {
        let provider = ScriptedProvider([.init(error: ModelError(provider: "test", model: "m", status: 500, message: "down", retryable: true))])
        let (events, error) = await collect(OrbiterCore.run.stream(agent(provider), "hi", detailed: true))
        XCTAssertTrue(error is ModelError)
        XCTAssertEqual(shape(events), ["status:starting", "step:started", "error", "status:error"])
        guard case .error(let e) = events[2] else { return XCTFail() }
        XCTAssertTrue(e.recoverable)
        XCTAssertEqual(e.error, "test:m HTTP 500: down")
        // Without detailed the error event still comes.
        let (basic, _) = await collect(OrbiterCore.run.stream(agent(ScriptedProvider([.init(error: ModelError(provider: "p", model: "m", message: "x"))])), "hi"))
        XCTAssertEqual(shape(basic), ["error"])
    }

    func testUnknownProviderNamesTheKnownOnes() async {
        let registry = ProviderRegistry()
        registry.register("alpha") { _, _ in ScriptedProvider([]) }
        let a = Agent(name: "a", model: "nope:x")
        do {
            _ = try await Run(providers: registry)(a, "hi")
            XCTFail("expected an error")
        } catch {
            XCTAssertTrue("\(error)".contains("unknown model provider 'nope'") && "\(error)".contains("alpha"), "\(error)")
        }
    }

    func testStoppingTheStreamCancelsTheRun() async throws {
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
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(5))
    }

    func testEventTypesFilter() async {
        let provider = ScriptedProvider([.call("echo", #"{"s":"x"}"#), .text("done")])
        let (events, _) = await collect(OrbiterCore.run.stream(agent(provider, tools: [echo]), "hi", detailed: true, eventTypes: ["text", "tool_result"]))
        XCTAssertEqual(shape(events), ["tool_result", "text"])
    }
}
