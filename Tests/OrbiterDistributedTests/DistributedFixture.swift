import Foundation
import OrbiterCore
@testable import OrbiterClient
@testable import OrbiterQueue
@testable import OrbiterWorker
import OrbiterLua
import OrbiterRedis
import OrbiterTestSupport
import XCTest

/// Shared set-up: a fresh queue per test on the private Redis of scripts/test.sh, workers that
/// run in this process (and are always stopped), and Lua scripts written to temporary files.
class DistributedTestCase: XCTestCase {
    var redisURL = ""
    var queue = ""
    var workers: [(Worker, Task<Void, any Error>)] = []

    override func setUp() async throws {
        redisURL = try TestRedis.url()
        queue = "t-" + UUID().uuidString.prefix(8).lowercased()
    }

    override func tearDown() async throws {
        for (worker, task) in workers {
            worker.stop()
            _ = await task.result
        }
        workers = []
    }

    func broker() throws -> TaskBroker { try TaskBroker(redisURL: redisURL, queue: queue) }

    @discardableResult
    func startWorker(concurrency: Int = 4, id: String? = nil, drain: Duration = .seconds(5), heartbeatTTL: Int = 3,
                     luaOptions: LuaRuntime.Options = .shipped()) throws -> Worker {
        let worker = try Worker(configuration: WorkerConfiguration(
            redisURL: redisURL, queue: queue, concurrency: concurrency, workerID: id ?? "w-\(UUID().uuidString.prefix(6))",
            heartbeatTTL: heartbeatTTL, drainTimeout: drain, luaOptions: luaOptions))
        let task = Task { try await worker.run() }
        workers.append((worker, task))
        return worker
    }

    func script(_ source: String, name: String = "main.lua", extra: [String: String] = [:]) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("orbiter-dist-\(UUID().uuidString)")
        for (file, text) in extra.merging([name: source], uniquingKeysWith: { $1 }) {
            let url = dir.appendingPathComponent(file)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try text.write(to: url, atomically: true, encoding: .utf8)
        }
        return dir.appendingPathComponent(name).path
    }

    func load(_ path: String) throws -> (LuaRuntime, Runnable) {
        let runtime = try LuaRuntime(file: path)
        return (runtime, try runtime.root())
    }

    func collect(_ stream: AsyncThrowingStream<StreamEvent, any Error>) async throws -> [StreamEvent] {
        var events: [StreamEvent] = []
        for try await e in stream { events.append(e) }
        return events
    }

    /// A script whose model calls its one tool once and replies "tool said: " and what the tool
    /// returned (the model sees failures as "Error: ..." results). `topLevel` runs as the script loads.
    func oneToolScript(_ body: String, topLevel: String = "") throws -> Runnable {
        try load(try script("""
            local orbiter = require "orbiter"
            \(topLevel)
            local probe = orbiter.tool { name = "probe", run = function(args)
            \(body)
            end }
            local m = orbiter.model { name = "m", respond = function(req)
              local last = req.messages[#req.messages]
              if last.role == "tool" then return "tool said: " .. last.content end
              return { tool_calls = { { name = "probe", arguments = {} } } }
            end }
            return orbiter.agent { name = "probe", model = m, tools = { probe } }
            """)).1
    }

    /// The task's state once it has finished (or after `within`, whatever it is then).
    func finishedStatus(_ handle: TaskHandle, within timeout: Duration = .seconds(10)) async throws -> TaskResult? {
        _ = try? await handle.result(timeout: timeout)
        return try await handle.status()
    }

    /// Polls `condition` every 20 ms until it holds (for state a test cannot block on).
    func eventually(_ what: String, timeout: Duration = .seconds(10), _ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while try await !condition() {
            guard ContinuousClock.now < deadline else { throw TestFailure("timed out waiting for \(what)") }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// An agent whose one tool sleeps `seconds`, then answers "woke up".
    func sleeper(_ seconds: Double) throws -> Runnable {
        try load(try script("""
            local orbiter = require "orbiter"
            local nap = orbiter.tool { name = "nap", run = function() orbiter.sleep(\(seconds)) return "rested" end }
            local m = orbiter.model { name = "m", respond = function(req)
              if req.messages[#req.messages].role == "tool" then return "woke up" end
              return { tool_calls = { { name = "nap", arguments = {} } } }
            end }
            return orbiter.agent { name = "sleeper", model = m, tools = { nap } }
            """)).1
    }

    /// The calculator agent (tool + scripted model), with an optional sleep in the tool.
    func calculator(toolSleep: Double = 0) throws -> String {
        try script("""
            local orbiter = require "orbiter"
            local util = require "lib.util"
            local add = orbiter.tool { name = "add", parameters = { a = "integer", b = "integer" },
              run = function(args) if \(toolSleep) > 0 then orbiter.sleep(\(toolSleep)) end return util.add(args.a, args.b) end }
            local m = orbiter.model { name = "scripted", respond = function(req)
              local last = req.messages[#req.messages]
              if last.role == "tool" then return { content = { "The answer is ", last.content, "." }, usage = { input_tokens = 5, output_tokens = 3 } } end
              local a, b = last.content:match("(%d+)%s*%+%s*(%d+)")
              if not a then return "history has " .. #req.messages .. " messages" end
              return { tool_calls = { { name = "add", arguments = { a = tonumber(a), b = tonumber(b) } } } }
            end }
            return orbiter.agent { name = "calculator", model = m, tools = { add } }
            """, extra: ["lib/util.lua": "return { add = function(a, b) return a + b end }"])
    }
}

/// Events without what legitimately differs between two runs (timestamps, durations).
func normalized(_ events: [StreamEvent]) -> [StreamEvent] {
    events.map { e in
        switch e {
        case .step(var s): s.startedAt = 0; s.completedAt = s.completedAt.map { _ in 0 }; return .step(s)
        case .toolResult(var r): r.durationMs = 0; return .toolResult(r)
        default: return e
        }
    }
}
