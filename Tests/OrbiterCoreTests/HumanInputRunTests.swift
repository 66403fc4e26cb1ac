import Foundation
import OrbiterTestSupport
import Synchronization
import Testing
@testable import OrbiterCore

/// A person in the loop, in the runner: approvals before tool calls run, questions inside tools,
/// and parking (the run stops with its checkpoint and resumes from it with the reply).
@Suite("Human input in the runner")
struct HumanInputRunTests {
    /// A human input that answers from a list and records what it was asked.
    final class Person: HumanInput {
        let replies: Mutex<[InputReply]>
        let asked = Mutex<[InputRequest]>([])
        let waitsInProcess: Bool

        init(_ replies: [InputReply], waits: Bool = true) {
            self.replies = Mutex(replies)
            waitsInProcess = waits
        }

        func ask(_ request: InputRequest) async throws -> InputReply {
            asked.withLock { $0.append(request) }
            return replies.withLock { $0.isEmpty ? .rejected(reason: "no more replies") : $0.removeFirst() }
        }
    }

    /// Counts the calls of a tool's body.
    final class Counter: Sendable {
        let count = Mutex(0)
        func hit() { count.withLock { $0 += 1 } }
        var value: Int { count.withLock { $0 } }
    }

    func refund(_ runs: Counter) -> Tool {
        Tool(name: "refund", description: "Refund", parameters: ["type": "object", "properties": ["amount": ["type": "integer"]]],
             approval: true) { args in
            runs.hit()
            return .string("refunded \(args["amount"]?.intValue ?? 0)")
        }
    }

    func agent(_ provider: ScriptedProvider, tools: [Tool]) -> Agent {
        Agent(name: "support", model: "test:scripted", provider: provider, tools: tools, maxSteps: 4)
    }

