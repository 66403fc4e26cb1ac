import Foundation
import OrbiterCore
import OrbiterTestSupport
import Testing

/// What a new user meets in the first hour (issue 14): scripts as stock Lua reads them, errors
/// that name the file, input handling, chat's Ctrl-C and commands, and swarm output.
@Suite("First hour", .serialized)
struct FirstHourTests {
    /// A fresh folder for one test's files.
    func folder() throws -> URL { try temporaryFolder("orbiter-first-hour") }

    func write(_ bytes: [UInt8], _ name: String, in dir: URL) throws -> String {
        let url = dir.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(bytes).write(to: url)
        return url.path
    }

    func write(_ text: String, _ name: String, in dir: URL) throws -> String { try write(Array(text.utf8), name, in: dir) }

    let agent = #"return orbiter.agent { name = "a", model = orbiter.model { name = "m", respond = function(req) return "said " .. req.messages[#req.messages].content end } }"#

    // MARK: Scripts as stock Lua reads them

    @Test("a byte order mark and a shebang line load and keep line numbers")
    func aByteOrderMarkAndAShebangLineLoadAndKeepLineNumbers() async throws {
        let dir = try folder()
        let bom = try write([0xEF, 0xBB, 0xBF] + Array((agent + "\n").utf8), "bom.lua", in: dir)
        let r1 = try await OrbiterBinary.run(["run", bom, "hi"])
        #expect(r1.status == 0, "\(r1.stderr)")
        #expect(r1.stdout == "said hi\n")

        let shebang = try write("#!/usr/bin/env -S orbiter run\n" + agent + "\n", "shebang.lua", in: dir)
        let r2 = try await OrbiterBinary.run(["run", shebang, "hi"])
        #expect(r2.status == 0, "\(r2.stderr)")
        #expect(r2.stdout == "said hi\n")
        // Line numbers are the file's: the error on line 3 is reported as line 3.
        let broken = try write("#!/usr/bin/env orbiter\nlocal x = 1\nlocal y = = 2\n", "broken.lua", in: dir)
        let r3 = try await OrbiterBinary.run(["run", broken, "hi"])
        #expect(r3.status == 2)
        #expect(r3.stderr.contains("broken.lua:3:"), "\(r3.stderr)")
        // A shipped bundle keeps the shebang and loads on a worker too (check loads it as one).
        let check = try await OrbiterBinary.run(["check", shebang])
        #expect(check.status == 0, "\(check.stderr)")
        #expect(!check.stderr.contains("warning"), "\(check.stderr)")
    }

    @Test("files that are not Lua source are named with what is wrong")
    func filesThatAreNotLuaSourceAreNamedWithWhatIsWrong() async throws {
        let dir = try folder()
        // A Latin-1 comment: the line and column of the byte, not "binary chunks".
        let latin = try write(Array("-- ok\n-- caf".utf8) + [0xE9] + Array(("\n" + agent).utf8), "latin.lua", in: dir)
        let r1 = try await OrbiterBinary.run(["run", latin, "hi"])
        #expect(r1.status == 2)
        #expect(r1.stderr.contains("latin.lua:2: not UTF-8 text (byte 0xE9 at column 7)"), "\(r1.stderr)")
        #expect(!r1.stderr.contains("binary"), "\(r1.stderr)")

        // A compiled chunk (valid UTF-8 after its escape byte, so only the signature gives it away).
        let compiled = try write([0x1B] + Array("LuaT\u{0}return 1".utf8), "compiled.lua", in: dir)
        let r2 = try await OrbiterBinary.run(["run", compiled, "hi"])
        #expect(r2.status == 2)
        #expect(r2.stderr.contains("compiled.lua: a compiled Lua chunk; Orbiter loads Lua source only"), "\(r2.stderr)")

        // A directory.
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("tools.lua"), withIntermediateDirectories: true)
        let r3 = try await OrbiterBinary.run(["run", dir.appendingPathComponent("tools.lua").path, "hi"])
        #expect(r3.status == 2)
        #expect(r3.stderr.contains("tools.lua: is a directory, not a Lua script"), "\(r3.stderr)")

