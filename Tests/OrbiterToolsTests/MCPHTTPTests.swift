import Foundation
import OrbiterCore
import OrbiterTestSupport
@testable import OrbiterTools
import Testing

/// The fixture streamable HTTP server (official SDK, answers as SSE), started on a free port.
/// It exits when its stdin ends, so it goes with the test process however that ends.
final class HTTPFixtureServer: @unchecked Sendable {
    let port: Int
    private var process: Process
    private var input = Pipe()

    init() async throws {
        port = try freePort()
        process = Process()
        try await start()
    }

    var url: String { "http://127.0.0.1:\(port)/mcp" }

    private func start() async throws {
        process = Process()
        process.executableURL = URL(fileURLWithPath: try MCPFixtures.python())
        input = Pipe()
        process.arguments = [MCPFixtures.script("http_server.py"), String(port), "--exit-on-eof"]
        process.standardInput = input
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let probe = OpenHTTPAccess()
        try await eventually("the HTTP MCP server listens on \(port)", timeout: .seconds(20)) {
            guard process.isRunning else { throw TestFailure("http_server.py exited (\(process.terminationStatus))") }
            return (try? await probe.perform(HTTPToolRequest(url: "http://127.0.0.1:\(port)/", timeout: .seconds(1)))) != nil
        }
    }

    /// Stops the server and starts a new one on the same port: every session is forgotten.
    func restart() async throws {
        stop()
        try await eventually("the old server is gone") { !process.isRunning }
        try await start()
    }

    /// Kills the server (a graceful uvicorn shutdown waits for open connections).
    func stop() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        try? input.fileHandleForWriting.close()
    }

    deinit { stop() }
}

@Suite("MCP over streamable HTTP", .serialized)
struct MCPHTTPTests {
    @Test("tools, SSE answers in a session, structured content, the server's notifications in the stream, headers, isError")
    func tools() async throws {
        let server = try await HTTPFixtureServer()
        defer { server.stop() }
        let hub = MCPFixtures.localHub()
        let spec = MCPServerSpec(name: "docs", transport: .http(url: server.url, headers: ["Authorization": "Bearer test-token"]))
        let tools = try await hub.tools(for: spec)
        #expect(Set(tools.map(\.name)) == ["docs__search", "docs__add", "docs__slow", "docs__fail", "docs__chatty", "docs__headers"])
        #expect(tools.first { $0.name == "docs__search" }?.spec.description == "Search the documents for a query.")
        #expect(tools.first { $0.name == "docs__add" }?.source == ["mcp": "docs", "tool": "add"])

        #expect(try await call(tools, "docs__search", ["query": "install"]) == ["result": "results for install: intro.md, setup.md"])
        #expect(try await call(tools, "docs__add", ["a": 2, "b": 3]) == ["sum": 5])
        #expect(try await call(tools, "docs__chatty") == ["result": "done talking"])
        #expect(try await call(tools, "docs__headers") == ["result": "Bearer test-token"])
        await #expect {
            _ = try await call(tools, "docs__fail")
        } throws: { error in
            "\(error)".contains("the index is offline")
        }
        await hub.shutdown()
    }

    @Test("a call past the timeout fails naming it, a cancelled one at once; the session goes on")
    func timeout() async throws {
        let server = try await HTTPFixtureServer()
        defer { server.stop() }
        let hub = MCPFixtures.localHub()
        let spec = MCPServerSpec(name: "docs", transport: .http(url: server.url, headers: [:]), callTimeout: .seconds(1))
        let tools = try await hub.tools(for: spec)
        await expectTimeout(tools, "docs__slow", ["seconds": 10], says: "MCP server 'docs': tools/call 'slow' timed out after 1 s")
        #expect(try await call(tools, "docs__add", ["a": 1, "b": 1]) == ["sum": 2])
        try await expectPromptCancellation(tools, "docs__slow", ["seconds": 10])
        #expect(try await call(tools, "docs__add", ["a": 2, "b": 1]) == ["sum": 3])
        await hub.shutdown()
    }

    @Test("a server that forgot the session (404) is initialised again, once, and the call goes through")
    func sessionExpired() async throws {
        let server = try await HTTPFixtureServer()
        defer { server.stop() }
        let hub = MCPFixtures.localHub()
        let tools = try await hub.tools(for: MCPServerSpec(name: "docs", transport: .http(url: server.url, headers: [:])))
        #expect(try await call(tools, "docs__add", ["a": 1, "b": 2]) == ["sum": 3])
        try await server.restart()
        #expect(try await call(tools, "docs__add", ["a": 2, "b": 2]) == ["sum": 4])
        await hub.shutdown()
    }

    @Test("HTTP errors name the status, the URL and the body's message")
    func httpErrors() async throws {
        let server = try await HTTPFixtureServer()
        defer { server.stop() }
        let hub = MCPFixtures.localHub()
        let wrongPath = "http://127.0.0.1:\(server.port)/nothing-here?token=secret"
        await #expect {
            _ = try await hub.tools(for: MCPServerSpec(name: "docs", transport: .http(url: wrongPath, headers: [:])))
        } throws: { error in
            "\(error)" == "MCP server 'docs': initialize got HTTP 404 from http://127.0.0.1:\(server.port)/nothing-here: Not Found"
        }
        await hub.shutdown()
    }
}
