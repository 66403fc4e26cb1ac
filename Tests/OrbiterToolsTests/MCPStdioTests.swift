import Foundation
import OrbiterCore
import OrbiterTestSupport
@testable import OrbiterTools
import Testing

/// Real stdio MCP servers: mcp-server-time, mcp-server-git and the fixtures in Tests/Fixtures/mcp.
@Suite("MCP over stdio", .serialized)
struct MCPStdioTests {
    @Test("mcp-server-time: its tools are offered as time__<tool> and get_current_time answers for UTC")
    func timeServer() async throws {
        let hub = MCPFixtures.localHub()
        let spec = try MCPFixtures.stdio("time", ["-m", "mcp_server_time"], environment: ["TZ": "UTC"])
        let tools = try await hub.tools(for: spec)
        #expect(Set(tools.map(\.name)).isSuperset(of: ["time__get_current_time", "time__convert_time"]))
        let getTime = try #require(tools.first { $0.name == "time__get_current_time" })
        #expect(getTime.source == ["mcp": "time", "tool": "get_current_time"])
        #expect(getTime.spec.parameters["type"] == "object")
        #expect(getTime.spec.parameters["properties"]?["timezone"] != nil)
        #expect(getTime.spec.description.contains("time"))

        let answer = try await call(tools, "time__get_current_time", ["timezone": "UTC"])
        #expect(answer["timezone"] == "UTC")
        let stamp = try #require(answer["datetime"]?.stringValue)
        let parsed = try #require(ISO8601DateFormatter().date(from: stamp), "not an ISO 8601 time: \(stamp)")
        #expect(abs(parsed.timeIntervalSinceNow) < 120)
        await hub.shutdown()
    }

    @Test("mcp-server-git: git_status and git_log show a repository's commit")
    func gitServer() async throws {
        let repository = try temporaryFolder("orbiter-mcp-git", files: ["notes.txt": "hello\n"])
        defer { try? FileManager.default.removeItem(at: repository) }
        for arguments in [["init", "-q"], ["add", "notes.txt"],
                          ["-c", "user.name=Orbiter Test", "-c", "user.email=test@example.invalid", "commit", "-qm", "Add the notes"]] {
            let git = Process()
            git.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            git.arguments = ["git", "-C", repository.path] + arguments
            try git.run()
            git.waitUntilExit()
            try #require(git.terminationStatus == 0, "git \(arguments) failed")
        }
        let hub = MCPFixtures.localHub()
        let tools = try await hub.tools(for: try MCPFixtures.stdio("git", ["-m", "mcp_server_git", "--repository", repository.path]))
        #expect(tools.contains { $0.name == "git__git_log" })
        let status = try await call(tools, "git__git_status", ["repo_path": .string(repository.path)])
        #expect(status.stringValue?.contains("nothing to commit") == true, "\(status)")
        let log = try await call(tools, "git__git_log", ["repo_path": .string(repository.path)])
        #expect(log.stringValue?.contains("Add the notes") == true, "\(log)")
        #expect(log.stringValue?.contains("Orbiter Test") == true, "\(log)")
        await hub.shutdown()
    }