        // A required module that is not UTF-8 is named, not reported as missing.
        _ = try write(Array("return { x = '".utf8) + [0xFF] + Array("' }".utf8), "lib/bad.lua", in: dir)
        let main = try write("local bad = require 'lib.bad'\n" + agent, "main.lua", in: dir)
        let r4 = try await OrbiterBinary.run(["run", main, "hi"])
        #expect(r4.status == 2)
        #expect(r4.stderr.contains("lib/bad.lua:1: not UTF-8 text (byte 0xFF at column 15)"), "\(r4.stderr)")
    }

    @Test("a top-level sleep and a missing module name the line")
    func topLevelSleepAndAMissingModuleNameTheLine() async throws {
        let dir = try folder()
        let sleeping = try write("local x = 1\norbiter.sleep(0.01)\n" + agent, "sleeping.lua", in: dir)
        let r1 = try await OrbiterBinary.run(["run", sleeping, "hi"])
        #expect(r1.status == 2)
        #expect(r1.stderr.contains("sleeping.lua:2: orbiter.sleep can only be used inside a tool's run or a model's respond function"),
                "\(r1.stderr)")

        _ = try write("return { x = 1 }", "lib/s.lua", in: dir)
        let pathed = try write("package.path = './lib/?.lua;' .. package.path\nlocal s = require('s')\n" + agent, "pathed.lua", in: dir)
        for flags in [[], ["--sandbox"]] {
            let r = try await OrbiterBinary.run(["run"] + flags + [pathed, "hi"])
            #expect(r.status == 2)
            #expect(r.stderr.contains("pathed.lua:2: module 's' not found (looked for"), "\(r.stderr)")
            #expect(r.stderr.contains("package.path is not used"), "\(r.stderr)")
            #expect(r.stderr.contains("require 'lib.util' reads lib/util.lua"), "\(r.stderr)")
            #expect(!r.stderr.contains("package.preload"), "\(r.stderr)")
        }
        // Without package.path set, no hint about it; the module found by its folder name works.
        let plain = try write("local s = require('nope')\n" + agent, "plain.lua", in: dir)
        let r2 = try await OrbiterBinary.run(["run", plain, "hi"])
        #expect(r2.stderr.contains("plain.lua:1: module 'nope' not found"), "\(r2.stderr)")
        #expect(!r2.stderr.contains("package.path"), "\(r2.stderr)")
        let dotted = try write("local s = require('lib.s')\nassert(s.x == 1)\n" + agent, "dotted.lua", in: dir)
        let r3 = try await OrbiterBinary.run(["run", dotted, "hi"])
        #expect(r3.status == 0, "\(r3.stderr)")
    }

    // MARK: Options and input

    @Test("negative and non-finite numbers are validated, not taken for options")
    func negativeAndNonFiniteNumbersAreValidatedNotTakenForOptions() async throws {
        let steps = try await OrbiterBinary.run(["run", "--max-steps", "-1", "examples/calculator.lua", "1 + 1"])
        #expect(steps.status == 2)
        #expect(steps.stderr.contains("--max-steps must be at least 1"), "\(steps.stderr)")
        #expect(!steps.stderr.contains("Missing value"), "\(steps.stderr)")
        let chat = try await OrbiterBinary.run(["chat", "--max-steps", "-3", "examples/calculator.lua"])
        #expect(chat.stderr.contains("--max-steps must be at least 1"), "\(chat.stderr)")

        for (args, message) in [(["--metadata", "=v"], "--metadata expects key=value with a non-empty key, got '=v'"),
                                (["--timeout", "-5"], "--timeout must be a positive number of seconds"),
                                (["--timeout", "nan"], "--timeout must be a positive number of seconds"),
                                (["--max-retries", "-1"], "--max-retries must not be negative")] {
            let r = try await OrbiterBinary.run(["submit"] + args + ["examples/calculator.lua", "x"])
            #expect(r.status == 2, "\(args)")
            #expect(r.stderr.contains(message), "\(args): \(r.stderr)")
        }
        // The same for the other commands that take numbers.
        for (args, message) in [(["task", "list", "--limit", "-1"], "--limit must be at least 1"),
                                (["task", "dead", "--limit", "-2"], "--limit must be at least 1"),
                                (["task", "list", "--newer-than", "soon"], "--newer-than: cannot read 'soon'"),
                                (["task", "list", "--older-than", "-3d"], "--older-than: cannot read '-3d'"),
                                (["task", "result", "0123456789abcdef0123456789abcdef", "--timeout", "-1"], "--timeout must be a positive number"),
                                (["start", "worker", "--concurrency", "-4"], "--concurrency must be at least 1"),
                                (["start", "worker", "--drain-timeout", "-1"], "--drain-timeout must be a number of seconds"),
                                (["start", "worker", "--lease", "-30"], "--lease must be at least 1"),
                                (["start", "worker", "--event-window-ms", "500"], "--event-window-ms must be 0 to 100"),
                                (["start", "worker", "--event-window-ms", "-1"], "--event-window-ms must be 0 to 100")] {
            let r = try await OrbiterBinary.run(args)
            #expect(r.status == 2, "\(args)")
            #expect(r.stderr.contains(message), "\(args): \(r.stderr)")
            #expect(!r.stderr.contains("Missing value"), "\(args): \(r.stderr)")
        }
    }

    @Test("input that is not UTF-8 is refused, not replaced")
    func inputThatIsNotUTF8IsRefusedNotReplaced() async throws {
        let piped = try await OrbiterBinary.shell(#"printf 'caf\xe9 au lait' | "$ORBITER" run examples/calculator.lua"#)
        #expect(piped.status == 2, "\(piped.stderr)")
        #expect(piped.stderr.contains("the input on stdin is not UTF-8 text (byte 0xE9 at offset 3)"), "\(piped.stderr)")
        #expect(piped.stdout == "")
        let argument = try await OrbiterBinary.shell(#""$ORBITER" run examples/calculator.lua "$(printf '1 + \xff')""#)
        #expect(argument.status == 2, "\(argument.stderr)")
        #expect(argument.stderr.contains("the input argument is not UTF-8 text"), "\(argument.stderr)")
        // Real U+FFFD in valid UTF-8 input is the user's text and goes through.
        let replacement = try await OrbiterBinary.run(["run", try write(agent, "a.lua", in: folder()), "x \u{FFFD} y"])
        #expect(replacement.stdout == "said x \u{FFFD} y\n")
    }

    @Test("on a terminal the run says it is waiting for input")
    func onATerminalTheRunSaysItIsWaitingForInput() async throws {
        let script = try write(agent, "a.lua", in: folder())
        // `script` gives orbiter a terminal as stdin; its own stdin (empty) ends it.
        let tty = try await OrbiterBinary.shell(#"script -qec "$ORBITER run '\#(script)'" /dev/null < /dev/null"#)
        #expect(tty.stdout.contains("reading the input from the terminal: type it, then press Ctrl-D"), "\(tty.stdout + tty.stderr)")
        // From a pipe, no hint.
        let piped = try await OrbiterBinary.run(["run", script], stdin: "hello")
        #expect(piped.stdout == "said hello\n")
        #expect(!piped.stderr.contains("terminal"), "\(piped.stderr)")
    }

    // MARK: Provider errors

    @Test("an HTML error page becomes one line with the status")
    func anHTMLErrorPageBecomesOneLineWithTheStatus() async throws {
        let server = try await FakeModelServer.start()
        defer { Task { try? await server.stop() } }
        let page = "<!DOCTYPE html>\n<html><head><title>403 Forbidden</title><style>body{}</style></head>\n<body>"
            + String(repeating: "<p>blocked by the proxy, please contact support</p>\n", count: 200) + "</body></html>"
        server.enqueue(.error(status: 403, body: page, headers: ["content-type": "text/html"]))
        let agent = try write(#"return orbiter.agent { name = "remote", model = "openai:gpt-4o" }"#, "remote.lua", in: folder())
        let r = try await OrbiterBinary.run(["run", agent, "hi"],
                                            environment: ["OPENAI_BASE_URL": server.baseURL + "/v1", "OPENAI_API_KEY": "sk-test"])
        #expect(r.status == 1)
        #expect(r.stderr.contains("HTTP 403: an HTML page: 403 Forbidden (body not shown)"), "\(r.stderr)")
        #expect(!(r.stderr.contains("<html") || r.stderr.contains("blocked by the proxy")), "\(r.stderr)")
        #expect(r.stderr.count < 600, "\(r.stderr)")
    }

    // MARK: Chat

    @Test("Ctrl-C cancels the reply, not the chat, and unknown commands are refused")
    func ctrlCCancelsTheReplyNotTheChatAndUnknownCommandsAreRefused() async throws {
        let script = try write("""
            return orbiter.agent { name = "a", model = orbiter.model { name = "m", respond = function(req)
              local last = req.messages[#req.messages].content
              if last == "slow" then orbiter.sleep(30) end
              return "heard " .. last .. " (" .. #req.messages .. " messages)"
            end } }
            """, "chat.lua", in: folder())
        let chat = try OrbiterBinary.startInteractive(["chat", script])
        defer { chat.running.process.terminate() }
        chat.send("hi")
        try await chat.running.waitFor { out, _ in out.contains("heard hi (1 messages)\n") }
        chat.send("slow")
        try await Task.sleep(for: .milliseconds(500))
        chat.running.signal(SIGINT)
        try await chat.running.waitFor(timeout: .seconds(5)) { _, err in err.contains("(reply cancelled") }
        #expect(chat.running.process.isRunning, "Ctrl-C during a reply must not end the chat")

        chat.send("/nope")
        try await chat.running.waitFor { _, err in err.contains("unknown command /nope; commands: /reset, /events, /quit") }
        chat.send("//x")
        // The cancelled turn left nothing: this is the third message (hi, its answer, //x as /x).
        try await chat.running.waitFor { out, _ in out.contains("heard /x (3 messages)\n") }
        #expect(!chat.running.stdout.contains("heard /nope"), "\(chat.running.stdout)")

        // Ctrl-C at the prompt leaves, with the status of an interrupt.
        chat.running.signal(SIGINT)
        let end = try await chat.running.finish(timeout: .seconds(5))
        #expect(end.status == 130, "\(end.stderr)")
    }

    // MARK: Swarm output

    /// A swarm whose two parallel members stream their lines at interleaved times from the fake
    /// provider, then `c` (a Lua model) summarises.
    func interleavingSwarm(_ server: FakeModelServer) throws -> String {
        for tag in ["P", "Q"] {
            let offset: Duration = tag == "P" ? .zero : .milliseconds(60)
            server.enqueue(.openAIStream((0..<4).map { i in
                OpenAIChunk.text("\(tag)\(i) line").after(i == 0 ? offset : .milliseconds(120))
            }.flatMap { [$0, OpenAIChunk.text("\n")] } + [OpenAIChunk.finish("stop")]))
        }
        return try write("""
            local a = orbiter.agent { name = "a", model = "openai:gpt-4o" }
            local b = orbiter.agent { name = "b", model = "openai:gpt-4o" }
            return orbiter.swarm { name = "pair", agents = { a, b }, flow = "((a | b))" }
            """, "pair.lua", in: folder())
    }

    @Test("parallel members stream whole prefixed lines, and stdout is the output")
    func parallelMembersStreamWholePrefixedLinesAndStdoutIsTheOutput() async throws {
        let server = try await FakeModelServer.start()
        defer { Task { try? await server.stop() } }
        let script = try interleavingSwarm(server)
        let env = ["OPENAI_BASE_URL": server.baseURL + "/v1", "OPENAI_API_KEY": "sk-test"]
        let r = try await OrbiterBinary.run(["run", script, "go"], environment: env)
        #expect(r.status == 0, "\(r.stderr)")
        // stdout: the swarm's output, the members' outputs in member order, nothing interleaved.
        let outputs = r.stdout.components(separatedBy: "\n\n")
        #expect(outputs.count == 2, "\(r.stdout)")
        for output in outputs {
            let lines = output.split(separator: "\n").map(String.init)
            #expect(lines.count == 4, "\(r.stdout)")
            let tag = lines[0].prefix(1)
            #expect(lines == (0..<4).map { "\(tag)\($0) line" }, "\(r.stdout)")
        }
        // stderr: every member line whole, with its member's name, in the member's own order.
        let memberLines = r.stderr.split(separator: "\n").filter { $0.hasPrefix("[a] ") || $0.hasPrefix("[b] ") }
        #expect(memberLines.count == 8, "\(r.stderr)")
        for name in ["a", "b"] {
            let mine = memberLines.filter { $0.hasPrefix("[\(name)] ") }.map { String($0.dropFirst(4)) }
            #expect(mine.count == 4, "\(r.stderr)")
            let tag = mine[0].prefix(1)
            #expect(mine == (0..<4).map { "\(tag)\($0) line" }, "\(r.stderr)")
        }
        // The two members really did stream at the same time (their lines alternate).
        let order = memberLines.map { $0.prefix(3) }
        #expect(order != order.sorted(), "lines should interleave between members: \(memberLines)")
    }

    @Test("JSON ends with one terminal status with or without detailed")
    func jsonEndsWithOneTerminalStatusWithOrWithoutDetailed() async throws {
        let plain = try await OrbiterBinary.run(["run", "--json", "examples/calculator.lua", "2 + 3"])
        let lines = plain.stdout.split(separator: "\n")
        let types = try lines.map { try JSONValue.parse(String($0))["type"]?.stringValue ?? "" }
        #expect(types == ["tool_call", "text", "text", "text", "status"], "\(plain.stdout)")
        #expect(try JSONValue.parse(String(lines.last!))["status"]?.stringValue == "completed")

        let failing = try write("""
            return orbiter.agent { name = "a", model = orbiter.model { name = "m", respond = function() error("model exploded") end } }
            """, "failing.lua", in: folder())
        let failed = try await OrbiterBinary.run(["run", "--json", failing, "hi"])
        #expect(failed.status == 1)
        let failedLines = failed.stdout.split(separator: "\n").map { try? JSONValue.parse(String($0)) }
        #expect(failedLines.map { $0?["type"]?.stringValue } == ["error", "status"], "\(failed.stdout)")
        #expect(failedLines.last??["status"]?.stringValue == "error")
    }

    @Test("run and submit print the same output for a swarm")
    func runAndSubmitPrintTheSameOutputForASwarm() async throws {
        let script = try write("""
            local function m(tag) return orbiter.model { name = "m" .. tag, respond = function(req)
              return tag .. " read: " .. req.messages[#req.messages].content
            end } end
            local a = orbiter.agent { name = "a", model = m("A") }
            local b = orbiter.agent { name = "b", model = m("B") }
            local c = orbiter.agent { name = "c", model = m("C") }
            return orbiter.swarm { name = "chain", agents = { a, b, c }, flow = "a | b >> c" }
            """, "chain.lua", in: folder())
        let (env, queue) = try testQueue("first-hour")
        let worker = try OrbiterBinary.start(["start", "worker", "--queue", queue], environment: env)
        defer { worker.process.terminate() }
        try await worker.waitFor { _, err in err.contains("started") }

        let local = try await OrbiterBinary.run(["run", script, "go"])
        #expect(local.status == 0, "\(local.stderr)")
        #expect(local.stdout == "C read: A read: go\n\nB read: go\n")
        #expect(local.stderr.contains("[a] A read: go\n") && local.stderr.contains("[c] C read: A read: go\n"), "\(local.stderr)")
        let waited = try await OrbiterBinary.run(["submit", "--wait", "--queue", queue, script, "go"], environment: env)
        #expect(waited.status == 0, "\(waited.stderr)")
        #expect(waited.stdout == local.stdout)
        let streamed = try await OrbiterBinary.run(["submit", "--stream", "--queue", queue, script, "go"], environment: env)
        #expect(streamed.status == 0, "\(streamed.stderr)")
        #expect(streamed.stdout == local.stdout)
        #expect(streamed.stderr.contains("[b] B read: go\n"), "\(streamed.stderr)")

        // --json: the same event types locally and from a worker, ending with the terminal status.
        let localJSON = try await OrbiterBinary.run(["run", "--json", script, "go"])
        let remoteJSON = try await OrbiterBinary.run(["submit", "--stream", "--json", "--queue", queue, script, "go"], environment: env)
        func types(_ out: String) throws -> [String] {
            try out.split(separator: "\n").map { try JSONValue.parse(String($0))["type"]?.stringValue ?? "" }
        }
        #expect(try types(localJSON.stdout) == (try types(remoteJSON.stdout)), "\(remoteJSON.stdout)")
        #expect(try types(localJSON.stdout).last == "status")
    }
}
