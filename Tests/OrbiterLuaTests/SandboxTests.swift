import CLua
import Foundation
import OrbiterCore
@testable import OrbiterLua
import OrbiterTestSupport
import Testing

/// What a shipped script can reach, tried as an attacker would: each probe must find nothing.
/// Serialized: probes spin against time limits, fill memory caps and measure cancel latency.
@Suite("Sandbox", .serialized)
struct SandboxTests {
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

    /// Expects `body` to fail (within a few seconds) with an error containing `expected`.
    func expectRefused(_ body: String, _ expected: String, options: LuaRuntime.Options? = nil,
                       sourceLocation: SourceLocation = #_sourceLocation) async {
        let start = ContinuousClock.now
        do {
            let value = try await probe(body, options: options)
            Issue.record("\(body) returned \(value.jsonString)", sourceLocation: sourceLocation)
        } catch {
            #expect("\(error)".contains(expected), "\(body): expected '\(expected)' in: \(error)", sourceLocation: sourceLocation)
        }
        #expect(ContinuousClock.now - start < .seconds(5), "\(body) took too long", sourceLocation: sourceLocation)
    }

    @Test("the libraries of the host are unreachable", arguments: [
        ("return require('os').getenv('ORBITER_SANDBOX_CANARY')", "attempt to call a nil value (field 'getenv')"),
        ("return require('io').open('/etc/hostname')", "module 'io' not found"),
        ("return require('debug').sethook", "module 'debug' not found"),
        ("return package.loaded.io.open('/etc/hostname')", "attempt to index a nil value (field 'io')"),
        ("return os.getenv('HOME')", "attempt to call a nil value (field 'getenv')"),
        ("return string.dump(print)", "attempt to call a nil value (field 'dump')"),
        ("return ('').dump(print)", "attempt to call a nil value (field 'dump')"),
        ("return assert(load(string.char(27) .. 'Lua', 'x', 'b'))", "binary chunks are refused"),
        ("return load('return io')().open", "attempt to index a nil value"),
        ("return setmetatable({}, { __gc = function() while true do end end })", "finalizers (__gc) are not available"),
        ("return setmetatable(orbiter.json.array(), {})", "cannot change a protected metatable"),
        ("return getmetatable('').__index", "attempt to index a boolean value"),
        ("return package.loadlib('libc.so.6', 'system')", "attempt to call a nil value (field 'loadlib')"),
        ("return require('orbiter.environment')", "module 'orbiter.environment' not found"),
    ])
    func theLibrariesOfTheHostAreUnreachable(body: String, expected: String) async throws {
        setenv("ORBITER_SANDBOX_CANARY", "canary-3f9a", 1)
        await expectRefused(body, expected)
    }

