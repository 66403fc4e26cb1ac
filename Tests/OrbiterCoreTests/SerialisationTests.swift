import Testing
@testable import OrbiterCore

/// Rebinds tools by name from a table of Swift tools, as a worker would.
struct TableResolver: DefinitionResolver {
    var tools: [String: Tool] = [:]
    var models: [String: any ModelProvider] = [:]
    func tool(from dict: JSONValue) throws -> Tool {
        guard let name = dict["name"]?.stringValue, let tool = tools[name] else {
            throw OrbiterError.invalidConfiguration("no tool \(dict["name"] ?? .null)")
        }
        return tool
    }
    func model(named qualifiedName: String) throws -> (any ModelProvider)? { models[qualifiedName] }
}

@Suite("Serialising agents and swarms")
struct SerialisationTests {
    let tool = Tool(name: "t", description: "d", parameters: ["type": "object"], source: ["bundle": "abc", "name": "t"]) { _ in "x" }

    @Test("an agent round-trips")
    func agentRoundTrip() throws {
        let agent = Agent(name: "a", model: "openai:gpt-4o", instructions: "hi", tools: [tool], handoffs: ["b"], maxSteps: 7,
                          temperature: 0.5, maxTokens: 100, settings: ModelSettings(baseURL: "http://x", apiKeyEnv: "K"))
        let dict = agent.toDict()
        #expect(dict["max_steps"] == 7)
        #expect(dict["tools"]?.arrayValue?.first?["source"] == ["bundle": "abc", "name": "t"])
        let back = try Agent.fromDict(dict, resolver: TableResolver(tools: ["t": tool]))
        #expect(back.toDict() == dict)
    }

    @Test("nested swarms and groups round-trip")
    func nestedSwarmsAndGroupsRoundTrip() throws {
        let a = Agent(name: "a", model: "x:y"), b = Agent(name: "b", model: "x:y"), c = Agent(name: "c", model: "x:y")
        let inner = Swarm(name: "inner", agents: [.agent(b), .agent(c)], mode: .team)
        let group = AgentGroup(name: "g", kind: .parallel, agents: [.agent(b), .agent(c)])
        let outer = Swarm(name: "outer", agents: [.agent(a), .swarm(inner), .group(group)], mode: .workflow, flow: "a >> inner >> g", maxHandoffs: 3)
        let dict = outer.toDict()
        let back = try Runnable.fromDict(dict, resolver: TableResolver())
        #expect(back.toDict() == dict)
        guard case .swarm(let s) = back, case .group(let g) = s.agents[2] else { Issue.record("not a swarm ending in a group"); return }
        #expect(g.kind == .parallel)
        #expect(s.maxHandoffs == 3)
    }

    @Test("the original's dicts without a type are recognised")
    func originalDictsWithoutTypeAreRecognised() throws {
        let dict: JSONValue = ["agents": [["name": "a", "model": "x:y"]], "mode": "workflow"]
        guard case .swarm = try Runnable.fromDict(dict, resolver: TableResolver()) else { Issue.record("not a swarm"); return }
    }

    @Test("bad dicts name the field", arguments: [
        (["type": "agent", "model": "x:y"], "'name' is missing"),
        (["type": "agent", "name": "a", "model": "x:y", "max_steps": "many"], "'max_steps' must be an integer"),
        (["type": "swarm", "agents": [], "mode": "chaos"], "mode"),
        ("nope", nil),
    ] as [(JSONValue, String?)])
    func badDictsNameTheField(dict: JSONValue, fragment: String?) {
        let error = #expect(throws: (any Error).self) { try Runnable.fromDict(dict, resolver: TableResolver()) }
        if let error, let fragment { #expect("\(error)".contains(fragment), "\(error)") }
    }

    @Test("flow validation")
    func flowValidation() throws {
        #expect(try SwarmFlow(parsing: "a >> (b | c)", members: ["a", "b", "c"]).stages == [["a"], ["b", "c"]])
        // `|` binds tighter than `>>`: a parallel stage alone needs no parentheses.
        #expect(try SwarmFlow(parsing: "a | b", members: ["a", "b", "c"]).stages == [["a", "b"]])
        #expect(throws: (any Error).self) { try Swarm(agents: []).validate() }
    }

    @Test("bad flows name the problem and the flow", arguments: [
        ("a >> d", "unknown agent 'd'"), ("a >> a", "appears twice"), ("a >> ", "found the end"),
        ("(a | b", "is not closed"),
    ])
    func badFlowsNameTheProblem(flow: String, fragment: String) {
        let error = #expect(throws: (any Error).self) { try SwarmFlow(parsing: flow, members: ["a", "b", "c"]) }
        if let error { #expect("\(error)".contains(fragment) && "\(error)".contains(flow), "\(flow): \(error)") }
    }
}
