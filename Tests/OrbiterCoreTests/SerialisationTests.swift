import XCTest
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

final class SerialisationTests: XCTestCase {
    let tool = Tool(name: "t", description: "d", parameters: ["type": "object"], source: ["bundle": "abc", "name": "t"]) { _ in "x" }

    func testAgentRoundTrip() throws {
        let agent = Agent(name: "a", model: "openai:gpt-4o", instructions: "hi", tools: [tool], handoffs: ["b"], maxSteps: 7,
                          temperature: 0.5, maxTokens: 100, settings: ModelSettings(baseURL: "http://x", apiKeyEnv: "K"))
        let dict = agent.toDict()
        XCTAssertEqual(dict["max_steps"], 7)
        XCTAssertEqual(dict["tools"]?.arrayValue?.first?["source"], ["bundle": "abc", "name": "t"])
        let back = try Agent.fromDict(dict, resolver: TableResolver(tools: ["t": tool]))
        XCTAssertEqual(back.toDict(), dict)
    }

    func testNestedSwarmsAndGroupsRoundTrip() throws {
        let a = Agent(name: "a", model: "x:y"), b = Agent(name: "b", model: "x:y"), c = Agent(name: "c", model: "x:y")
        let inner = Swarm(name: "inner", agents: [.agent(b), .agent(c)], mode: .team)
        let group = AgentGroup(name: "g", kind: .parallel, agents: [.agent(b), .agent(c)])
        let outer = Swarm(name: "outer", agents: [.agent(a), .swarm(inner), .group(group)], mode: .workflow, flow: "a >> inner >> g", maxHandoffs: 3)
        let dict = outer.toDict()
        let back = try Runnable.fromDict(dict, resolver: TableResolver())
        XCTAssertEqual(back.toDict(), dict)
        guard case .swarm(let s) = back, case .group(let g) = s.agents[2] else { return XCTFail() }
        XCTAssertEqual(g.kind, .parallel)
        XCTAssertEqual(s.maxHandoffs, 3)
    }

    func testOriginalDictsWithoutTypeAreRecognised() throws {
        let dict: JSONValue = ["agents": [["name": "a", "model": "x:y"]], "mode": "workflow"]
        guard case .swarm = try Runnable.fromDict(dict, resolver: TableResolver()) else { return XCTFail() }
    }

    func testBadDictsNameTheField() {
        XCTAssertThrowsError(try Runnable.fromDict(["type": "agent", "model": "x:y"], resolver: TableResolver())) {
            XCTAssertTrue("\($0)".contains("'name' is missing"), "\($0)")
        }
        XCTAssertThrowsError(try Runnable.fromDict(["type": "agent", "name": "a", "model": "x:y", "max_steps": "many"], resolver: TableResolver())) {
            XCTAssertTrue("\($0)".contains("'max_steps' must be an integer"), "\($0)")
        }
        XCTAssertThrowsError(try Runnable.fromDict(["type": "swarm", "agents": [], "mode": "chaos"], resolver: TableResolver())) {
            XCTAssertTrue("\($0)".contains("mode"), "\($0)")
        }
        XCTAssertThrowsError(try Runnable.fromDict("nope", resolver: TableResolver()))
    }

    func testFlowValidation() {
        let names = ["a", "b", "c"]
        XCTAssertEqual(try SwarmFlow(parsing: "a >> (b | c)", members: names).stages, [["a"], ["b", "c"]])
        for (flow, fragment) in [("a >> d", "unknown agent 'd'"), ("a >> a", "appears twice"), ("a >> ", "expected an agent name"),
                                 ("(a >> b) | c", "must be one agent"), ("(a | b", "is not closed")] {
            XCTAssertThrowsError(try SwarmFlow(parsing: flow, members: names)) { error in
                XCTAssertTrue("\(error)".contains(fragment) && "\(error)".contains(flow), "\(flow): \(error)")
            }
        }
        XCTAssertThrowsError(try Swarm(agents: []).validate())
    }
}
