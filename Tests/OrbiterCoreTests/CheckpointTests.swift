import Synchronization
import Testing
@testable import OrbiterCore

/// Any node checkpoints: a resumed swarm skips members that finished and continues the one that
/// was part-way through from its last completed step.
@Suite struct CheckpointTests {
    /// Counts its runs, so a test can tell whether a step's tool ran again.
    final class CountingTool: Sendable {
        let runs = Mutex(0)
        var tool: Tool {
            Tool(name: "note", description: "Note", parameters: ["type": "object", "properties": .object([:])]) { _ in
                self.runs.withLock { $0 += 1 }
                return "noted"
            }
        }
    }

    func agent(_ name: String, _ provider: ScriptedProvider, tools: [Tool] = [], handoffs: [String] = []) -> Runnable {
        .agent(Agent(name: name, model: "test:\(name)", provider: provider, tools: tools, handoffs: handoffs))
    }

    /// Runs `node`, returning every checkpoint saved, in order.
    func checkpoints(of node: Runnable, resume: Checkpoint? = nil) async throws -> (RunResult, [Checkpoint]) {
        let saved = Mutex<[Checkpoint]>([])
        let result = try await Run().execute(node, input: "go", detailed: false, resume: resume,
                                             checkpoint: { state in saved.withLock { $0.append(state) } }) { _ in }
        return (result, saved.withLock { $0 })
    }

    @Test("a workflow resumes in the member that was running, after the members that finished")
    func workflowResumesMidMember() async throws {
        let note = CountingTool()
        let a1 = ScriptedProvider([.text("from a")])
        let b1 = ScriptedProvider([.call("note", "{}"), .text("from b")])
        let c1 = ScriptedProvider([.text("from c")])
        let swarm: Runnable = .swarm(Swarm(agents: [agent("a", a1), agent("b", b1, tools: [note.tool]), agent("c", c1)]))
        let (full, saved) = try await checkpoints(of: swarm)
        #expect(full.output == "from c")
        // The state after b's first step: a finished, b part-way.
        let crash = try #require(saved.first { if case .running(let p)? = $0.nodes["1"] { return p.steps == 1 } else { return false } })
        #expect(crash.nodes["0"] == .finished(output: "from a"))
        #expect(crash.steps == 2)
        // It survives its JSON form.
        let restored = try Checkpoint(json: JSONValue.parse(crash.json.jsonString))
        #expect(restored == crash)

        let a2 = ScriptedProvider([.text("a must not run")])
        let b2 = ScriptedProvider([.text("b resumed")])
        let c2 = ScriptedProvider([.text("c after resume")])
        let again: Runnable = .swarm(Swarm(agents: [agent("a", a2), agent("b", b2, tools: [note.tool]), agent("c", c2)]))
        let (resumed, _) = try await checkpoints(of: again, resume: restored)
        #expect(resumed.output == "c after resume")
        #expect(a2.requests.withLock { $0.isEmpty }, "a finished before the crash")
        #expect(note.runs.withLock { $0 } == 1, "b's checkpointed tool step did not run again")
        let bRequest = try #require(b2.requests.withLock { $0.first })
        #expect(bRequest.messages.map(\.role) == [.user, .assistant, .tool], "b continues from its transcript")
        #expect(c2.requests.withLock { $0.first?.messages.last?.content } == "b resumed")
        #expect(resumed.steps == 4, "steps of the first attempt count: a 1, b 2, c 1")
    }

