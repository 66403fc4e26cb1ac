import Foundation
import OrbiterCore
@testable import OrbiterLua
import Synchronization
import Testing

/// How the Lua API of issue 16 maps to the host's access: request and response shapes, errors
/// scripts can catch versus limits they cannot, secrets and their redaction, what a sandbox
/// refuses. The real HTTP client, program runner and MCP servers are tested in OrbiterToolsTests
/// and end to end in the CLI tests; here one in-memory HTTP access records what Lua asked for.
@Suite("Host access from Lua")
struct HostAccessTests {
    /// Answers every request with `answer` after `delay`, recording the requests.
    final class RecordingHTTP: HTTPAccess, Sendable {
        let requests = Mutex<[HTTPToolRequest]>([])
        let answer: @Sendable (HTTPToolRequest) throws -> HTTPToolResponse
        let delay: Duration
        init(delay: Duration = .zero, answer: @escaping @Sendable (HTTPToolRequest) throws -> HTTPToolResponse) {
            self.delay = delay
            self.answer = answer
        }
        func perform(_ request: HTTPToolRequest, isComplete: (@Sendable ([UInt8]) -> Bool)?) async throws -> HTTPToolResponse {
            requests.withLock { $0.append(request) }
            if delay > .zero { try await Task.sleep(for: delay) }
            return try answer(request)
        }
    }

    struct Refused: Error, CustomStringConvertible {
        var description: String { "GET http://example.test/x: connection refused" }
    }

    func options(http: RecordingHTTP? = nil, secrets: SecretStore = .none, sandboxed: Bool = false,
                 callTimeLimit: Duration? = .seconds(30)) -> LuaRuntime.Options {
        var options = LuaRuntime.Options(callTimeLimit: callTimeLimit, sandboxed: sandboxed)
        options.access = HostAccess(http: http, secrets: secrets)
        return options
    }

