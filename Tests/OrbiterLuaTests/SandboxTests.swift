import CLua
import Foundation
import XCTest
import OrbiterCore
@testable import OrbiterLua

/// What a shipped script can reach, tried as an attacker would: each probe must find nothing.
final class SandboxTests: XCTestCase {
    /// Shipped limits, shortened so runaway cases end fast.
    func sandboxed(callTime: Duration? = .milliseconds(400), taskMemory: Int? = 64 << 20) -> LuaRuntime.Options {
        var options = LuaRuntime.Options.shipped()
        options.callTimeLimit = callTime
        options.taskMemoryLimit = taskMemory
        return options
    }

    /// Runs `body` as a tool of a sandboxed script and returns what it returned.
    func probe(_ body: String, options: LuaRuntime.Options? = nil) async throws -> JSONValue {
        let runtime = try load(toolScript("orbiter.tool { name = 'probe', run = function(args)\n\(body)\nend }"),
                               options: options ?? sandboxed())
        return try await runtime.callTool("probe", arguments: [:])
    }

    /// Asserts that `body` fails (within a few seconds) with an error containing `expected`.
    func assertRefused(_ body: String, _ expected: String, options: LuaRuntime.Options? = nil,
                       file: StaticString = #filePath, line: UInt = #line) async {
        let start = ContinuousClock.now
        do {
            let value = try await probe(body, options: options)
            XCTFail("\(body) returned \(value.jsonString)", file: file, line: line)
        } catch {
            XCTAssertTrue("\(error)".contains(expected), "\(body): expected '\(expected)' in: \(error)", file: file, line: line)
        }
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(5), "\(body) took too long", file: file, line: line)
    }

    func testTheLibrariesOfTheHostAreUnreachable() async throws {
        setenv("ORBITER_SANDBOX_CANARY", "canary-3f9a", 1)
        await assertRefused("return require('os').getenv('ORBITER_SANDBOX_CANARY')", "attempt to call a nil value (field 'getenv')")
        await assertRefused("return require('io').open('/etc/hostname')", "module 'io' not found")
        await assertRefused("return require('debug').sethook", "module 'debug' not found")
        await assertRefused("return package.loaded.io.open('/etc/hostname')", "attempt to index a nil value (field 'io')")
        await assertRefused("return os.getenv('HOME')", "attempt to call a nil value (field 'getenv')")
        await assertRefused("return string.dump(print)", "attempt to call a nil value (field 'dump')")
        await assertRefused("return ('').dump(print)", "attempt to call a nil value (field 'dump')")
        await assertRefused("return assert(load(string.char(27) .. 'Lua', 'x', 'b'))", "binary chunks are refused")
        await assertRefused("return load('return io')().open", "attempt to index a nil value")
        await assertRefused("return setmetatable({}, { __gc = function() while true do end end })", "finalizers (__gc) are not available")
        await assertRefused("return setmetatable(orbiter.json.array(), {})", "cannot change a protected metatable")
        await assertRefused("return getmetatable('').__index", "attempt to index a boolean value")
        await assertRefused("return package.loadlib('libc.so.6', 'system')", "attempt to call a nil value (field 'loadlib')")
        await assertRefused("return require('orbiter.environment')", "module 'orbiter.environment' not found")
    }

    func testTheGlobalsAreExactlyTheAllowList() async throws {
        let value = try await probe("""
            local names = {}
            for k in pairs(_G) do names[#names + 1] = k end
            table.sort(names)
            local loaded = {}
            for k in pairs(package.loaded) do loaded[#loaded + 1] = k end
            table.sort(loaded)
            local o = {}
            for k in pairs(orbiter) do o[#o + 1] = k end
            table.sort(o)
            local os_names = {}
            for k in pairs(os) do os_names[#os_names + 1] = k end
            table.sort(os_names)
            return { globals = table.concat(names, " "), loaded = table.concat(loaded, " "), orbiter = table.concat(o, " "),
                     os = table.concat(os_names, " "), gc = collectgarbage("stop"), private = rawget(orbiter, "_registry") == nil }
            """)
        XCTAssertEqual(value["globals"], """
            _G _VERSION assert collectgarbage coroutine error getmetatable ipairs load math next orbiter os package pairs pcall \
            print rawequal rawget rawlen rawset require select setmetatable string table tonumber tostring type utf8 xpcall
            """)
        XCTAssertEqual(value["loaded"], "_G coroutine math orbiter os package string table utf8")
        XCTAssertEqual(value["orbiter"], "_VERSION agent json log model parallel serial sleep swarm tool use_tool")
        XCTAssertEqual(value["os"], "clock date difftime time")
        XCTAssertEqual(value["gc"], 0)
        XCTAssertEqual(value["private"], true)
    }

    func testEveryEntryIntoLuaIsBudgeted() async throws {
        // Top-level code: loading stops at the time limit instead of hanging the host.
        let start = ContinuousClock.now
        XCTAssertThrowsError(try load("if io == nil then while true do end end", options: sandboxed())) {
            XCTAssertTrue("\($0)".contains("time limit exceeded"), "\($0)")
        }
        XCTAssertThrowsError(try load("local o = require 'orbiter'\nlocal a = o.agent { name = 'a', model = 'lua:m' }\n" +
                                      "setmetatable(a, { __index = function() while true do end end })\nreturn a",
                                      options: sandboxed())) { error in
            XCTAssertTrue("\(error)".contains("time limit exceeded") || "\(error)".contains("no orbiter.model"), "\(error)")
        }
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(5))
        // Inside calls, whatever wraps the loop.
        for body in [
            "coroutine.wrap(function() while true do end end)()",
            "local co = coroutine.create(function() while true do end end) return coroutine.resume(co)",
            "return load('while true do end')()",
            "return ('x'):rep(100):gsub('.', function() while true do end end)",
            "local t = {} for i = 1, 100 do t[i] = i end table.sort(t, function(a, b) while true do end end)",
            "error(setmetatable({}, { __tostring = function() while true do end end }))",
            "while true do pcall(function() while true do end end) end",
            "local t <close> = setmetatable({}, { __close = function() while true do end end }) while true do end",
        ] {
            print("budget probe:", body)
            do {
                _ = try await probe(body)
                XCTFail(body)
            } catch {
                let text = "\(error)"
                XCTAssertTrue(text.contains("time limit exceeded") || text.contains("error object is a table"), "\(body): \(text)")
            }
        }
    }

    func testPatternsStopAtTheBudgetWhateverThePattern() async throws {
        let worst = [
            "return ('a'):rep(40):find(('a*'):rep(8) .. 'b')",
            "return ('a'):rep(5000):find(('a-'):rep(8) .. 'b')",
            "return ('a'):rep(200000):find('a*b')",
            "return ('a'):rep(200000):gsub('a*a*a*b', '')",
            "for w in ('ab'):rep(2000):gmatch('(.-)(.-)(.-)(.-)c') do end",
            "return ('('):rep(100000):match(('%b()'):rep(8) .. 'x')",
            "return ('a'):rep(1 << 22):find(('a'):rep(1 << 16) .. 'b', 1, true)",
            "return ('a'):rep(60):match(('(a?)'):rep(30) .. ('a'):rep(30) .. 'b')",
        ]
        for body in worst {
            await assertRefused(body, "time limit exceeded")
        }
        var counted = sandboxed(callTime: nil)
        counted.instructionLimit = 5_000_000
        await assertRefused(worst[0], "instruction limit exceeded", options: counted)
        // Ordinary patterns still work, with Lua's results.
        let value = try await probe("""
            local s = "key = value; other=42"
            local k, v = s:match("(%w+)%s*=%s*(%w+)")
            local n = select(2, s:gsub("%w+", "%0%0"))
            local words = {} for w in s:gmatch("%a+") do words[#words + 1] = w end
            return { k = k, v = v, n = n, words = table.concat(words, ","), find = s:find("=", 1, true),
                     pos = s:match("()other"), big = (("x"):rep(100000) .. "y"):find("x+y") }
            """)
        XCTAssertEqual(value, ["k": "key", "v": "value", "n": 4, "words": "key,value,other", "find": 5, "pos": 14, "big": 1])
    }

    func testMemoryIsCappedPerTaskAndForHostPushes() async throws {
        let runtime = try load(toolScript("""
            orbiter.tool { name = "decode", run = function(args)
              return #orbiter.json.decode("[" .. ("[],"):rep(args.n) .. "[]]")
            end }
            orbiter.tool { name = "hold", run = function(args)
              local t = {} for i = 1, args.mib do t[i] = ("x"):rep(1 << 20) .. i end
              orbiter.sleep(args.wait)
              return #t
            end }
            """), options: sandboxed(callTime: .seconds(5), taskMemory: 48 << 20))
        // 12 MiB of text would become ~20 times that as Lua tables: refused before it is built.
        do {
            _ = try await runtime.callTool("decode", arguments: ["n": 4_000_000])
            XCTFail()
        } catch {
            XCTAssertTrue("\(error)".contains("not enough memory"), "\(error)")
        }
        let small = try await runtime.callTool("decode", arguments: ["n": 1000])
        XCTAssertEqual(small, 1001)
        // Each task gets its own cap: two tasks holding 32 MiB each fit; one asking for 64 fails.
        async let a = runtime.callTool("hold", arguments: ["mib": 32, "wait": 0.3], account: LuaTaskAccount())
        async let b = runtime.callTool("hold", arguments: ["mib": 32, "wait": 0.3], account: LuaTaskAccount())
        let (ra, rb) = try await (a, b)
        XCTAssertEqual([ra, rb], [32, 32])
        do {
            _ = try await runtime.callTool("hold", arguments: ["mib": 64, "wait": 0], account: LuaTaskAccount())
            XCTFail()
        } catch {
            XCTAssertTrue("\(error)".contains("not enough memory"), "\(error)")
        }
    }

    func testDeepValuesFailClearlyBothWays() async throws {
        let runtime = try load(toolScript("""
            local function nest(n) local t = {} for i = 1, n do t = { t } end return t end
            orbiter.tool { name = "ret", run = function(args) return nest(args.n) end }
            orbiter.tool { name = "enc", run = function(args) return #orbiter.json.encode(nest(args.n)) end }
            orbiter.tool { name = "dec", run = function(args) local v = orbiter.json.decode(("["):rep(args.n) .. ("]"):rep(args.n)) return "ok" end }
            orbiter.tool { name = "arg", run = function(args) return "ok" end }
            """), options: sandboxed())
        for n in [25, 40, 150] {
            _ = try await runtime.callTool("ret", arguments: ["n": .int(n)])
            let length = try await runtime.callTool("enc", arguments: ["n": .int(n)])
            XCTAssertEqual(length, .int(2 * n + 2))
            let decoded = try await runtime.callTool("dec", arguments: ["n": .int(n)])
            XCTAssertEqual(decoded, "ok")
        }
        for (tool, n, expected) in [("ret", 300, "nested deeper than 200 levels"), ("enc", 300, "nested deeper than 200 levels"),
                                    ("dec", 300, "nested deeper than 200 levels"), ("dec", 5000, "nested deeper than")] {
            do {
                _ = try await runtime.callTool(tool, arguments: ["n": .int(n)])
                XCTFail("\(tool) \(n)")
            } catch {
                XCTAssertTrue("\(error)".contains(expected), "\(tool) \(n): \(error)")
            }
        }
        var deep: JSONValue = "x"
        for _ in 0..<300 { deep = ["k": deep] }
        do {
            _ = try await runtime.callTool("arg", arguments: deep)
            XCTFail()
        } catch {
            XCTAssertTrue("\(error)".contains("arguments: nested deeper than 200 levels"), "\(error)")
        }
        let ok = try await runtime.callTool("arg", arguments: [:])
        XCTAssertEqual(ok, "ok")
    }

    func testCancelStopsACPUBoundCallAndOtherCallsKeepRunning() async throws {
        let runtime = try load(toolScript("""
            orbiter.tool { name = "spin", run = function() while true do end end }
            orbiter.tool { name = "quick", run = function() return "quick" end }
            """), options: sandboxed(callTime: .seconds(30)))
        let spinning = Task { try await runtime.callTool("spin", arguments: [:]) }
        try await Task.sleep(for: .milliseconds(100))
        // The spinning call neither blocks this (cooperative) thread nor the state: with its
        // slice used up, it lets the quick call of the same state run.
        let start = ContinuousClock.now
        let quick = try await runtime.callTool("quick", arguments: [:])
        XCTAssertEqual(quick, "quick")
        XCTAssertLessThan(ContinuousClock.now - start, .milliseconds(500))
        let cancelAt = ContinuousClock.now
        spinning.cancel()
        do {
            _ = try await spinning.value
            XCTFail("the spinning call should be cancelled")
        } catch {
            XCTAssertTrue(error is CancellationError, "\(error)")
        }
        let latency = ContinuousClock.now - cancelAt
        print("cancel latency of a CPU-bound call: \(latency)")
        XCTAssertLessThan(latency, .milliseconds(250))
    }

    func testALongCallMovesToALuaThreadAndAShortOneStaysWithItsCaller() async throws {
        let threads = LogLines()
        var options = sandboxed(callTime: .seconds(10))
        options.log = { line in threads.append("\(line) \(currentThreadName())") }
        let runtime = try load(toolScript("""
            orbiter.tool { name = "long", run = function() for i = 1, 3e7 do end orbiter.log("long") end }
            orbiter.tool { name = "short", run = function() orbiter.log("short") end }
            """), options: options)
        _ = try await runtime.callTool("short", arguments: [:])
        _ = try await runtime.callTool("long", arguments: [:])
        let lines = threads.all
        XCTAssertEqual(lines.count, 2)
        XCTAssertTrue(lines.first { $0.hasPrefix("long ") }?.contains(" orbiter-lua-") == true, "\(lines)")
        XCTAssertTrue(lines.first { $0.hasPrefix("short ") }.map { !$0.contains(" orbiter-lua-") } == true, "\(lines)")
    }

    func testPrintGoesToTheLogNotStdout() async throws {
        let lines = LogLines()
        var options = sandboxed()
        options.log = { lines.append($0) }
        let value = try await probe("print('hello', 42) return 'done'", options: options)
        XCTAssertEqual(value, "done")
        XCTAssertEqual(lines.all, ["hello 42"])
    }
}

/// The OS name of the calling thread (Foundation's `Thread.name` does not always show it).
func currentThreadName() -> String {
    var buffer = [CChar](repeating: 0, count: 16)
    orbiter_thread_name(&buffer)
    return String(cString: buffer)
}

final class LogLines: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    func append(_ line: String) { lock.withLock { lines.append(line) } }
    var all: [String] { lock.withLock { lines } }
}