    @Test("the globals are exactly the allow-list")
    func theGlobalsAreExactlyTheAllowList() async throws {
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
        #expect(value["globals"] == """
            _G _VERSION assert collectgarbage coroutine error getmetatable ipairs load math next orbiter os package pairs pcall \
            print rawequal rawget rawlen rawset require select setmetatable string table tonumber tostring type utf8 xpcall
            """)
        #expect(value["loaded"] == "_G coroutine math orbiter os package string table utf8")
        #expect(value["orbiter"] == "_VERSION agent ask exec http json log mcp model parallel secret serial sleep swarm tool use_tool")
        #expect(value["os"] == "clock date difftime time")
        #expect(value["gc"] == 0)
        #expect(value["private"] == true)
    }

    @Test("top-level code is budgeted: loading stops at the time limit instead of hanging the host")
    func topLevelCodeIsBudgeted() async throws {
        let start = ContinuousClock.now
        let spin = #expect(throws: (any Error).self) { try load("if io == nil then while true do end end", options: sandboxed()) }
        if let spin { #expect("\(spin)".contains("time limit exceeded"), "\(spin)") }
        let index = #expect(throws: (any Error).self) {
            try load("local o = require 'orbiter'\nlocal a = o.agent { name = 'a', model = 'lua:m' }\n" +
                     "setmetatable(a, { __index = function() while true do end end })\nreturn a", options: sandboxed())
        }
        if let index { #expect("\(index)".contains("time limit exceeded") || "\(index)".contains("no orbiter.model"), "\(index)") }
        #expect(ContinuousClock.now - start < .seconds(5))
    }

    @Test("every entry into Lua inside a call is budgeted, whatever wraps the loop", arguments: [
        "coroutine.wrap(function() while true do end end)()",
        "local co = coroutine.create(function() while true do end end) return coroutine.resume(co)",
        "return load('while true do end')()",
        "return ('x'):rep(100):gsub('.', function() while true do end end)",
        "local t = {} for i = 1, 100 do t[i] = i end table.sort(t, function(a, b) while true do end end)",
        "error(setmetatable({}, { __tostring = function() while true do end end }))",
        "while true do pcall(function() while true do end end) end",
        "local t <close> = setmetatable({}, { __close = function() while true do end end }) while true do end",
    ])
    func everyEntryIntoLuaIsBudgeted(body: String) async throws {
        do {
            _ = try await probe(body)
            Issue.record("\(body) should be stopped")
        } catch {
            let text = "\(error)"
            #expect(text.contains("time limit exceeded") || text.contains("error object is a table"), "\(body): \(text)")
        }
    }

    /// Patterns a backtracking matcher needs (nearly) forever for.
    static let worstPatterns = [
            "return ('a'):rep(40):find(('a*'):rep(8) .. 'b')",
            "return ('a'):rep(5000):find(('a-'):rep(8) .. 'b')",
            "return ('a'):rep(200000):find('a*b')",
            "return ('a'):rep(200000):gsub('a*a*a*b', '')",
            "for w in ('ab'):rep(2000):gmatch('(.-)(.-)(.-)(.-)c') do end",
            "return ('('):rep(100000):match(('%b()'):rep(8) .. 'x')",
            "return ('a'):rep(1 << 22):find(('a'):rep(1 << 16) .. 'b', 1, true)",
            "return ('a'):rep(60):match(('(a?)'):rep(30) .. ('a'):rep(30) .. 'b')",
    ]

    @Test("patterns stop at the time limit, whatever the pattern", arguments: worstPatterns)
    func patternsStopAtTheTimeLimit(body: String) async {
        await expectRefused(body, "time limit exceeded")
    }

    @Test("patterns stop at the instruction limit; ordinary patterns keep Lua's results")
    func patternsStopAtTheInstructionLimitAndOrdinaryOnesWork() async throws {
        var counted = sandboxed(callTime: nil)
        counted.instructionLimit = 5_000_000
        await expectRefused(Self.worstPatterns[0], "instruction limit exceeded", options: counted)
        // Ordinary patterns still work, with Lua's results.
        let value = try await probe("""
            local s = "key = value; other=42"
            local k, v = s:match("(%w+)%s*=%s*(%w+)")
            local n = select(2, s:gsub("%w+", "%0%0"))
            local words = {} for w in s:gmatch("%a+") do words[#words + 1] = w end
            return { k = k, v = v, n = n, words = table.concat(words, ","), find = s:find("=", 1, true),
                     pos = s:match("()other"), big = (("x"):rep(100000) .. "y"):find("x+y") }
            """)
        #expect(value == ["k": "key", "v": "value", "n": 4, "words": "key,value,other", "find": 5, "pos": 14, "big": 1])
    }

    @Test("memory is capped per task and for host pushes")
    func memoryIsCappedPerTaskAndForHostPushes() async throws {
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
            Issue.record("decoding 12 MiB should fail")
        } catch {
            #expect("\(error)".contains("not enough memory"), "\(error)")
        }
        let small = try await runtime.callTool("decode", arguments: ["n": 1000])
        #expect(small == 1001)
        // Each task gets its own cap: two tasks holding 32 MiB each fit; one asking for 64 fails.
        async let a = runtime.callTool("hold", arguments: ["mib": 32, "wait": 0.3], account: LuaTaskAccount())
        async let b = runtime.callTool("hold", arguments: ["mib": 32, "wait": 0.3], account: LuaTaskAccount())
        let (ra, rb) = try await (a, b)
        #expect([ra, rb] == [32, 32])
        do {
            _ = try await runtime.callTool("hold", arguments: ["mib": 64, "wait": 0], account: LuaTaskAccount())
            Issue.record("holding 64 MiB should fail")
        } catch {
            #expect("\(error)".contains("not enough memory"), "\(error)")
        }
    }

    @Test("deep values fail clearly both ways")
    func deepValuesFailClearlyBothWays() async throws {
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
            #expect(length == .int(2 * n + 2))
            let decoded = try await runtime.callTool("dec", arguments: ["n": .int(n)])
            #expect(decoded == "ok")
        }
        for (tool, n, expected) in [("ret", 300, "nested deeper than 200 levels"), ("enc", 300, "nested deeper than 200 levels"),
                                    ("dec", 300, "nested deeper than 200 levels"), ("dec", 5000, "nested deeper than")] {
            do {
                _ = try await runtime.callTool(tool, arguments: ["n": .int(n)])
                Issue.record("\(tool) \(n) should fail")
            } catch {
                #expect("\(error)".contains(expected), "\(tool) \(n): \(error)")
            }
        }
        var deep: JSONValue = "x"
        for _ in 0..<300 { deep = ["k": deep] }
        do {
            _ = try await runtime.callTool("arg", arguments: deep)
            Issue.record("300 levels of arguments should be refused")
        } catch {
            #expect("\(error)".contains("arguments: nested deeper than 200 levels"), "\(error)")
        }
        let ok = try await runtime.callTool("arg", arguments: [:])
        #expect(ok == "ok")
    }

    @Test("cancel stops a CPU-bound call and other calls keep running")
    func cancelStopsACPUBoundCallAndOtherCallsKeepRunning() async throws {
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
        #expect(quick == "quick")
        #expect(ContinuousClock.now - start < .milliseconds(500))
        let cancelAt = ContinuousClock.now
        spinning.cancel()
        do {
            _ = try await spinning.value
            Issue.record("the spinning call should be cancelled")
        } catch {
            #expect(error is CancellationError, "\(error)")
        }
        let latency = ContinuousClock.now - cancelAt
        print("cancel latency of a CPU-bound call: \(latency)")
        #expect(latency < .milliseconds(250))
    }

    @Test("a long call moves to a Lua thread and a short one stays with its caller")
    func aLongCallMovesToALuaThreadAndAShortOneStaysWithItsCaller() async throws {
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
        #expect(lines.count == 2)
        #expect(lines.first { $0.hasPrefix("long ") }?.contains(" orbiter-lua-") == true, "\(lines)")
        #expect(lines.first { $0.hasPrefix("short ") }.map { !$0.contains(" orbiter-lua-") } == true, "\(lines)")
    }

    @Test("print goes to the log, not stdout")
    func printGoesToTheLogNotStdout() async throws {
        let lines = LogLines()
        var options = sandboxed()
        options.log = { lines.append($0) }
        let value = try await probe("print('hello', 42) return 'done'", options: options)
        #expect(value == "done")
        #expect(lines.all == ["hello 42"])
    }
}

/// The OS name of the calling thread (Foundation's `Thread.name` does not always show it).
func currentThreadName() -> String {
    var buffer = [CChar](repeating: 0, count: 16)
    orbiter_thread_name(&buffer)
    return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

