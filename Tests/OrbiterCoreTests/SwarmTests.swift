import OrbiterTestSupport
import Testing
@testable import OrbiterCore

/// Serialized: parallel stages are checked by how long they take.
@Suite("Swarms", .serialized)
struct SwarmTests {
    func agent(_ name: String, _ replies: [ScriptedProvider.Reply], handoffs: [String] = []) -> (Agent, ScriptedProvider) {
        let p = ScriptedProvider(replies)
        return (Agent(name: name, model: "test:\(name)", provider: p, handoffs: handoffs), p)
    }

    @Test("a workflow chains outputs and ends with one terminal status")
    func workflowChainsOutputsAndEndsWithOneTerminalStatus() async throws {
        let (a, _) = agent("a", [.text("from a")])
        let (b, pb) = agent("b", [.text("from b")])
        let swarm = Swarm(name: "w", agents: [.agent(a), .agent(b)])
        let (events, error) = await collect(OrbiterCore.run.stream(swarm, "start", detailed: true))
        #expect(error == nil)
        #expect(pb.requests.withLock { $0[0].messages.last?.content } == "from a")
        #expect(events.filter(\.isTerminal).count == 1)
        #expect(events.last == .status(StatusEvent(status: .completed, agentName: "w")))
        let running = events.compactMap { if case .status(let s) = $0, s.status == .running { return s.agentName } else { return nil } }
        #expect(running == ["a", "b"])
        let texts = events.compactMap { if case .text(let t) = $0 { return t.agentName } else { return nil } }
        #expect(texts == ["a", "b"])
        let result = try await OrbiterCore.run(Swarm(agents: [.agent(agent("a", [.text("1")]).0), .agent(agent("b", [.text("2")]).0)]), "x")
        #expect(result.output == "2")
        #expect(result.steps == 2)
        #expect(result.usage.totalTokens == 4)
    }

    @Test("a parallel stage is concurrent and joins in flow order")
    func parallelStageIsConcurrentAndJoinsInFlowOrder() async throws {
        let (a, _) = agent("a", [.text("A", delay: .milliseconds(300))])
        let (b, _) = agent("b", [.text("B", delay: .milliseconds(300))])
        let (c, pc) = agent("c", [.text("C")])
        let swarm = Swarm(agents: [.agent(a), .agent(b), .agent(c)], flow: "(a | b) >> c")
        let start = ContinuousClock.now
        let result = try await OrbiterCore.run(swarm, "go")
        #expect(ContinuousClock.now - start < .milliseconds(550))
        #expect(pc.requests.withLock { $0[0].messages.last?.content } == "A\n\nB")
        #expect(result.output == "C")
    }

    @Test("a handoff passes the conversation")
    func handoffPassesTheConversation() async throws {
        let (triage, _) = agent("triage", [.call("transfer_to_billing", "{}")], handoffs: ["billing"])
        let (billing, pb) = agent("billing", [.text("refund issued")])
        let swarm = Swarm(agents: [.agent(triage), .agent(billing)], mode: .handoff)
        let result = try await OrbiterCore.run(swarm, "I want a refund")
        #expect(result.output == "refund issued")
        let seen = pb.requests.withLock { $0[0].messages }
        #expect(seen.first?.content == "I want a refund")
        #expect(seen.contains { $0.role == .tool && $0.content.contains("Transferred to billing") })
        // The original's convention: a reply that is exactly a target's name.
        let (t2, _) = agent("triage", [.text("billing")], handoffs: ["billing"])
        let (b2, _) = agent("billing", [.text("ok")])
        let r2 = try await OrbiterCore.run(Swarm(agents: [.agent(t2), .agent(b2)], mode: .handoff), "x")
        #expect(r2.output == "ok")
    }

    @Test("max_handoffs is enforced")
    func maxHandoffsIsEnforced() async {
        let (a, _) = agent("a", Array(repeating: .call("transfer_to_b", "{}"), count: 5), handoffs: ["b"])
        let (b, _) = agent("b", Array(repeating: .call("transfer_to_a", "{}"), count: 5), handoffs: ["a"])
        let swarm = Swarm(agents: [.agent(a), .agent(b)], mode: .handoff, maxHandoffs: 2)
        let (events, error) = await collect(OrbiterCore.run.stream(swarm, "ping", detailed: true))
        #expect(error as? OrbiterError == .maxHandoffsExceeded(swarm: "swarm", maxHandoffs: 2))
        #expect(events.filter(\.isTerminal).count == 1)
        #expect(events.contains { if case .error(let e) = $0 { return e.errorType == "MaxHandoffsExceeded" } else { return false } })
    }

