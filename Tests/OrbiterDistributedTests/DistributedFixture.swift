import Foundation
import Logging
import OrbiterCore
@testable import OrbiterClient
@testable import OrbiterQueue
@testable import OrbiterWorker
import OrbiterLua
import OrbiterRedis
import OrbiterTestSupport
import Testing

/// A fresh queue on a Redis (by default the private one of scripts/test.sh) and the workers a
/// test runs in this process. Only `withDistributedFixture` makes one, so its workers are stopped
/// however the test ends.
final class DistributedFixture {
    let redisURL: String
    let queue: String
    /// Started workers and their `run()` tasks, stopped at the end.
    private var workers: [(Worker, Task<Void, any Error>)] = []
    /// Loops of the test (e.g. a tool folder's watcher), cancelled at the end before the workers stop.
    var background: [Task<Void, Never>] = []

    fileprivate init(redisURL: String?) throws {
        self.redisURL = try redisURL ?? TestRedis.url()
        queue = "t-" + UUID().uuidString.prefix(8).lowercased()
    }

    func broker() throws -> TaskBroker { try TaskBroker(redisURL: redisURL, queue: queue) }

    /// Starts a worker on this queue (its `run()` in a task of its own).
    @discardableResult
    func start(_ configuration: WorkerConfiguration) throws -> Worker {
        let worker = try Worker(configuration: configuration)
        workers.append((worker, Task { try await worker.run() }))
        return worker
    }

    @discardableResult
    func startWorker(concurrency: Int = 4, id: String? = nil, drain: Duration = .seconds(5), heartbeatTTL: Int = 3,
                     luaOptions: LuaRuntime.Options = .shipped()) throws -> Worker {
        try start(WorkerConfiguration(
            redisURL: redisURL, queue: queue, concurrency: concurrency, workerID: id ?? "w-\(UUID().uuidString.prefix(6))",
            heartbeatTTL: heartbeatTTL, drainTimeout: drain, luaOptions: luaOptions))
    }

    /// Stops `worker` and waits until its `run()` has returned.
    func stop(_ worker: Worker) async {
        worker.stop()
        guard let index = workers.firstIndex(where: { $0.0 === worker }) else { return }
        _ = await workers.remove(at: index).1.result
    }

    /// Stops everything the test left running: first the background loops, then the workers.
    fileprivate func stopAll() async {
        for task in background {
            task.cancel()
            await task.value
        }
        background = []
        for (worker, task) in workers {
            worker.stop()
            _ = await task.result
        }
        workers = []
    }
}

/// Runs `body` with a fresh fixture, then stops its workers, whether `body` returned or threw.
func withDistributedFixture(redisURL: String? = nil, _ body: (DistributedFixture) async throws -> Void) async throws {
    let fixture = try DistributedFixture(redisURL: redisURL)
    do {
        try await body(fixture)
    } catch {
        await fixture.stopAll()
        throw error
    }
    await fixture.stopAll()
}

func load(_ path: String) throws -> (LuaRuntime, Runnable) {
    let runtime = try LuaRuntime(file: path)
    return (runtime, try runtime.root())
}

/// A script whose model calls its one tool once and replies "tool said: " and what the tool
/// returned (the model sees failures as "Error: ..." results). `topLevel` runs as the script loads.
func oneToolScript(_ body: String, topLevel: String = "") throws -> Runnable {
    try load(try temporaryScript(TestAgents.probe(body, topLevel: topLevel))).1
}

/// An agent whose model fails with `message`.
func failingAgent(_ message: String, name: String = "a") throws -> Runnable {
    try load(try temporaryScript("""
        local orbiter = require "orbiter"
        local m = orbiter.model { name = "m", respond = function() error("\(message)") end }
        return orbiter.agent { name = "\(name)", model = m }
        """)).1
}

/// Claims the next queue entry as `consumer` (a worker that then vanishes) and starts it.
@discardableResult
func startAsGhost(_ broker: TaskBroker, consumer: String = "ghost", count: Int = 1) async throws -> [(entry: String, lease: String)] {
    _ = try? await broker.client.send(["XGROUP", "CREATE", broker.keys.stream, QueueKeys.group, "0", "MKSTREAM"])
    let claimed = try await broker.client.send(["XREADGROUP", "GROUP", QueueKeys.group, consumer, "COUNT", count, "STREAMS", broker.keys.stream, ">"])
    let entries = StreamReplies.firstStream(claimed)
    #expect(entries.count == count)
    let outcomes = try await broker.start(entries.map { ClaimedEntry(entryID: $0.id, taskID: $0.fields["task"] ?? "") }, workerID: consumer)
    return zip(entries, outcomes).map { entry, outcome in
        guard case .run(_, _, _, _, let lease, _) = outcome else { return (entry.id, "") }
        return (entry.id, lease)
    }
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
    try load(try temporaryScript("""
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
    try temporaryScript("""
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
        """, files: ["lib/util.lua": "return { add = function(a, b) return a + b end }"])
}

/// The value of the first sample line starting with `series` (name plus labels) in a Prometheus text.
func sample(_ text: String, _ series: String) -> Double? {
    for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
        return Double(line.dropFirst(series.count + 1))
    }
    return nil
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

extension LogLines {
    /// A logger whose lines at `level` and above land here as "level: message", with the call's
    /// metadata after it when there is any.
    func logger(label: String = "test", level: Logger.Level = .info) -> Logger {
        var logger = Logger(label: label) { _ in LogLinesHandler(sink: self, logLevel: level) }
        logger.logLevel = level
        return logger
    }

    /// All lines, one a line.
    var text: String { all.joined(separator: "\n") }
}

private struct LogLinesHandler: LogHandler {
    let sink: LogLines
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level

    init(sink: LogLines, logLevel: Logger.Level) {
        self.sink = sink
        self.logLevel = logLevel
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let metadata = event.metadata.flatMap { $0.isEmpty ? nil : " \($0)" } ?? ""
        sink.append("\(event.level): \(event.message)\(metadata)")
    }
}