    @Test("a server that exits mid-call fails that call, says it is restarting, and works again after the restart")
    func crashAndRecovery() async throws {
        let hub = MCPFixtures.localHub()
        let spec = try MCPFixtures.stdio("crashy", [MCPFixtures.script("crashy_server.py")])
        let tools = try await hub.tools(for: spec)
        #expect(try await call(tools, "crashy__echo", ["text": "before"]) == ["result": "before"])
        let firstPID = try #require(await hub.serverProcesses().first?.pid)

        await #expect {
            _ = try await call(tools, "crashy__crash", ["code": 3])
        } throws: { error in
            "\(error)" == "MCP server 'crashy' exited (code 3) during tools/call 'crash'"
        }
        await #expect {
            _ = try await call(tools, "crashy__echo", ["text": "while down"])
        } throws: { error in
            "\(error)".contains("restarting")
        }
        try await eventually("the server answers again", timeout: .seconds(15)) {
            (try? await call(tools, "crashy__echo", ["text": "after"])) == ["result": "after"]
        }
        let secondPID = try #require(await hub.serverProcesses().first?.pid)
        #expect(secondPID != firstPID)
        #expect(!processIsAlive(firstPID))
        await hub.shutdown()
    }

    @Test("the server's requests are answered: ping with {}, anything else with method not found")
    func serverRequests() async throws {
        let hub = MCPFixtures.localHub()
        let tools = try await hub.tools(for: try MCPFixtures.stdio("crashy", [MCPFixtures.script("crashy_server.py")]))
        let answer = try #require(try await call(tools, "crashy__ask_client")["result"]?.stringValue)
        #expect(answer.hasPrefix("ping answered; roots/list refused: "), "\(answer)")
        #expect(answer.contains("Method not found: roots/list"), "\(answer)")
        await hub.shutdown()
    }

    @Test("notifications/tools/list_changed: the next tools(for:) offers the new tool")
    func listChanged() async throws {
        let hub = MCPFixtures.localHub()
        let spec = try MCPFixtures.stdio("changing", [MCPFixtures.script("changing_server.py")])
        let before = try await hub.tools(for: spec)
        #expect(before.map(\.name) == ["changing__grow"])
        #expect(try await call(before, "changing__grow", ["name": "hello"]) == ["result": "added hello"])
        let after = try await hub.tools(for: spec)
        #expect(after.map(\.name).sorted() == ["changing__grow", "changing__hello"])
        #expect(after.first { $0.name == "changing__hello" }?.spec.description == "Added at run time as hello")
        #expect(try await call(after, "changing__hello") == ["result": "I am hello"])
        await hub.shutdown()
    }

    @Test("a call that takes longer than the server's timeout fails naming it, and the server is told to stop it")
    func callTimeout() async throws {
        let hub = MCPFixtures.localHub()
        let spec = try MCPFixtures.stdio("crashy", [MCPFixtures.script("crashy_server.py")], timeout: .milliseconds(500))
        let tools = try await hub.tools(for: spec)
        await expectTimeout(tools, "crashy__sleep", ["seconds": 10], says: "MCP server 'crashy': tools/call 'sleep' timed out after 0.5 s")
        try await eventually("the server saw notifications/cancelled") {
            try await call(tools, "crashy__cancellations") == ["result": 1]
        }
        await hub.shutdown()
    }

    @Test("cancelling the calling task fails the call at once and cancels it on the server")
    func cancellation() async throws {
        let hub = MCPFixtures.localHub()
        let tools = try await hub.tools(for: try MCPFixtures.stdio("crashy", [MCPFixtures.script("crashy_server.py")]))
        try await expectPromptCancellation(tools, "crashy__sleep", ["seconds": 20])
        try await eventually("the server saw notifications/cancelled") {
            try await call(tools, "crashy__cancellations") == ["result": 1]
        }
        await hub.shutdown()
    }

    @Test("a server speaking only a protocol version Orbiter does not is refused, and stopped; an older one Orbiter speaks is used")
    func protocolVersionRefused() async throws {
        // Offering a version the server does not know makes it answer with its own newest one.
        let spec = try MCPFixtures.stdio("time", ["-m", "mcp_server_time"])
        let connection = MCPConnection(spec: spec, http: nil, logger: MCPFixtures.logger(), protocolVersions: ["1999-01-01"])
        await #expect {
            _ = try await connection.tools()
        } throws: { error in
            let text = "\(error)"
            return text.hasPrefix("MCP server 'time' speaks MCP protocol version 20") && text.contains("Orbiter speaks 1999-01-01")
        }
        #expect(await connection.processID == nil)
        await connection.shutdown()

        let older = MCPConnection(spec: spec, http: nil, logger: MCPFixtures.logger(), protocolVersions: ["2024-11-05"])
        #expect(try await older.tools().contains { $0["name"] == "get_current_time" })
        await older.shutdown()
    }

    @Test("a server that cannot start: the error names the command, or the server's last stderr lines")
    func startFailures() async throws {
        let hub = MCPFixtures.localHub()
        let missing = MCPServerSpec(name: "ghost", transport: .stdio(command: "orbiter-no-such-program", arguments: [],
                                                                    environment: [:], workingDirectory: nil))
        await #expect {
            _ = try await hub.tools(for: missing)
        } throws: { error in
            "\(error)" == "MCP server 'ghost': cannot start 'orbiter-no-such-program': not found on PATH"
        }
        let broken = try MCPFixtures.stdio("broken", ["-m", "orbiter_no_such_module"])
        await #expect {
            _ = try await hub.tools(for: broken)
        } throws: { error in
            let text = "\(error)"
            return text.contains("MCP server 'broken' exited (code 1) during initialize") && text.contains("No module named")
        }
        await hub.shutdown()
    }
}
