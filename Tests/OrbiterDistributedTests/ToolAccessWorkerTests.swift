import Foundation
import Logging
import OrbiterCore
@testable import OrbiterClient
@testable import OrbiterQueue
@testable import OrbiterWorker
import OrbiterLua
import OrbiterRedis
import OrbiterTestSupport
import OrbiterTools
import Testing

/// What a worker grants shipped scripts (issue 16), tried the way an attacker with write access to
/// Redis would: read a secret out through every channel a task has, run a program.
@Suite("Tool access on a worker", .serialized)
struct ToolAccessWorkerTests {
    static let token = "tok-9f8e7d6c5b4a-\"quoted\""

    /// Everything the task left in Redis (its hash and every stream entry) as one text.
    func everythingStored(_ fixture: DistributedFixture, taskID: String) async throws -> String {
        let broker = try fixture.broker()
        let hash = try await broker.client.send(["HGETALL", broker.keys.task(taskID)])
        let events = try await broker.client.send(["XRANGE", broker.keys.events(taskID), "-", "+"])
        return texts(hash).joined(separator: " ") + " " + texts(events).joined(separator: " ")
    }

    /// Every string in a reply, nested arrays included (a reply's own description shows bytes).
    func texts(_ reply: RedisReply) -> [String] {
        if let items = reply.array { return items.flatMap(texts) }
        return reply.string.map { [$0] } ?? []
    }

    func worker(_ fixture: DistributedFixture, logs: LogLines) throws {
        var luaOptions = LuaRuntime.Options.shipped()
        luaOptions.access = HostAccess(secrets: try SecretStore(.values(["API_TOKEN": Self.token])))
        let logger = logs.logger(label: "access", level: .debug)
        luaOptions.log = { line in logger.info("\(line)", metadata: ["source": "lua"]) }
        try fixture.start(WorkerConfiguration(redisURL: fixture.redisURL, queue: fixture.queue, heartbeatTTL: 3,
                                              drainTimeout: .seconds(2), luaOptions: luaOptions, logger: logger))
    }

    @Test("a granted secret reaches the tool but no event, result, error, checkpoint or log line")
    func secretsStayOut() async throws {
        let logs = LogLines()
        try await withDistributedFixture { fixture in
            try worker(fixture, logs: logs)
            // Every way out: returned (plain, in JSON, as a key), logged, printed, raised, and the model's
            // own answer carrying the tool result — over two steps, so a checkpoint holds it too.
            let leaky = try load(try temporaryScript("""
                local orbiter = require "orbiter"
                local leak = orbiter.tool { name = "leak", parameters = { how = "string" }, run = function(args)
                  local s = orbiter.secret("API_TOKEN")
                  orbiter.log("token is", s)
                  print("printed", s)
                  if args.how == "raise" then error("bad token " .. s) end
                  return { plain = s, json = orbiter.json.encode({ s }), [s] = true }
                end }
                local m = orbiter.model { name = "m", respond = function(req)
                  local last = req.messages[#req.messages]
                  local tools = 0
                  for _, msg in ipairs(req.messages) do if msg.role == "tool" then tools = tools + 1 end end
                  if tools == 0 then return { tool_calls = { { name = "leak", arguments = { how = "return" } } } } end
                  if tools == 1 then return { tool_calls = { { name = "leak", arguments = { how = "raise" } } } } end
                  return "model saw: " .. last.content .. " / " .. req.messages[#req.messages - 2].content
                end }
                return orbiter.agent { name = "leaky", model = m, tools = { leak } }
                """)).1
            let handle = try await distributed(leaky, "go", redisURL: fixture.redisURL, detailed: true, queue: fixture.queue)
            let result = try await handle.result(timeout: .seconds(20))
            #expect(result["output"]?.stringValue?.contains("[redacted:API_TOKEN]") == true, "\(result)")
            let stored = try await everythingStored(fixture, taskID: handle.taskID)
            for form in [Self.token, "9f8e7d6c5b4a"] {
                #expect(!stored.contains(form), "the secret is stored in Redis: \(stored)")
                #expect(!logs.all.joined(separator: "\n").contains(form), "the secret is in the log")
            }
            #expect(logs.all.contains { $0.contains("token is [redacted:API_TOKEN]") })
        }
    }

