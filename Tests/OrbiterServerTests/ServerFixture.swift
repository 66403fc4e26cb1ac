import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import OrbiterCore
import OrbiterLua
import OrbiterQueue
import OrbiterServer
import OrbiterTestSupport
import OrbiterWorker
import ServiceLifecycle

/// A running `APIServer` on a free port in this process, in front of the private Redis of
/// scripts/test.sh, on a queue of its own; workers on that queue when a test wants them.
/// Only `withServer` makes one, so everything is stopped however the test ends.
final class ServerFixture: @unchecked Sendable {
    let redisURL: String
    let queue: String
    let port: Int
    let http: HTTPClient
    /// Tokens of each scope; `elsewhere` is a read token limited to another queue.
    static let admin = "admin-token-0123456789abcdef"
    static let submit = "submit-token-0123456789abcdef"
    static let read = "read-token-0123456789abcdef"
    static let elsewhere = "elsewhere-token-0123456789abcdef"
    static let tokens = TokenTable([
        APIToken(token: admin, scope: .admin, name: "ops"), APIToken(token: submit, scope: .submit, name: "app"),
        APIToken(token: read, scope: .read, name: "viewer"), APIToken(token: elsewhere, scope: .read, name: "other", queues: ["somewhere-else"])])

    private var workers: [(Worker, Task<Void, any Error>)] = []
    private var server: Task<Void, any Error>?
    /// The server runs in a ServiceGroup, stopped gracefully as SIGTERM stops `orbiter serve`.
    private let group: ServiceGroup

    var baseURL: String { "http://127.0.0.1:\(port)" }

