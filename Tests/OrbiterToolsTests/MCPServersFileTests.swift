import OrbiterCore
@testable import OrbiterTools
import Testing

@Suite("MCP servers file")
struct MCPServersFileTests {
    @Test("the common mcpServers format: stdio and URL servers, type, timeout, disabled")
    func parses() throws {
        let specs = try MCPServersFile.parse("""
            {"mcpServers": {
              "time": {"command": "python3", "args": ["-m", "mcp_server_time"], "env": {"TZ": "UTC"}, "cwd": "/srv"},
              "git": {"type": "stdio", "command": "uvx", "args": ["mcp-server-git"], "timeout": 2.5},
              "docs": {"url": "http://127.0.0.1:8765/mcp", "headers": {"authorization": "Bearer x"}},
              "wiki": {"type": "streamable-http", "url": "https://wiki.example/mcp", "alwaysAllow": ["read"]},
              "off": {"command": "nothing", "disabled": true}
            }}
            """, file: "servers.json")
        #expect(specs.keys.sorted() == ["docs", "git", "time", "wiki"])
        #expect(specs["time"] == MCPServerSpec(name: "time", transport: .stdio(
            command: "python3", arguments: ["-m", "mcp_server_time"], environment: ["TZ": "UTC"], workingDirectory: "/srv")))
        #expect(specs["git"]?.callTimeout == .milliseconds(2500))
        #expect(specs["docs"]?.transport == .http(url: "http://127.0.0.1:8765/mcp", headers: ["authorization": "Bearer x"]))
        #expect(specs["wiki"]?.transport == .http(url: "https://wiki.example/mcp", headers: [:]))
        #expect(specs["docs"]?.callTimeout == .seconds(60))
    }

    @Test("errors name the file and the field", arguments: [
        (#"{"mcpServers": {"time": {"command": "python3", "args": "-m mcp_server_time"}}}"#,
         "servers.json: mcpServers.time.args must be a list of strings"),
        (#"{"mcpServers": {"time": {"command": "python3", "args": ["-m", 3]}}}"#,
         "servers.json: mcpServers.time.args must be a list of strings"),
        (#"{"mcpServers": {"time": {"args": []}}}"#,
         "servers.json: mcpServers.time.command is missing (the program that runs the server)"),
        (#"{"mcpServers": {"time": {"command": "x", "env": {"TZ": 1}}}}"#,
         "servers.json: mcpServers.time.env must be an object of strings"),
        (#"{"mcpServers": {"docs": {"url": "ftp://x"}}}"#,
         "servers.json: mcpServers.docs.url must start with http:// or https://"),
        (#"{"mcpServers": {"docs": {"type": "http"}}}"#,
         "servers.json: mcpServers.docs.url is missing (an http:// or https:// URL)"),
        (#"{"mcpServers": {"docs": {"type": "sse", "url": "http://x/sse"}}}"#,
         "servers.json: mcpServers.docs.type is sse, the transport of protocol 2024-11-05, which Orbiter does not speak; use streamable HTTP"),
        (#"{"mcpServers": {"docs": {"type": "websocket"}}}"#,
         "servers.json: mcpServers.docs.type is 'websocket'; use stdio, http or streamable-http"),
        (#"{"mcpServers": {"time": {"command": "x", "timeout": 0}}}"#,
         "servers.json: mcpServers.time.timeout must be a number of seconds above 0"),
        (#"{"mcpServers": {"my time": {"command": "x"}}}"#,
         "servers.json: mcpServers.my time is not a usable server name (letters, digits, _ and - only: tools are named <server>__<tool>)"),
        (#"{"mcpServers": {"time": "python3"}}"#, "servers.json: mcpServers.time must be an object"),
        (#"{"servers": 1}"#, "servers.json: needs an object \"mcpServers\" that maps server names to their definitions"),
    ])
    func errors(text: String, message: String) {
        #expect {
            _ = try MCPServersFile.parse(text, file: "servers.json")
        } throws: { error in
            "\(error)" == message
        }
    }

    @Test("a file that cannot be read or is not JSON")
    func unreadable() {
        #expect(throws: MCPError.self) { _ = try MCPServersFile.load(path: "/nonexistent/servers.json") }
        #expect {
            _ = try MCPServersFile.parse("{", file: "s.json")
        } throws: { error in
            "\(error)".hasPrefix("s.json: not valid JSON: ")
        }
    }
}

@Suite("MCP tool results")
struct MCPToolMappingTests {
    @Test("input schemas become object schemas with properties")
    func schemas() {
        #expect(MCPToolMapping.objectSchema(nil) == ["type": "object", "properties": [:]])
        #expect(MCPToolMapping.objectSchema(["type": "object"]) == ["type": "object", "properties": [:]])
        #expect(MCPToolMapping.objectSchema(["properties": ["a": ["type": "integer"]], "required": ["a"]])
                == ["type": "object", "properties": ["a": ["type": "integer"]], "required": ["a"]])
        #expect(MCPToolMapping.objectSchema(["type": "string"]) == ["type": "object", "properties": [:]])
    }

    @Test("structured content first, else the text contents; other content as placeholders; isError throws its text")
    func results() throws {
        #expect(try MCPToolMapping.value(of: ["content": [["type": "text", "text": "12"]], "structuredContent": ["n": 12]],
                                         server: "s", tool: "t") == ["n": 12])
        #expect(try MCPToolMapping.value(of: ["content": [
            ["type": "text", "text": "a chart:"],
            ["type": "image", "mimeType": "image/png", "data": "iVBORw0KGgo="],
            ["type": "resource_link", "uri": "file:///r.txt", "name": "r"],
            ["type": "resource", "resource": ["uri": "file:///e.txt", "text": "embedded"]],
        ]], server: "s", tool: "t") == "a chart:\n[image image/png, 8 bytes]\n[resource link file:///r.txt (r)]\nembedded")
        #expect {
            _ = try MCPToolMapping.value(of: ["content": [["type": "text", "text": "no such file"]], "isError": true],
                                         server: "s", tool: "t")
        } throws: { error in
            "\(error)" == "no such file"
        }
        #expect {
            _ = try MCPToolMapping.value(of: ["content": [], "isError": true], server: "s", tool: "t")
        } throws: { error in
            "\(error)" == "MCP server 's': tool 't' failed without saying why"
        }
    }
}
