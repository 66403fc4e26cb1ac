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

/// The adversarial catalogue: every attack a shipped script can try, sent as a task to a live
/// worker whose environment holds fake secrets. Each task must end (failed, or completed
/// harmlessly) within its limits, no secret may appear in any event, result or log line, and the
/// worker must go on serving.
@Suite("Trust catalogue", .serialized)
struct TrustCatalogueTests {
    static let secret = "canary-5e1f-secret-value"
    static let secretNames = ["ORBITER_FAKE_SECRET", "OPENAI_API_KEY"]

    let logs = LogLines()

    @discardableResult
    func startCapturingWorker(_ fixture: DistributedFixture, concurrency: Int = 4, luaOptions: LuaRuntime.Options,
                              lease: Int = 30) throws -> Worker {
        let logger = logs.logger(label: "trust", level: .debug)
        var luaOptions = luaOptions
        luaOptions.log = { [logger] line in logger.info("\(line)", metadata: ["source": "lua"]) } // as `orbiter start worker` does
        var configuration = WorkerConfiguration(redisURL: fixture.redisURL, queue: fixture.queue, concurrency: concurrency, heartbeatTTL: 3,
                                                drainTimeout: .seconds(2), luaOptions: luaOptions, logger: logger)
        configuration.leaseSeconds = lease
        return try fixture.start(configuration)
    }

    /// Each attack, and whether it may complete (harmlessly) instead of being refused.
    static let attacks: [(name: String, body: String, harmless: Bool)] = [
        ("require os getenv", "return require('os').getenv('ORBITER_FAKE_SECRET')", false),
        ("require io", "return require('io').open('/etc/hostname'):read('a')", false),
        ("package.loaded os", "return package.loaded.os.getenv('OPENAI_API_KEY')", false),
        ("require debug", "local d = require('debug') d.sethook() return d.getregistry()", false),
        ("private track_lines", "orbiter._track_lines(false) while true do end", false),
        ("rawget private", "return rawget(orbiter, '_registry') or rawget(orbiter, '_describe') or 'none'", true),
        ("require internals", "return require('orbiter.environment') or require('orbiter.internal')", false),
        ("string metatable", "return getmetatable('').__index.dump(print)", false),
        ("string.dump", "return string.dump(function() end)", false),
        ("binary chunk", "return load(string.char(27) .. 'LuaT', 'x', 'b')()", false),
        ("load env escape", "return load('return io or os.getenv')()('HOME')", false),
        ("setmetatable _G", "setmetatable(_G, { __index = function(_, k) return k == 'io' and 'io?' or nil end }) return io.open", true),
        ("finalizer loop", "setmetatable({}, { __gc = function() while true do end end }) collectgarbage() return 'x'", false),
        ("protected mt gc", "local mt = getmetatable(orbiter.json.array()) mt.__gc = function() while true do end end return 'x'", false),
        ("gc control", "collectgarbage('stop') return collectgarbage('count') > 0", true),
        ("coroutine wrap loop", "return coroutine.wrap(function() while true do end end)()", false),
        ("pcall loop", "while true do pcall(function() while true do end end) end", false),
        ("catastrophic pattern", "return ('a'):rep(40):find(('a*'):rep(8) .. 'b')", false),
        ("quadratic pattern", "return ('a'):rep(300000):find('a*b')", false),
        ("gsub callback loop", "return ('abc'):gsub('.', function() while true do end end)", false),
        ("tostring error object", "error(setmetatable({}, { __tostring = function() while true do end end }))", false),
        ("format tostring loop", "return string.format('%s', setmetatable({}, { __tostring = function() while true do end end }))", false),
        ("huge rep", "return ('x'):rep(1e12)", false),
        ("memory bomb", "local t = {} for i = 1, 1e9 do t[i] = ('x'):rep(1 << 20) .. i end", false),
        ("json decode bomb", "return #orbiter.json.decode('[' .. ('[],'):rep(3000000) .. '[]]')", false),
        ("deep recursion", "local function f(n) return f(n + 1) + 1 end return f(1)", false),
        ("deep return", "local t = {} for i = 1, 5000 do t = { t } end return t", false),
        ("deep encode", "local t = {} for i = 1, 5000 do t = { t } end return orbiter.json.encode(t)", false),
        ("deep decode", "return orbiter.json.decode(('['):rep(5000) .. (']'):rep(5000))", false),
        ("forged host yield", "return coroutine.yield(nil, 'sleep', 1e9)", false),
        ("close own coroutine", "return coroutine.close(coroutine.running())", false),
        ("print to stdout", "print('ORBITER_FAKE_SECRET') return 'printed'", true),
        ("os.exit", "os.exit(1)", false),
        ("loadlib", "return package.loadlib('libc.so.6', 'system')", false),
    ]