    private init(redisURL: String, queue: String, port: Int, server: Task<Void, any Error>, group: ServiceGroup) {
        self.group = group
        self.redisURL = redisURL
        self.queue = queue
        self.port = port
        self.server = server
        // The API never redirects; the dashboard's redirects are checked as they are.
        http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(redirectConfiguration: .disallow))
    }

    static func start(_ configure: (inout ServerConfiguration) -> Void) async throws -> ServerFixture {
        let redisURL = try TestRedis.url()
        let queue = "api-" + UUID().uuidString.prefix(8).lowercased()
        var configuration = ServerConfiguration()
        configuration.port = 0
        configuration.redisURL = redisURL
        configuration.defaultQueue = queue
        configuration.tokens = tokens
        configure(&configuration)
        let (ports, sink) = AsyncStream.makeStream(of: Int.self)
        let server = try APIServer(configuration: configuration) { _, port in sink.yield(port) }
        let group = ServiceGroup(configuration: .init(services: [server], logger: Logger(label: "test")))
        let task = Task {
            defer { sink.finish() }
            try await group.run()
        }
        var bound: Int?
        for await port in ports { bound = port; break }
        guard let bound, bound > 0 else {
            task.cancel()
            let outcome = await task.result
            throw TestFailure("the API server did not start: \(outcome)")
        }
        return ServerFixture(redisURL: redisURL, queue: queue, port: bound, server: task, group: group)
    }

    func broker() throws -> TaskBroker { try TaskBroker(redisURL: redisURL, queue: queue) }

    /// Starts a worker on the fixture's queue.
    @discardableResult
    func startWorker(concurrency: Int = 4) throws -> Worker {
        let worker = try Worker(configuration: WorkerConfiguration(
            redisURL: redisURL, queue: queue, concurrency: concurrency, workerID: "w-\(UUID().uuidString.prefix(6))",
            heartbeatTTL: 3, drainTimeout: .seconds(5), luaOptions: .shipped()))
        workers.append((worker, Task { try await worker.run() }))
        return worker
    }

    fileprivate func stop() async {
        for (worker, task) in workers {
            worker.stop()
            _ = await task.result
        }
        workers = []
        await group.triggerGracefulShutdown()
        _ = await server?.result
        server = nil
        try? await http.shutdown()
    }

    /// What one request got back.
    struct Reply {
        var status: Int
        var text: String
        var headers: HTTPHeaders
        var json: JSONValue? { try? JSONValue.parse(text) }
        /// `error.code` of an error body.
        var code: String? { json?["error"]?["code"]?.stringValue }
        var message: String { json?["error"]?["message"]?.stringValue ?? text }
    }

    /// One request to the server, the whole body read.
    func call(_ method: HTTPMethod, _ path: String, token: String? = ServerFixture.admin, body: String? = nil,
              headers: [(String, String)] = []) async throws -> Reply {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body))
        }
        let response = try await http.execute(request, timeout: .seconds(60))
        let bytes = try await response.body.collect(upTo: 16 << 20)
        return Reply(status: Int(response.status.code), text: String(buffer: bytes), headers: response.headers)
    }

    /// `call` with a JSON body.
    func call(_ method: HTTPMethod, _ path: String, token: String? = ServerFixture.admin, json: JSONValue) async throws -> Reply {
        try await call(method, path, token: token, body: json.jsonString)
    }

    /// Submits `script` (with `extra` fields) and returns the new task's id.
    func submit(_ script: String, input: String = "", extra: [String: JSONValue] = [:], token: String = ServerFixture.admin) async throws -> String {
        var body = extra
        body["script"] = .string(script)
        body["input"] = .string(input)
        let reply = try await call(.POST, "/v1/tasks", token: token, json: .object(body))
        guard reply.status == 201, let id = reply.json?["task_id"]?.stringValue else {
            throw TestFailure("submit answered \(reply.status): \(reply.text)")
        }
        return id
    }

    /// Waits (polling every 50 ms) until the task's status is `status`, or fails after `timeout`.
    func waitForStatus(_ id: String, _ status: String, timeout: Duration = .seconds(20)) async throws {
        let deadline = ContinuousClock.now + timeout
        var last = ""
        while ContinuousClock.now < deadline {
            last = try await call(.GET, "/v1/tasks/\(id)").json?["status"]?.stringValue ?? ""
            if last == status { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw TestFailure("task \(id) did not become \(status) in \(timeout) (last: \(last))")
    }
}

/// Runs `body` with a fresh server (configured by `configure`), then stops it and its workers.
func withServer(_ configure: (inout ServerConfiguration) -> Void = { _ in },
                _ body: (ServerFixture) async throws -> Void) async throws {
    let fixture = try await ServerFixture.start(configure)
    do {
        try await body(fixture)
    } catch {
        await fixture.stop()
        throw error
    }
    await fixture.stop()
}

/// Agents the tests submit: scripted Lua models, no provider needed.
enum Scripts {
    /// examples/calculator.lua, as text.
    static var calculator: String {
        get throws { try String(contentsOf: OrbiterBinary.repositoryRoot.appendingPathComponent("examples/calculator.lua"), encoding: .utf8) }
    }

    /// An agent that calls a `tick` tool `ticks` times (each sleeping `seconds`), then answers:
    /// a task whose events arrive over time.
    static func ticker(ticks: Int, seconds: Double = 0.1, talk: Bool = false) -> String {
        """
        local orbiter = require "orbiter"
        local tick = orbiter.tool { name = "tick", description = "wait a moment", parameters = { n = "integer" },
          run = function(args) orbiter.sleep(\(seconds)) return "tick " .. args.n end }
        local model = orbiter.model { name = "ticker", respond = function(request)
          local done = 0
          for _, m in ipairs(request.messages) do if m.role == "tool" then done = done + 1 end end
          if done >= \(ticks) then return "ticked \(ticks) times" end
          return { \(talk ? "content = \"tick \" .. (done + 1) .. \" \", " : "")tool_calls = { { name = "tick", arguments = { n = done + 1 } } } }
        end }
        return orbiter.agent { name = "ticker", model = model, tools = { tick }, max_steps = \(ticks + 2) }
        """
    }

    /// An agent that needs a module: `require "lib.greet"`.
    static let greeter = """
        local orbiter = require "orbiter"
        local greet = require "lib.greet"
        local model = orbiter.model { name = "echo", respond = function(request)
          return greet.hello(request.messages[#request.messages].content)
        end }
        return orbiter.agent { name = "greeter", model = model }
        """
    static let greetModule = "return { hello = function(name) return \"hello, \" .. name end }"
}

/// `orbiter serve --port 0 args...` as a process; returns it with the port it printed.
func startServeProcess(_ args: [String], environment: [String: String]) async throws -> (process: OrbiterBinary.Running, port: Int) {
    let server = try OrbiterBinary.start(["serve", "--port", "0"] + args, environment: environment)
    try await server.waitFor { _, err in err.contains("listening on http://") }
    // "orbiter serve: listening on http://127.0.0.1:PORT" (then, on an open server, a note in parentheses)
    let address = server.stderr.components(separatedBy: "listening on http://").last?.prefix { $0 != " " && $0 != "\n" } ?? ""
    guard let port = Int(address.split(separator: ":").last ?? "") else {
        server.signal(SIGKILL)
        throw TestFailure("orbiter serve printed no port: \(server.stderr)")
    }
    return (server, port)
}