    @Test("a team leader delegates and worker events carry their names")
    func teamLeaderDelegatesAndWorkerEventsCarryTheirNames() async throws {
        let (lead, pl) = agent("lead", [.call("delegate_to_coder", #"{"task":"write hello"}"#), .text("done: ok")])
        let (coder, pc) = agent("coder", [.text("print('hello')")])
        let swarm = Swarm(agents: [.agent(lead), .agent(coder)], mode: .team)
        let (events, error) = await collect(OrbiterCore.run.stream(swarm, "build it", detailed: true))
        #expect(error == nil)
        #expect(pc.requests.withLock { $0[0].messages.last?.content } == "write hello")
        #expect(pl.requests.withLock { $0[0].tools.map(\.name) }.contains("delegate_to_coder"))
        #expect(events.contains { if case .text(let t) = $0 { return t.agentName == "coder" } else { return false } })
        #expect(events.filter(\.isTerminal).count == 1)
        let toolMessage = pl.requests.withLock { $0[1].messages.last }
        #expect(toolMessage?.content == "print('hello')")
        #expect(lead.tools.isEmpty, "the shared agent is never mutated")
    }

    @Test("a nested swarm is one node; groups run their members")
    func nestedSwarmAsOneNodeAndGroups() async throws {
        let (a, _) = agent("a", [.text("a1")])
        let (b, _) = agent("b", [.text("b1")])
        let (c, _) = agent("c", [.text("c1")])
        let inner = Swarm(name: "inner", agents: [.agent(b), .agent(c)])
        let outer = Swarm(name: "outer", agents: [.agent(a), .swarm(inner)])
        let result = try await OrbiterCore.run(outer, "x")
        #expect(result.output == "c1")
        #expect(result.steps == 3)
        let (d, _) = agent("d", [.text("d1", delay: .milliseconds(200))])
        let (e, _) = agent("e", [.text("e1", delay: .milliseconds(200))])
        let group = AgentGroup(name: "g", kind: .parallel, agents: [.agent(d), .agent(e)])
        let start = ContinuousClock.now
        let r2 = try await OrbiterCore.run(group, "x")
        #expect(ContinuousClock.now - start < .milliseconds(390))
        #expect(r2.output == "d1\n\ne1")
    }

    @Test("flows parse nested parentheses and point at the mistake")
    func flowsParseNestedParenthesesAndPointAtTheMistake() throws {
        let members = ["a", "b", "c", "d"]
        #expect(try SwarmFlow(parsing: "((a | b) >> c)", members: members).stages == [["a", "b"], ["c"]])
        #expect(try SwarmFlow(parsing: "a | b >> c", members: members).stages == [["a", "b"], ["c"]])
        #expect(try SwarmFlow(parsing: "(a >> (b)) >> (c | (d))", members: members).stages == [["a"], ["b"], ["c", "d"]])
        #expect(try SwarmFlow(parsing: " a>>b ", members: members).stages == [["a"], ["b"]])
        func message(_ flow: String) -> String {
            do { _ = try SwarmFlow(parsing: flow, members: members); return "" } catch { return "\(error)" }
        }
        #expect(message("(a >> b) | c").contains("must be one agent, not a sequence"), "\(message("(a >> b) | c"))")
        #expect(message("(a | b").contains("'(' at column 1 is not closed"), "\(message("(a | b"))")
        #expect(message("a >> ").contains("expected an agent name or '(', found the end (column 6)"), "\(message("a >> "))")
        #expect(message("a ) b").contains("unexpected ')' (column 3)"), "\(message("a ) b"))")
        #expect(message("a >> x").contains("unknown agent 'x'; members are: a, b, c, d"), "\(message("a >> x"))")
        #expect(message("a >> (b | a)").contains("agent 'a' appears twice"), "\(message("a >> (b | a)"))")
        #expect(message("").contains("it is empty"), "\(message(""))")
    }
}