    @Test("a secret the worker was not given is refused with its name; exec is refused")
    func refusals() async throws {
        let logs = LogLines()
        try await withDistributedFixture { fixture in
            try worker(fixture, logs: logs)
            let handle = try await distributed(try oneToolScript("return orbiter.secret('HOME')"), "go",
                                               redisURL: fixture.redisURL, queue: fixture.queue)
            let output = try await handle.result(timeout: .seconds(20))["output"]?.stringValue ?? ""
            #expect(output.contains("secret 'HOME' is not provided by this host"), "\(output)")
            let exec = try await distributed(try oneToolScript("return orbiter.exec { 'id' }.stdout"), "go",
                                             redisURL: fixture.redisURL, queue: fixture.queue)
            let refused = try await exec.result(timeout: .seconds(20))["output"]?.stringValue ?? ""
            #expect(refused.contains("exec is not available to shipped scripts"), "\(refused)")
        }
    }

    @Test("an MCP URL server of a shipped script follows --allow-host: the metadata address is refused")
    func mcpURLServerFollowsAllowList() async throws {
        let logs = LogLines()
        try await withDistributedFixture { fixture in
            var luaOptions = LuaRuntime.Options.shipped()
            let logger = logs.logger(label: "access", level: .debug)
            luaOptions.access = try HostAccess.shipped(allowing: ["api.example.com"], secrets: [:], mcpServers: [:], logger: logger)
            try fixture.start(WorkerConfiguration(redisURL: fixture.redisURL, queue: fixture.queue, heartbeatTTL: 3,
                                                  drainTimeout: .seconds(2), luaOptions: luaOptions, logger: logger))
            for url in ["http://169.254.169.254/mcp", "http://127.0.0.1:1/mcp", "http://evil.example.net/mcp"] {
                let script = try load(try temporaryScript("""
                    local orbiter = require "orbiter"
                    local meta = orbiter.mcp { name = "meta", url = "\(url)" }
                    return orbiter.agent { name = "a", model = orbiter.model { name = "m", respond = function() return "hi" end }, tools = { meta } }
                    """)).1
                let handle = try await distributed(script, "go", redisURL: fixture.redisURL, queue: fixture.queue)
                let status = try await finishedStatus(handle)
                #expect(status?.status == .failed, "\(url): \(String(describing: status))")
                #expect(status?.error?.contains("refused by this worker's policy") == true, "\(url): \(status?.error ?? "")")
            }
        }
    }

    @Test("a question that carries a granted secret parks with the secret redacted from the request, the event and the checkpoint")
    func parkedQuestionsAreRedacted() async throws {
        let logs = LogLines()
        try await withDistributedFixture { fixture in
            try worker(fixture, logs: logs)
            let asking = try load(try temporaryScript("""
                local orbiter = require "orbiter"
                local confirm = orbiter.tool { name = "confirm", run = function()
                  return orbiter.ask("Use the token " .. orbiter.secret("API_TOKEN") .. "?")
                end }
                local m = orbiter.model { name = "m", respond = function(req)
                  local last = req.messages[#req.messages]
                  if last.role == "tool" then return "answered " .. last.content end
                  return { tool_calls = { { name = "confirm", arguments = {} } } }
                end }
                return orbiter.agent { name = "asker", model = m, tools = { confirm } }
                """)).1
            let handle = try await distributed(asking, "x", redisURL: fixture.redisURL, detailed: true, queue: fixture.queue)
            try await eventually("the task to park") { try await handle.status()?.status == .waiting }
            let stored = try await everythingStored(fixture, taskID: handle.taskID)
            #expect(!stored.contains("tok-9f8e7d6c5b4a"), "\(stored)")
            #expect(stored.contains("[redacted:API_TOKEN]"), "\(stored)")
            #expect(try await handle.pendingInput()?.question == "Use the token [redacted:API_TOKEN]?")
            try await handle.reply("yes")
            #expect(try await handle.result(timeout: .seconds(10))["output"] == "answered yes")
        }
    }
}