    @Test("an approved call runs, after a waiting_for_input event that carries it")
    func approved() async throws {
        let runs = Counter()
        let provider = ScriptedProvider([.call("refund", #"{"amount": 30}"#, id: "c1"), .text("done")])
        let person = Person([.approved])
        let events = Mutex<[StreamEvent]>([])
        let result = try await OrbiterCore.run.execute(.agent(agent(provider, tools: [refund(runs)])), input: "refund", detailed: true,
                                                       humanInput: person) { e in events.withLock { $0.append(e) } }
        #expect(result.output == "done")
        #expect(runs.value == 1)
        let request = try #require(person.asked.withLock { $0.first })
        #expect(request.kind == .approval && request.toolName == "refund" && request.toolCallID == "c1")
        #expect(request.arguments == ["amount": 30])
        #expect(request.prompt == #"approve refund {"amount": 30}?"#)
        let waiting = events.withLock { $0 }.compactMap { e -> StatusEvent? in
            if case .status(let s) = e, s.status == .waitingForInput { return s } else { return nil }
        }
        #expect(waiting.count == 1)
        #expect(waiting.first?.pending?.id == request.id)
        let json = try JSONValue.parse(StreamEvent.status(waiting[0]).jsonString)
        #expect(json["status"] == "waiting_for_input" && json["tool_name"] == "refund" && json["tool_call_id"] == "c1")
        #expect(json["arguments"] == ["amount": 30] && json["kind"] == "approval")
        #expect(try StreamEvent(json: json) == .status(waiting[0]), "the event reads back")
    }

    @Test("a rejected call does not run; the model sees rejected: <reason>")
    func rejected() async throws {
        let runs = Counter()
        let provider = ScriptedProvider([.call("refund", #"{"amount": 30}"#), .text("ok")])
        let (events, error) = await collect(OrbiterCore.run.stream(agent(provider, tools: [refund(runs)]), "x", detailed: true))
        #expect(error != nil, "no human input: the run fails")
        #expect(events.contains { if case .error(let e) = $0 { return e.errorType == "HumanInputUnavailable" } else { return false } })
        let provider2 = ScriptedProvider([.call("refund", #"{"amount": 30}"#), .text("ok")])
        let result = try await OrbiterCore.run.execute(.agent(agent(provider2, tools: [refund(runs)])), input: "x", detailed: false,
                                                       humanInput: Person([.rejected(reason: "too much")])) { _ in }
        #expect(result.output == "ok")
        #expect(runs.value == 0)
        let sent = provider2.requests.withLock { $0[1] }.messages.last
        #expect(sent?.role == .tool && sent?.content == "Error: rejected: too much")
    }

    @Test("approve-all approves without asking; questions without a terminal fail clearly")
    func approveAll() async throws {
        let runs = Counter()
        let provider = ScriptedProvider([.call("refund", #"{"amount": 1}"#), .text("ok")])
        _ = try await OrbiterCore.run.execute(.agent(agent(provider, tools: [refund(runs)])), input: "x", detailed: false,
                                              humanInput: ApproveAll()) { _ in }
        #expect(runs.value == 1)
        let asker = Tool(name: "who", description: "", parameters: ["type": "object", "properties": .object([:])]) { _ in
            .string(try await ToolCallScope.current!.ask("Which account?"))
        }
        let failing = ScriptedProvider([.call("who", "{}"), .text("ok")])
        do {
            _ = try await OrbiterCore.run.execute(.agent(agent(failing, tools: [asker])), input: "x", detailed: false,
                                                  humanInput: ApproveAll()) { _ in }
            Issue.record("the question had no one to answer it")
        } catch {
            #expect(errorTypeName(error) == "HumanInputUnavailable")
            #expect("\(error)".contains("asks \"Which account?\""), "\(error)")
        }
    }

    @Test("a parked run stops with its checkpoint; resumed with the approval, the call runs once and the model is not asked again")
    func parkAndResumeApproval() async throws {
        let runs = Counter()
        let provider = ScriptedProvider([.call("refund", #"{"amount": 30}"#, id: "c1"), .text("done")])
        let root = Runnable.agent(agent(provider, tools: [refund(runs)]))
        let parked: RunParked
        do {
            _ = try await OrbiterCore.run.execute(root, input: "refund", detailed: true, checkpoint: { _ in }, humanInput: ParkingInput()) { e in
                #expect(!e.isTerminal, "a parked run reports no end")
            }
            Issue.record("the run did not park")
            return
        } catch let error as RunParked {
            parked = error
        }
        #expect(parked.request.kind == .approval && parked.request.toolCallID == "c1")
        let checkpoint = try #require(parked.checkpoint)
        #expect(try Checkpoint(json: JSONValue.parse(checkpoint.json.jsonString)) == checkpoint, "the checkpoint survives JSON")
        guard case .running(let progress)? = checkpoint.nodes[""] else { Issue.record("no progress: \(checkpoint)"); return }
        #expect(progress.steps == 0 && progress.suspended?.step == 1 && progress.suspended?.awaiting == parked.request)
        #expect(checkpoint.applying(.approved, to: "another request") == nil)
        let resumed = try #require(checkpoint.applying(.approved, to: parked.request.id))
        let events = Mutex<[StreamEvent]>([])
        let result = try await OrbiterCore.run.execute(root, input: "refund", detailed: true, resume: resumed, humanInput: ParkingInput()) { e in
            events.withLock { $0.append(e) }
        }
        #expect(result.output == "done")
        #expect(runs.value == 1)
        #expect(provider.requests.withLock { $0.count } == 2, "the model answered the step once, before the park")
        #expect(result.steps == 2)
        #expect(shape(events.withLock { $0 }) == ["tool_result", "step:completed", "step:started", "text", "usage", "step:completed",
                                                  "status:completed"])
    }

    @Test("a tool that asks twice parks twice and runs again from its start, its questions answered in order")
    func questionsInOrder() async throws {
        let bodies = Counter()
        let asker = Tool(name: "setup", description: "", parameters: ["type": "object", "properties": .object([:])]) { _ in
            bodies.hit()
            let scope = try #require(ToolCallScope.current)
            let name = try await scope.ask("Name?")
            let city = try await scope.ask("City?")
            return .string("\(name) in \(city)")
        }
        let provider = ScriptedProvider([.call("setup", "{}", id: "s1"), .text("ok")])
        let root = Runnable.agent(agent(provider, tools: [asker]))
        var resume: Checkpoint?
        var answers = ["Ada", "Paris"]
        var questions: [String] = []
        while true {
            do {
                let result = try await OrbiterCore.run.execute(root, input: "go", detailed: false, resume: resume, checkpoint: { _ in },
                                                               humanInput: ParkingInput()) { _ in }
                #expect(result.output == "ok")
                break
            } catch let parked as RunParked {
                questions.append(parked.request.question ?? "")
                #expect(parked.request.index == questions.count - 1)
                resume = try #require(parked.checkpoint?.applying(.answer(answers.removeFirst()), to: parked.request.id))
            }
        }
        #expect(questions == ["Name?", "City?"])
        #expect(bodies.value == 3, "the tool ran from its start after each park")
        #expect(provider.requests.withLock { $0[1] }.messages.last?.content == "Ada in Paris")
    }

    @Test("calls of the step that ended before the park are not run again")
    func finishedSiblingsKeepTheirResults() async throws {
        let others = Counter()
        let other = Tool(name: "lookup", description: "", parameters: ["type": "object", "properties": .object([:])]) { _ in
            others.hit()
            return "found"
        }
        let asking = Tool(name: "confirm", description: "", parameters: ["type": "object", "properties": .object([:])]) { _ in
            .string(try await ToolCallScope.current!.ask("ok?"))
        }
        let both = ScriptedProvider.Reply(calls: [ToolCall(id: "a", name: "lookup", arguments: "{}"),
                                                  ToolCall(id: "b", name: "confirm", arguments: "{}")])
        let provider = ScriptedProvider([both, .text("done")])
        let root = Runnable.agent(agent(provider, tools: [other, asking]))
        var resume: Checkpoint?
        var parks = 0
        for _ in 0..<3 {
            do {
                _ = try await OrbiterCore.run.execute(root, input: "go", detailed: false, resume: resume, checkpoint: { _ in },
                                                      humanInput: ParkingInput()) { _ in }
                break
            } catch let parked as RunParked {
                parks += 1
                resume = parked.checkpoint?.applying(.answer("yes!"), to: parked.request.id)
            }
        }
        #expect(parks == 1)
        #expect(others.value == 1, "the call that ended before the park did not run again")
        let sent = provider.requests.withLock { $0[1] }.messages.suffix(2).map(\.content)
        #expect(sent == ["found", "yes!"])
    }
}
