import Foundation
import OrbiterCore
@testable import OrbiterClient
@testable import OrbiterQueue
@testable import OrbiterWorker
import OrbiterLua
import OrbiterTestSupport
import Testing

/// One case per kind of bad input a shipped script or payload can bring, each with the clear error
/// expected — and a worker that keeps going afterwards.
@Suite("Bad input catalogue", .serialized)
struct BadInputCatalogueTests {
    @Test("shipped scripts cannot hurt the worker")
    func shippedScriptsCannotHurtTheWorker() async throws {
        try await withDistributedFixture { fixture in
            var options = LuaRuntime.Options.shipped()
            options.callTimeLimit = .milliseconds(500)
            options.memoryLimit = 64 << 20
            try fixture.startWorker(luaOptions: options)
            let cases: [(String, String)] = [
                ("error('nope')", "main.lua:4: nope"),
                ("while true do end", "time limit exceeded"),
                ("while true do pcall(function() while true do end end) end", "time limit exceeded"),
                ("return ('a'):rep(40):find(('a*'):rep(8) .. 'b')", "time limit exceeded"),
                ("local t = {} for i = 1, 1e9 do t[i] = ('x'):rep(1 << 20) .. i end", "not enough memory"), // 1 MiB a step: the cap, not the clock
                ("return os.execute('touch /tmp/orbiter-pwned')", "attempt to call a nil value (field 'execute')"),
                ("return io.open('/etc/passwd'):read('a')", "attempt to index a nil value (global 'io')"),
                ("return assert(load(string.char(27) .. 'Lua', 'x', 'b'))", "binary chunks are refused"),
                ("local t = {} t.self = t return t", "table contains itself"),
                ("return require('socket')", "module 'socket' not found"),
                ("return debug.getinfo(1)", "attempt to index a nil value (global 'debug')"),
            ]
            for (body, expected) in cases {
                let handle = try await distributed(try oneToolScript(body), "go", redisURL: fixture.redisURL, queue: fixture.queue)
                let result = try await handle.result(timeout: .seconds(20))
                let output = result["output"]?.stringValue ?? ""
                #expect(output.hasPrefix("tool said: Error: "), "\(body): \(output)")
                #expect(output.contains(expected), "\(body): expected '\(expected)' in \(output)")
            }
            #expect(!FileManager.default.fileExists(atPath: "/tmp/orbiter-pwned"))
            // The same worker still runs good tasks.
            let (_, agent) = try load(try calculator())
            let ok = try await distributed(agent, "2 + 2", redisURL: fixture.redisURL, queue: fixture.queue)
            let value = try await ok.result(timeout: .seconds(10))
            #expect(value["output"] == "The answer is 4.")
        }
    }

    @Test("huge and odd inputs travel")
    func hugeAndOddInputsTravel() async throws {
        try await withDistributedFixture { fixture in
            try fixture.startWorker()
            let echo = try load(try temporaryScript("""
                local orbiter = require "orbiter"
                local m = orbiter.model { name = "m", respond = function(req)
                  local s = req.messages[#req.messages].content
                  return ("%d bytes, starts %s"):format(#s, s:sub(1, 3))
                end }
                return orbiter.agent { name = "echo", model = m }
                """)).1
            let big = String(repeating: "x", count: 10 << 20)
            let handle = try await distributed(echo, big, redisURL: fixture.redisURL, queue: fixture.queue)
            let result = try await handle.result(timeout: .seconds(30))
            #expect(result["output"] == "10485760 bytes, starts xxx")
            let unicode = try await distributed(echo, "\u{FFFD}é\u{0}z", redisURL: fixture.redisURL, queue: fixture.queue)
            let r2 = try await unicode.result(timeout: .seconds(10))
            #expect(r2["output"] == "7 bytes, starts \u{FFFD}")
        }
    }

    @Test("unknown queues and task IDs are clear")
    func unknownQueueAndTaskIdsAreClear() async throws {
        try await withDistributedFixture { fixture in
            let handle = try TaskHandle(taskID: TaskID.make(), redisURL: fixture.redisURL, queue: "never-used-\(fixture.queue)")
            let status = try await handle.status()
            #expect(status == nil)
            do {
                _ = try await handle.result(timeout: .seconds(1))
                Issue.record()
            } catch let e as DistributedError {
                #expect(e == .taskNotFound(handle.taskID))
            }
            let invalid = #expect(throws: (any Error).self) { try TaskHandle(taskID: "1234", redisURL: fixture.redisURL) }
            if let invalid { #expect("\(invalid)".contains("expected 32 lowercase hex digits")) }
        }
    }
}