    @Test("a parallel stage skips the branches that finished")
    func parallelSkipsFinishedBranches() async throws {
        let a1 = ScriptedProvider([.text("A")]), b1 = ScriptedProvider([.text("B", delay: .milliseconds(50))])
        let c1 = ScriptedProvider([.text("C")])
        let members = [agent("a", a1), agent("b", b1), agent("c", c1)]
        let (_, saved) = try await checkpoints(of: .swarm(Swarm(agents: members, flow: "(a | b) >> c")))
        let afterA = try #require(saved.first { $0.nodes["0"] != nil && $0.nodes["1"] == nil })

        let a2 = ScriptedProvider([.text("a again")]), b2 = ScriptedProvider([.text("B2")]), c2 = ScriptedProvider([.text("C2")])
        let (resumed, _) = try await checkpoints(of: .swarm(Swarm(agents: [agent("a", a2), agent("b", b2), agent("c", c2)],
                                                                  flow: "(a | b) >> c")), resume: afterA)
        #expect(a2.requests.withLock { $0.isEmpty })
        #expect(c2.requests.withLock { $0.first?.messages.last?.content } == "A\n\nB2")
        #expect(resumed.output == "C2")
    }

    @Test("a handoff swarm resumes with the agent that held the conversation")
    func handoffResumesWithTheCurrentAgent() async throws {
        let a1 = ScriptedProvider([.call("transfer_to_b", "{}")]), b1 = ScriptedProvider([.text("b answers")])
        let swarm = Swarm(agents: [agent("a", a1, handoffs: ["b"]), agent("b", b1)], mode: .handoff)
        let (_, saved) = try await checkpoints(of: .swarm(swarm))
        let handedOver = try #require(saved.first { if case .running(let p)? = $0.nodes[""] { return p.agent == "b" } else { return false } })
        if case .running(let p)? = handedOver.nodes[""] { #expect(p.handoffs == 1) }

        let a2 = ScriptedProvider([.text("a must not run")]), b2 = ScriptedProvider([.text("b again")])
        let (resumed, _) = try await checkpoints(of: .swarm(Swarm(agents: [agent("a", a2, handoffs: ["b"]), agent("b", b2)], mode: .handoff)),
                                                 resume: handedOver)
        #expect(resumed.output == "b again")
        #expect(a2.requests.withLock { $0.isEmpty })
        #expect(b2.requests.withLock { $0.first?.messages.contains { $0.role == .tool } } == true, "b sees the transfer")
    }

    @Test("a version 1 checkpoint (a single agent's transcript) still resumes")
    func versionOneStillReads() throws {
        let v1 = #"{"messages":[{"role":"user","content":"go"}],"usage":{"input_tokens":3,"output_tokens":4},"steps":1}"#
        let checkpoint = try Checkpoint(json: JSONValue.parse(v1))
        #expect(checkpoint.steps == 1)
        #expect(checkpoint.messages.map(\.content) == ["go"])
        #expect(checkpoint.usage.inputTokens == 3)
        #expect(throws: OrbiterError.self) { try Checkpoint(json: JSONValue.parse(#"{"steps":1}"#)) }
        // A checkpoint read back from Redis cannot buy a run more steps or handoffs than it allows.
        for tampered in [#"{"steps":-5,"nodes":{}}"#, #"{"steps":1,"nodes":{"":{"messages":[],"steps":-1000000}}}"#,
                         #"{"steps":1,"nodes":{"":{"messages":[],"steps":1,"agent":"b","handoffs":-50}}}"#,
                         #"{"messages":[],"steps":-3}"#] {
            #expect(throws: OrbiterError.self, "\(tampered)") { try Checkpoint(json: JSONValue.parse(tampered)) }
        }
    }

    @Test("concurrent progress is saved one at a time, the latest last")
    func savesAreSerialAndEndWithTheLatest() async throws {
        let saving = Mutex((now: 0, most: 0)), last = Mutex<Checkpoint?>(nil)
        let checkpointer = Checkpointer(resume: nil, ledger: RunContext.Ledger()) { state in
            saving.withLock { $0.now += 1; $0.most = max($0.most, $0.now) }
            try? await Task.sleep(for: .milliseconds(2))
            last.withLock { $0 = state }
            saving.withLock { $0.now -= 1 }
        }
        await withTaskGroup(of: Void.self) { group in
            for i in 0..<20 { group.addTask { await checkpointer.finished(String(i), output: "out \(i)") } }
        }
        #expect(saving.withLock { $0.most } == 1)
        #expect(last.withLock { $0?.nodes.count } == 20)
    }
}