    @Test("every attack is held and the worker goes on")
    func everyAttackIsHeldAndTheWorkerGoesOn() async throws {
        try await withDistributedFixture { fixture in
            for name in Self.secretNames { setenv(name, Self.secret, 1) }
            defer { for name in Self.secretNames { unsetenv(name) } }
            var options = LuaRuntime.Options.shipped()
            options.callTimeLimit = .milliseconds(500)
            options.taskMemoryLimit = 64 << 20
            try startCapturingWorker(fixture, luaOptions: options)

            var held = 0
            for attack in Self.attacks {
                let start = ContinuousClock.now
                let handle = try await distributed(try oneToolScript(attack.body), "go", redisURL: fixture.redisURL, queue: fixture.queue)
                let events = try await collectOrThrow(handle.stream())
                let status = try await handle.status()
                let elapsed = ContinuousClock.now - start
                let everything = events.map(\.jsonString).joined(separator: "\n") + (status.map { "\($0)" } ?? "")
                #expect(!everything.contains(Self.secret), "\(attack.name): the secret leaked: \(everything)")
                #expect(!(everything.contains(NSHomeDirectory()) && NSHomeDirectory().count > 1), "\(attack.name): HOME leaked")
                #expect(status?.status == .completed || status?.status == .failed, "\(attack.name): \(String(describing: status))")
                #expect(elapsed < .seconds(10), "\(attack.name) took \(elapsed)")
                // The tool's failure reached the model as an error result (or the task failed).
                let output = events.compactMap { e -> String? in if case .text(let t) = e { return t.text } else { return nil } }.joined()
                let refused = output.hasPrefix("tool said: Error: ") || status?.status == .failed
                if attack.harmless ? status?.status == .completed : refused {
                    held += 1
                } else {
                    Issue.record("\(attack.name): not held: \(output) \(String(describing: status))")
                }
            }
            #expect(held == Self.attacks.count)
            #expect(!logs.text.contains(Self.secret), "a log line holds the secret")
            #expect(logs.text.contains("ORBITER_FAKE_SECRET"), "print goes to the log")

            // A script whose top-level code loops only where it is sandboxed: the load is budgeted.
            let sneaky = try oneToolScript("return 'never'", topLevel: "if io == nil then while true do end end")
            let handle = try await distributed(sneaky, "go", redisURL: fixture.redisURL, queue: fixture.queue)
            let status = try await finishedStatus(handle, within: .seconds(10))
            #expect(status?.status == .failed)
            #expect(status?.error?.contains("time limit exceeded") == true, "\(String(describing: status?.error))")

            // The same worker still runs good tasks.
            let (_, agent) = try load(try calculator())
            let ok = try await distributed(agent, "2 + 2", redisURL: fixture.redisURL, queue: fixture.queue)
            let value = try await ok.result(timeout: .seconds(10))
            #expect(value["output"] == "The answer is 4.")
            print("trust catalogue: \(Self.attacks.count + 1) attacks tried, \(held + 1) held")
        }
    }

    @Test("CPU-bound tools neither stall leases nor escape cancel and timeout")
    func cpuBoundToolsNeitherStallLeasesNorEscapeCancelAndTimeout() async throws {
        try await withDistributedFixture { fixture in
            var options = LuaRuntime.Options.shipped()
            options.callTimeLimit = .seconds(30)
            try startCapturingWorker(fixture, concurrency: 4, luaOptions: options, lease: 2)
            let spinner = try oneToolScript("while true do end")
            let sleeper = try oneToolScript("orbiter.sleep(4) return 'slept'")

            // A sleeper shares the worker with two spinners for longer than two leases.
            let quiet = try await distributed(sleeper, "go", redisURL: fixture.redisURL, queue: fixture.queue)
            let timed = try await distributed(spinner, "go", redisURL: fixture.redisURL, timeout: 2, queue: fixture.queue)
            let cancelled = try await distributed(spinner, "go", redisURL: fixture.redisURL, queue: fixture.queue)
            try await eventually("both spinners running") {
                let a = try await timed.status()?.status, b = try await cancelled.status()?.status
                return a == .running && b == .running
            }
            try await Task.sleep(for: .milliseconds(300))
            let cancelAt = ContinuousClock.now
            _ = try await cancelled.cancel()
            let cancelStatus = try await finishedStatus(cancelled, within: .seconds(5))
            #expect(cancelStatus?.status == .cancelled)
            #expect(ContinuousClock.now - cancelAt < .seconds(1), "a CPU-bound tool stops soon after a cancel")

            let timedStatus = try await finishedStatus(timed, within: .seconds(10))
            #expect(timedStatus?.status == .failed)
            #expect(timedStatus?.error?.contains("TimeoutError") == true || timedStatus?.error?.contains("timed out") == true,
                    "\(String(describing: timedStatus?.error))")

            let result = try await quiet.result(timeout: .seconds(20))
            #expect(result["output"] == "tool said: slept")
            let quietStatus = try await quiet.status()
            #expect(quietStatus?.attempts == 1, "the sleeper's lease kept renewing: it was never taken over")
        }
    }
}
