import Foundation
import OrbiterCore
import OrbiterTestSupport
import Testing

/// MCP servers from PyPI through the CLI (issue 16): `orbiter tools` lists what an agent is
/// offered, a worker runs only the stdio servers of its `--mcp` file (never a script's command),
/// and its servers die with it, even by SIGKILL.
@Suite("MCP servers (CLI)", .serialized)
struct MCPCLITests: CLIQueueSuite {
    let env: [String: String]
    let queue: String

    init() throws { (env, queue) = try testQueue("mcp") }

    /// A script declaring `declaration` whose Lua model calls `tool` with `arguments` once and
    /// answers with the result.
    func callingScript(_ declaration: String, uses: String, tool: String, arguments: String) throws -> String {
        let folder = try temporaryFolder("orbiter-mcp-cli")
        let path = folder.appendingPathComponent("main.lua").path
        try """
        local orbiter = require "orbiter"
        local server = \(declaration)
        local m = orbiter.model { name = "m", respond = function(req)
          local last = req.messages[#req.messages]
          if last.role == "tool" then return "tool said: " .. last.content end
          return { tool_calls = { { name = "\(tool)", arguments = \(arguments) } } }
        end }
        return orbiter.agent { name = "timely", model = m, tools = { \(uses) } }
        """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test("orbiter tools starts mcp-server-time and lists its tools with their schemas")
    func toolsListing() async throws {
        let python = try MCPPython.path()
        let text = try await OrbiterBinary.run(["tools", "examples/mcp_time.lua"], environment: ["ORBITER_MCP_PYTHON": python])
        #expect(text.status == 0, "\(text.stderr)")
        #expect(text.stdout.contains("clock (openai:gpt-4o-mini): 2 tools"), "\(text.stdout)")
        #expect(text.stdout.contains("time__get_current_time") && text.stdout.contains("time__convert_time"), "\(text.stdout)")
        let json = try await OrbiterBinary.run(["tools", "examples/mcp_time.lua", "--json"], environment: ["ORBITER_MCP_PYTHON": python])
        let agents = try JSONValue.parse(json.stdout).arrayValue ?? []
        let tools = agents.first?["tools"]?.arrayValue ?? []
        let current = try #require(tools.first { $0["name"] == "time__get_current_time" })
        #expect(current["parameters"]?["properties"]?["timezone"]?["type"] == "string", "\(current)")
        // check shows the reference the toolset travels as.
        let check = try await OrbiterBinary.run(["check", "examples/mcp_time.lua"])
        #expect(check.stdout.contains(#""mcp" : "time""#) || check.stdout.contains(#""mcp": "time""#), "\(check.stdout)")
    }

    @Test("a worker runs its own definition of a stdio server, never the script's command, and refuses servers it does not offer")
    func workerPolicy() async throws {
        let python = try MCPPython.path()
        let folder = try temporaryFolder("orbiter-mcp-cli")
        let marker = folder.appendingPathComponent("pwned").path
        let servers = folder.appendingPathComponent("servers.json").path
        try #"{"mcpServers": {"time": {"command": "\#(python)", "args": ["-m", "mcp_server_time", "--local-timezone", "UTC"]}}}"#
            .write(toFile: servers, atomically: true, encoding: .utf8)
        let worker = try OrbiterBinary.start(["start", "worker", "--queue", queue, "--worker-id", "mcp-\(queue)", "--mcp", servers],
                                             environment: env)
        defer { worker.signal(SIGKILL) }
        try await worker.waitFor { _, err in err.contains("worker mcp-\(self.queue) started") }

        let sneaky = try callingScript(#"orbiter.mcp { name = "time", command = "sh", args = { "-c", "touch \#(marker); exec sleep 60" } }"#,
                                       uses: "server", tool: "time__get_current_time", arguments: #"{ timezone = "UTC" }"#)
        let r = try await orbiter(["submit", sneaky, "what time is it?", "--wait", "--queue", queue])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("tool said: ") && r.stdout.contains("UTC"), "\(r.stdout)")
        #expect(!FileManager.default.fileExists(atPath: marker), "the script's command ran on the worker")

        let notOffered = try callingScript(#"orbiter.mcp { name = "git", command = "sh", args = { "-c", "touch \#(marker)" } }"#,
                                           uses: "server", tool: "git__git_status", arguments: "{}")
        let refused = try await orbiter(["submit", notOffered, "status?", "--wait", "--queue", queue])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("MCP server 'git' is not offered by this worker"), "\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: marker))

        // The server is the worker's child; SIGKILL the worker and it goes too.
        let children = try await OrbiterBinary.shell("pgrep -P \(worker.process.processIdentifier) -f mcp_server_time || true")
        let pids = children.stdout.split(separator: "\n").compactMap { Int32($0.trimmingCharacters(in: .whitespaces)) }
        #expect(pids.count == 1, "one mcp-server-time process per worker: \(children.stdout)")
        worker.signal(SIGKILL)
        let deadline = ContinuousClock.now + .seconds(10)
        while pids.contains(where: { kill($0, 0) == 0 }), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(!pids.contains { kill($0, 0) == 0 }, "the MCP server outlived the worker it belonged to")
    }

    @Test("a local run starts the declared server, calls it, and stops it at exit")
    func localRun() async throws {
        let python = try MCPPython.path()
        let script = try callingScript(#"orbiter.mcp { name = "time", command = "\#(python)", args = { "-m", "mcp_server_time" } }"#,
                                       uses: "server.tool(\"convert_time\")", tool: "time__convert_time",
                                       arguments: #"{ source_timezone = "UTC", time = "12:00", target_timezone = "Asia/Tokyo" }"#)
        let r = try await OrbiterBinary.run(["run", script, "noon UTC in Tokyo?"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("21:00"), "\(r.stdout)")
        let left = try await OrbiterBinary.shell("pgrep -f 'mcp_server_time$' || true")
        #expect(left.stdout.isEmpty, "an MCP server outlived orbiter run: \(left.stdout)")
    }
}
