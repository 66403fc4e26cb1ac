import Foundation
import OrbiterCore
import OrbiterTestSupport
@testable import OrbiterTools
import Testing

/// What a worker lets scripts use: only the servers its --mcp file offers, as it defines them.
@Suite("MCP worker policy", .serialized)
struct MCPPolicyTests {
    @Test("a stdio server the worker does not offer is refused, saying how to offer it")
    func notOffered() async throws {
        let hub = MCPHub(offered: [:], scriptHTTP: RefusingHTTPAccess(), trustedHTTP: OpenHTTPAccess(), logger: MCPFixtures.logger())
        let declared = MCPServerSpec(name: "time", transport: .stdio(command: "python3", arguments: ["-m", "mcp_server_time"],
                                                                    environment: [:], workingDirectory: nil))
        await #expect {
            _ = try await hub.tools(for: declared)
        } throws: { error in
            "\(error)" == "MCP server 'time' is not offered by this worker (start the worker with --mcp FILE naming 'time')"
        }
        #expect(await hub.serverProcesses().isEmpty)
        await hub.shutdown()
    }

    @Test("an offered server runs as the worker defines it, never with the script's command")
    func offeredDefinitionWins() async throws {
        let offered = try MCPFixtures.stdio("time", ["-m", "mcp_server_time"])
        let hub = MCPHub(offered: ["time": offered], scriptHTTP: RefusingHTTPAccess(), trustedHTTP: OpenHTTPAccess(),
                         logger: MCPFixtures.logger())
        let marker = try temporaryFolder("orbiter-mcp-policy").appendingPathComponent("script-command-ran").path
        let declared = MCPServerSpec(name: "time", transport: .stdio(command: "/bin/sh", arguments: ["-c", "touch \(marker)"],
                                                                    environment: [:], workingDirectory: nil))
        let tools = try await hub.tools(for: declared)
        #expect(tools.contains { $0.name == "time__get_current_time" })
        #expect(try await call(tools, "time__get_current_time", ["timezone": "UTC"])["timezone"] == "UTC")
        let pid = try #require(await hub.serverProcesses().first?.pid)
        let commandLine = try String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8)
        #expect(commandLine.contains("mcp_server_time"))
        #expect(!FileManager.default.fileExists(atPath: marker))
        await hub.shutdown()
    }

    @Test("a URL server the worker does not offer goes through the worker's allow-listed HTTP access")
    func scriptURLUsesScriptHTTP() async throws {
        let hub = MCPHub(offered: [:], scriptHTTP: RefusingHTTPAccess(), trustedHTTP: OpenHTTPAccess(), logger: MCPFixtures.logger())
        await #expect {
            _ = try await hub.tools(for: MCPServerSpec(name: "docs", transport: .http(url: "http://127.0.0.1:9/mcp", headers: [:])))
        } throws: { error in
            "\(error)".contains("host not allowed")
        }
        await hub.shutdown()
    }

    @Test("an offered URL server goes through the worker's own HTTP access, at the offered URL")
    func offeredURLUsesTrustedHTTP() async throws {
        let server = try await HTTPFixtureServer()
        defer { server.stop() }
        let offered = MCPServerSpec(name: "docs", transport: .http(url: server.url, headers: [:]))
        let hub = MCPHub(offered: ["docs": offered], scriptHTTP: RefusingHTTPAccess(), trustedHTTP: OpenHTTPAccess(),
                         logger: MCPFixtures.logger())
        let declared = MCPServerSpec(name: "docs", transport: .http(url: "http://elsewhere.invalid/mcp", headers: [:]))
        let tools = try await hub.tools(for: declared)
        #expect(try await call(tools, "docs__add", ["a": 20, "b": 22]) == ["sum": 42])
        await hub.shutdown()
    }
}
