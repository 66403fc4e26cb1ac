import AsyncHTTPClient
import Foundation
import Logging
import OrbiterCore
import OrbiterTestSupport
@testable import OrbiterTools
import Testing

/// HTTP to any host over `HTTPClient.shared`, streaming the body so `isComplete` can stop it: the
/// unrestricted access of a trusted local run, enough for the MCP tests.
struct OpenHTTPAccess: HTTPAccess {
    func perform(_ request: HTTPToolRequest, isComplete: (@Sendable ([UInt8]) -> Bool)?) async throws -> HTTPToolResponse {
        var outgoing = HTTPClientRequest(url: request.url)
        outgoing.method = .init(rawValue: request.method)
        for header in request.headers { outgoing.headers.add(name: header.name, value: header.value) }
        if let body = request.body { outgoing.body = .bytes(body) }
        let response = try await HTTPClient.shared.execute(outgoing, timeout: .nanoseconds(request.timeout.inNanoseconds))
        var headers: [String: String] = [:]
        for header in response.headers {
            let name = header.name.lowercased()
            headers[name] = headers[name].map { "\($0), \(header.value)" } ?? header.value
        }
        var body: [UInt8] = []
        for try await chunk in response.body {
            body += chunk.readableBytesView
            if body.count > request.maxBytes { throw TestFailure("\(request.url): answer larger than \(request.maxBytes) bytes") }
            if isComplete?(body) == true { break }
        }
        return HTTPToolResponse(status: Int(response.status.code), headers: headers, body: body, url: request.url)
    }
}

/// HTTP access that refuses everything, as a worker's allow-list refuses a host outside it.
struct RefusingHTTPAccess: HTTPAccess {
    func perform(_ request: HTTPToolRequest, isComplete: (@Sendable ([UInt8]) -> Bool)?) async throws -> HTTPToolResponse {
        throw TestFailure("\(request.url): host not allowed (not in --allow-host)")
    }
}

/// Where the MCP servers and fixtures of the tests are.
enum MCPFixtures {
    /// The virtualenv python with `mcp`, `mcp-server-time` and `mcp-server-git`.
    static func python() throws -> String { try MCPPython.path() }

    /// A fixture server script in Tests/Fixtures/mcp.
    static func script(_ name: String) -> String {
        OrbiterBinary.repositoryRoot.appendingPathComponent("Tests/Fixtures/mcp/\(name)").path
    }

    /// A stdio server run by the test python.
    static func stdio(_ name: String, _ arguments: [String], environment: [String: String] = [:],
                      timeout: Duration = .seconds(20)) throws -> MCPServerSpec {
        MCPServerSpec(name: name, transport: .stdio(command: try python(), arguments: arguments, environment: environment,
                                                    workingDirectory: nil), callTimeout: timeout)
    }

    static func logger(_ label: String = "mcp-test") -> Logger {
        var logger = Logger(label: label)
        logger.logLevel = ProcessInfo.processInfo.environment["ORBITER_TEST_MCP_LOG"] == nil ? .critical : .trace
        return logger
    }

    /// A hub for a trusted local run.
    static func localHub() -> MCPHub {
        MCPHub(offered: nil, scriptHTTP: OpenHTTPAccess(), trustedHTTP: OpenHTTPAccess(), logger: logger())
    }
}

/// Whether process `pid` is alive (a zombie counts as gone).
func processIsAlive(_ pid: Int32) -> Bool {
    guard kill(pid, 0) == 0 else { return false }
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let close = stat.lastIndex(of: ")") else { return false }
    return stat[stat.index(close, offsetBy: 2)] != "Z"
}

/// Waits until `condition` holds, polling every 20 ms, or fails after `timeout`.
func eventually(_ what: String, timeout: Duration = .seconds(10), _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while try await !condition() {
        guard ContinuousClock.now < deadline else { throw TestFailure("timed out waiting until \(what)") }
        try await Task.sleep(for: .milliseconds(20))
    }
}

/// The test's call of a tool by its offered name.
func call(_ tools: [Tool], _ name: String, _ arguments: JSONValue = [:]) async throws -> JSONValue {
    guard let tool = tools.first(where: { $0.name == name }) else {
        throw TestFailure("no tool \(name); have \(tools.map(\.name))")
    }
    return try await tool.body(arguments)
}

/// Calling `tool` with `arguments` times out after the server's timeout with the message
/// `expected`, soon after, not at the end of the tool's own work.
func expectTimeout(_ tools: [Tool], _ tool: String, _ arguments: JSONValue, says expected: String) async {
    let started = ContinuousClock.now
    await #expect {
        _ = try await call(tools, tool, arguments)
    } throws: { error in
        "\(error)" == expected
    }
    #expect(ContinuousClock.now - started < .seconds(3))
}

/// A call of `tool` that is under way when its task is cancelled fails with `CancellationError`
/// within a second.
func expectPromptCancellation(_ tools: [Tool], _ tool: String, _ arguments: JSONValue) async throws {
    let calling = Task { try await call(tools, tool, arguments) }
    try await Task.sleep(for: .milliseconds(300))
    let cancelledAt = ContinuousClock.now
    calling.cancel()
    let outcome = await calling.result
    #expect(ContinuousClock.now - cancelledAt < .seconds(1))
    #expect(throws: CancellationError.self) { try outcome.get() }
}