    @Test("a request reaches the host as written and the response comes back with json()")
    func requestAndResponse() async throws {
        let http = RecordingHTTP { request in
            HTTPToolResponse(status: 201, headers: ["content-type": "application/json", "x-id": "7"],
                             body: Array(#"{"ok":true,"n":[1,2]}"#.utf8), url: "https://api.example.test/v1/x")
        }
        let runtime = try load(toolScript("""
            orbiter.tool { name = "t", run = function()
              local r = orbiter.http.request { method = "post", url = "https://api.example.test/v1/x?key=1",
                                               headers = { authorization = "Bearer abc", ["x-n"] = 5 },
                                               json = { q = "hi" }, timeout = 7, max_bytes = 100, max_redirects = 2 }
              local j = r:json()
              return { status = r.status, id = r.headers["x-id"], ok = j.ok, n = #j.n, url = r.url }
            end }
            """), options: options(http: http))
        let result = try await runtime.callTool("t", arguments: [:])
        #expect(result == ["status": 201, "id": "7", "ok": true, "n": 2, "url": "https://api.example.test/v1/x"])
        let request = try #require(http.requests.withLock { $0.first })
        #expect(request.method == "POST")
        #expect(request.url == "https://api.example.test/v1/x?key=1")
        #expect(request.timeout == .seconds(7) && request.maxBytes == 100 && request.maxRedirects == 2)
        #expect(String(decoding: request.body ?? [], as: UTF8.self) == #"{"q":"hi"}"#)
        let headers = Dictionary(uniqueKeysWithValues: request.headers.map { ($0.name, $0.value) })
        #expect(headers == ["authorization": "Bearer abc", "x-n": "5", "content-type": "application/json"])
    }

    @Test("get and post take the URL first; bodies and responses keep their bytes")
    func getPostAndBytes() async throws {
        let http = RecordingHTTP { request in
            HTTPToolResponse(status: 200, headers: [:], body: [0xFF, 0x00, 0x41] + (request.body ?? []), url: request.url)
        }
        let runtime = try load(toolScript("""
            orbiter.tool { name = "t", run = function()
              local g = orbiter.http.get("http://h.test/a", { headers = { accept = "x" } })
              local p = orbiter.http.post("http://h.test/b", { body = "\\xE9\\x01" })
              return { #g.body, g.body:byte(1), p.body:byte(4), p.body:byte(5), #p.body }
            end }
            """), options: options(http: http))
        #expect(try await runtime.callTool("t", arguments: [:]) == [3, 255, 0xE9, 1, 5])
        #expect(http.requests.withLock { $0.map(\.method) } == ["GET", "POST"])
    }

    @Test("an HTTP error status is a response; a transport failure is an error the tool can catch")
    func statusVersusFailure() async throws {
        let http = RecordingHTTP { request in
            if request.url.contains("down") { throw Refused() }
            return HTTPToolResponse(status: 503, headers: [:], body: Array("busy".utf8), url: request.url)
        }
        let runtime = try load(toolScript("""
            orbiter.tool { name = "t", run = function()
              local r = orbiter.http.get("http://up.test/")
              local ok, err = pcall(function() local r = orbiter.http.get("http://down.test/"); return r end)
              return { status = r.status, body = r.body, ok = ok, err = err }
            end }
            orbiter.tool { name = "raw", run = function() return orbiter.http.get("http://down.test/").status end }
            orbiter.tool { name = "notjson", run = function() local r = orbiter.http.get("http://up.test/")
              local j = r:json(); return j end }
            """), options: options(http: http))
        let result = try await runtime.callTool("t", arguments: [:])
        #expect(result["status"] == 503 && result["body"] == "busy" && result["ok"] == false)
        #expect(result["err"]?.stringValue?.hasSuffix("main.lua:4: GET http://example.test/x: connection refused") == true, "\(result)")
        await #expect(throws: LuaError.self) { try await runtime.callTool("raw", arguments: [:]) }
        do {
            _ = try await runtime.callTool("notjson", arguments: [:])
            Issue.record("expected an error")
        } catch let error as LuaError {
            #expect(error.message.contains("main.lua:9: orbiter.http: the response of http://up.test/ is not JSON"), "\(error.message)")
        }
    }

    @Test("bad requests name the field and the script's line", arguments: [
        (#"orbiter.http.request { url = 5 }"#, "main.lua:3: orbiter.http: field 'url' must be a non-empty string"),
        (#"orbiter.http.request { url = "http://x", bogus = 1 }"#, "main.lua:3: orbiter.http: unknown field 'bogus'"),
        (#"orbiter.http.get("http://x", { headers = { ["a b"] = "v" } })"#, "main.lua:3: orbiter.http: header name a b is not a valid"),
        (#"orbiter.http.get("http://x", { headers = { a = "v\r\nInjected: 1" } })"#, "main.lua:3: orbiter.http: header 'a' contains a line break"),
        (#"orbiter.http.post("http://x", { json = {}, body = "" })"#, "main.lua:3: orbiter.http: give either 'json' or 'body'"),
        (#"orbiter.http.get("http://x", { timeout = 0/0 })"#, "main.lua:3: orbiter.http: field 'timeout' must be"),
        (#"orbiter.http.get("http://x", { url = "http://y" })"#, "main.lua:3: orbiter.http: give the URL and method as arguments"),
    ])
    func badRequests(line: String, message: String) async throws {
        let runtime = try load("""
            local orbiter = require "orbiter"
            orbiter.tool { name = "t", run = function()
              \(line)
            end }
            return orbiter.agent { name = "a", model = orbiter.model { name = "m", respond = function() return "" end } }
            """, options: options(http: RecordingHTTP { _ in throw Refused() }))
        do {
            _ = try await runtime.callTool("t", arguments: [:])
            Issue.record("expected \(message)")
        } catch let error as LuaError {
            #expect(error.message.contains(message), "\(error.message)")
        }
    }

    @Test("a host without HTTP says so; HTTP at a script's top level is refused with its line")
    func unavailable() async throws {
        let runtime = try load(toolScript("""
            orbiter.tool { name = "t", run = function() local ok, e = pcall(function() local r = orbiter.http.get("http://x.test/"); return r end); return e end }
            """), options: options())
        #expect(try await runtime.callTool("t", arguments: [:]).stringValue?.hasSuffix("main.lua:2: orbiter.http: HTTP is not available on this host") == true)
        #expect(throws: LuaError.self) {
            try load(toolScript(#"orbiter.http.get("http://x.test/")"#), options: options(http: RecordingHTTP { _ in throw Refused() }))
        }
    }

    @Test("requests overlap: a waiting request holds neither Lua nor other tools")
    func requestsOverlap() async throws {
        let http = RecordingHTTP(delay: .milliseconds(300)) { HTTPToolResponse(status: 200, headers: [:], body: [], url: $0.url) }
        let runtime = try load(toolScript("""
            orbiter.tool { name = "t", run = function() return orbiter.http.get("http://x.test/").status end }
            """), options: options(http: http))
        let start = ContinuousClock.now
        try await withThrowingTaskGroup(of: JSONValue.self) { group in
            for _ in 0..<5 { group.addTask { try await runtime.callTool("t", arguments: [:]) } }
            for try await status in group { #expect(status == 200) }
        }
        #expect(ContinuousClock.now - start < .milliseconds(1200), "five 300 ms requests ran one after another")
    }

    @Test("the call's time limit cuts a request's timeout and cannot be caught")
    func timeLimitDuringRequest() async throws {
        let http = RecordingHTTP(delay: .seconds(5)) { HTTPToolResponse(status: 200, headers: [:], body: [], url: $0.url) }
        let runtime = try load(toolScript("""
            orbiter.tool { name = "t", run = function()
              local ok = pcall(orbiter.http.get, "http://slow.test/", { timeout = 60 })
              return "caught"
            end }
            """), options: options(http: http, callTimeLimit: .milliseconds(400)))
        let start = ContinuousClock.now
        do {
            _ = try await runtime.callTool("t", arguments: [:])
            Issue.record("expected the time limit")
        } catch let error as LuaError {
            #expect(error.message.contains("time limit exceeded"), "\(error.message)")
        }
        #expect(ContinuousClock.now - start < .seconds(3))
        #expect(http.requests.withLock { $0.first?.timeout ?? .seconds(99) } <= .milliseconds(400))
    }

    @Test("cancelling the call cancels the request")
    func cancellation() async throws {
        let http = RecordingHTTP(delay: .seconds(30)) { HTTPToolResponse(status: 200, headers: [:], body: [], url: $0.url) }
        let runtime = try load(toolScript("""
            orbiter.tool { name = "t", run = function() return pcall(orbiter.http.get, "http://slow.test/") end }
            """), options: options(http: http))
        let call = Task { try await runtime.callTool("t", arguments: [:]) }
        try await Task.sleep(for: .milliseconds(200))
        let start = ContinuousClock.now
        call.cancel()
        await #expect(throws: CancellationError.self) { try await call.value }
        #expect(ContinuousClock.now - start < .seconds(2))
    }

    @Test("a response larger than the task's memory is an error the tool can catch, not a crash")
    func responseOverMemory() async throws {
        let http = RecordingHTTP { HTTPToolResponse(status: 200, headers: [:], body: [UInt8](repeating: 0x41, count: 24 << 20), url: $0.url) }
        var o = options(http: http)
        o.memoryLimit = 256 << 20
        o.taskMemoryLimit = 8 << 20
        let runtime = try load(toolScript("""
            orbiter.tool { name = "t", run = function()
              local ok, err = pcall(function() local r = orbiter.http.get("http://big.test/"); return r end)
              return { ok = ok, err = err }
            end }
            """), options: o)
        let result = try await runtime.callTool("t", arguments: [:])
        #expect(result["ok"] == false)
        #expect(result["err"]?.stringValue?.contains("not enough memory") == true, "\(result)")
        #expect(try await runtime.callTool("t", arguments: [:])["ok"] == false, "the state goes on serving")
    }

    @Test("secrets: granted values, a clear error for others, placeholders when only describing")
    func secrets() async throws {
        let granted = try SecretStore(.values(["API_TOKEN": "tok-123456789"]))
        let runtime = try load(toolScript("""
            orbiter.tool { name = "t", run = function(a)
              local ok, err = pcall(function() local v = orbiter.secret("OTHER"); return v end)
              return { len = #orbiter.secret("API_TOKEN"), err = err }
            end }
            """), options: options(secrets: granted))
        let result = try await runtime.callTool("t", arguments: [:])
        #expect(result["len"] == 13)
        #expect(result["err"]?.stringValue?.contains("main.lua:3: orbiter.secret: secret 'OTHER' is not provided by this host") == true, "\(result)")
        let described = try load(toolScript(#"local header = "Bearer " .. orbiter.secret("API_TOKEN")"#), options: {
            var o = options(); o.access = .describing; return o
        }())
        #expect(described.mcpServers.isEmpty)
        #expect(throws: (any Error).self) { try SecretStore(.values(["SHORT": "abc"])) }
    }

    @Test("a secret a tool returns, logs or raises is redacted before it leaves the script")
    func redaction() async throws {
        let lines = Mutex<[String]>([])
        let granted = try SecretStore(.values(["API_TOKEN": "tok-\"quoted\"-123"]))
        var o = options(secrets: granted)
        o.log = { line in lines.withLock { $0.append(line) } }
        let runtime = try load(toolScript("""
            orbiter.tool { name = "echo", run = function()
              local s = orbiter.secret("API_TOKEN")
              orbiter.log("using", s)
              return { plain = "key=" .. s, encoded = orbiter.json.encode({ s }), [s] = 1 }
            end }
            orbiter.tool { name = "boom", run = function() error("failed with " .. orbiter.secret("API_TOKEN")) end }
            """), options: o)
        let result = try await runtime.callTool("echo", arguments: [:])
        #expect(!result.jsonString.contains("quoted"), "\(result.jsonString)")
        #expect(result["plain"] == "key=[redacted:API_TOKEN]")
        #expect(result["[redacted:API_TOKEN]"] == 1)
        #expect(lines.withLock { $0 } == ["using [redacted:API_TOKEN]"])
        do {
            _ = try await runtime.callTool("boom", arguments: [:])
            Issue.record("expected an error")
        } catch let error as LuaError {
            #expect(error.message.hasSuffix("failed with [redacted:API_TOKEN]"), "\(error.message)")
        }
    }

    @Test("exec is refused in the sandbox, and unavailable where the host runs no programs")
    func execRefused() async throws {
        let sandboxed = try load(toolScript("""
            orbiter.tool { name = "t", run = function() local ok, e = pcall(function() local r = orbiter.exec { "id" }; return r end); return e end }
            """), options: options(sandboxed: true))
        #expect(try await sandboxed.callTool("t", arguments: [:]).stringValue?.hasSuffix("main.lua:2: orbiter.exec: exec is not available to shipped scripts") == true)
        let trusted = try load(toolScript("""
            orbiter.tool { name = "t", run = function() local ok, e = pcall(function() local r = orbiter.exec { "id" }; return r end); return e end }
            orbiter.tool { name = "bad", run = function() local ok, e = pcall(function() local r = orbiter.exec { "id", cwd = 5 }; return r end); return e end }
            """), options: options())
        #expect(try await trusted.callTool("t", arguments: [:]).stringValue?.hasSuffix("main.lua:2: orbiter.exec: running programs is not available on this host") == true)
        #expect(try await trusted.callTool("bad", arguments: [:]).stringValue?.hasSuffix("main.lua:3: orbiter.exec: field 'cwd' must be a string") == true)
    }

    @Test("MCP servers are declared as toolsets and travel as references")
    func mcpDeclarations() throws {
        let runtime = try load("""
            local orbiter = require "orbiter"
            local time = orbiter.mcp { name = "time", command = "python3", args = { "-m", "mcp_server_time" }, env = { TZ = "UTC" } }
            local docs = orbiter.mcp { name = "docs", url = "http://127.0.0.1:8765/mcp", headers = { authorization = "Bearer x" }, timeout = 5 }
            return orbiter.agent { name = "a", model = "lua:m", tools = { time, docs.tool("search"), docs:tool("fetch") } }
            """.replacingOccurrences(of: "\"lua:m\"", with: "orbiter.model { name = \"m\", respond = function() return \"\" end }"))
        #expect(runtime.rootDescription["tools"] == [["mcp": "time"], ["mcp": "docs", "tool": "search"], ["mcp": "docs", "tool": "fetch"]])
        #expect(runtime.mcpServers["time"]?.transport == .stdio(command: "python3", arguments: ["-m", "mcp_server_time"],
                                                               environment: ["TZ": "UTC"], workingDirectory: nil))
        #expect(runtime.mcpServers["docs"]?.transport == .http(url: "http://127.0.0.1:8765/mcp", headers: ["authorization": "Bearer x"]))
        #expect(runtime.mcpServers["docs"]?.callTimeout == .seconds(5))
        // Bound for shipping, the toolset stays a reference.
        guard case .agent(let agent) = try runtime.root() else { Issue.record("not an agent"); return }
        #expect(agent.toDict()["tools"]?.arrayValue?.first == ["mcp": "time"])
    }

    @Test("bad MCP declarations name the field and line", arguments: [
        (#"orbiter.mcp { name = "t" }"#, "main.lua:2: orbiter.mcp 't': give either 'command'"),
        (#"orbiter.mcp { name = "t", command = "x", url = "http://y" }"#, "main.lua:2: orbiter.mcp 't': give either 'command'"),
        (#"orbiter.mcp { name = "t", url = "file:///etc/passwd" }"#, "main.lua:2: orbiter.mcp 't': field 'url' must be an http"),
        (#"orbiter.mcp { name = "a__b", command = "x" }"#, "main.lua:2: orbiter.mcp: name 'a__b' may not contain '__'"),
        (#"orbiter.mcp { name = "t", command = "x", args = { 1 } }"#, "main.lua:2: orbiter.mcp 't': args[1] must be a string"),
    ])
    func badMCPDeclarations(line: String, message: String) throws {
        do {
            _ = try load("local orbiter = require 'orbiter'\n\(line)\nreturn orbiter.agent { name = 'a', model = 'openai:x' }")
            Issue.record("expected \(message)")
        } catch let error as LuaError {
            #expect(error.message.contains(message), "\(error.message)")
        }
    }
}
