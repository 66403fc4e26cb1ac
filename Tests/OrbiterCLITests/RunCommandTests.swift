import Foundation
import OrbiterTestSupport
import Testing

/// `orbiter run` and `orbiter check`, driven as a process.
@Suite("orbiter run and check", .serialized)
struct RunCommandTests {
    @Test("plain run streams text to stdout and tools to stderr")
    func plainRunStreamsTextToStdoutAndToolsToStderr() async throws {
        let r = try await OrbiterBinary.run(["run", "examples/calculator.lua", "What is 2 + 40?"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == "The answer is 42.\n")
        #expect(r.stderr.contains("calling add"), "\(r.stderr)")
        #expect(!r.stdout.contains("calling"))
    }

    @Test("--version")
    func version() async throws {
        let r = try await OrbiterBinary.run(["--version"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.hasPrefix("orbiter 0."), "\(r.stdout)")
    }

    @Test("the input from stdin")
    func inputFromStdin() async throws {
        let r = try await OrbiterBinary.run(["run", "examples/calculator.lua", "-"], stdin: "1 + 2")
        #expect(r.stdout == "The answer is 3.\n")
        let r2 = try await OrbiterBinary.run(["run", "examples/calculator.lua"], stdin: "5 + 5")
        #expect(r2.stdout == "The answer is 10.\n")
    }

    @Test("JSON lines parse, and --detailed adds every type")
    func jsonLinesParseAndDetailedAddsEveryType() async throws {
        let basic = try await OrbiterBinary.run(["run", "--json", "examples/calculator.lua", "2 + 3"])
        #expect(basic.status == 0, "\(basic.stderr)")
        let basicTypes = try basic.stdout.split(separator: "\n").map { line -> String in
            let obj = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            return obj["type"] as! String
        }
        #expect(basicTypes == ["tool_call", "text", "text", "text", "status"])
        let detailed = try await OrbiterBinary.run(["run", "--json", "--detailed", "examples/calculator.lua", "2 + 3"])
        let types = try detailed.stdout.split(separator: "\n").map { line -> String in
            let obj = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            return obj["type"] as! String
        }
        #expect(types.first == "status")
        #expect(types.last == "status")
        #expect(Set(types) == ["status", "step", "usage", "tool_call", "tool_result", "text"])
        #expect(detailed.stdout.split(separator: "\n").last!.contains(#""status":"completed""#))
    }

    @Test("exit statuses")
    func exitStatuses() async throws {
        let syntax = try await OrbiterBinary.run(["run", try temporaryScript("local x = \n"), "hi"])
        #expect(syntax.status == 2)
        #expect(syntax.stderr.contains(".lua:2:") && syntax.stderr.contains("unexpected symbol"), "\(syntax.stderr)")

        let failing = try await OrbiterBinary.run(["run", try temporaryScript("""
            local orbiter = require "orbiter"
            local m = orbiter.model { name = "m", respond = function() error("model exploded") end }
            return orbiter.agent { name = "a", model = m }
            """), "hi"])
        #expect(failing.status == 1)
        #expect(failing.stderr.contains("model exploded"), "\(failing.stderr)")
        #expect(failing.stdout == "")

        let looping = try await OrbiterBinary.run(["run", "--max-steps", "2", "examples/calculator.lua", "1 + 1"])
        #expect(looping.status == 0, "two steps are enough for the calculator")
        let tooFew = try await OrbiterBinary.run(["run", "--max-steps", "1", "examples/calculator.lua", "1 + 1"])
        #expect(tooFew.status == 1)
        #expect(tooFew.stderr.contains("MaxStepsExceeded"), "\(tooFew.stderr)")

        let usage = try await OrbiterBinary.run(["run"])
        #expect(usage.status == 2)
        #expect(usage.stderr.contains("Missing expected argument"), "\(usage.stderr)")
        let missing = try await OrbiterBinary.run(["run", "/nonexistent/x.lua", "hi"])
        #expect(missing.status == 2)
        #expect(missing.stderr.contains("/nonexistent/x.lua: no such file"), "\(missing.stderr)")
        let help = try await OrbiterBinary.run(["run", "--help"])
        #expect(help.status == 0)
        #expect(help.stdout.contains("--detailed"))
    }

    @Test("check prints the agent's description, or the error with its line")
    func checkPrintsToDictOrPathLine() async throws {
        let ok = try await OrbiterBinary.run(["check", "examples/calculator.lua"])
        #expect(ok.status == 0, "\(ok.stderr)")
        let json = try JSONSerialization.jsonObject(with: Data(ok.stdout.utf8)) as! [String: Any]
        #expect(json["name"] as? String == "calculator")
        #expect(json["model"] as? String == "lua:scripted")
        #expect((json["tools"] as? [[String: Any]])?.first?["name"] as? String == "add")
        let bad = try await OrbiterBinary.run(["check", try temporaryScript("local o = require 'orbiter'\nreturn o.agent { name = 'a', model = 'nope:x' }")])
        #expect(bad.status == 2)
        #expect(bad.stderr.contains(".lua:2:") && bad.stderr.contains("unknown model provider 'nope'"), "\(bad.stderr)")
    }
    @Test("a respond that returns nothing fails the run")
    func aRespondThatReturnsNothingFailsTheRun() async throws {
        let path = try temporaryScript("""
            local orbiter = require "orbiter"
            local m = orbiter.model { name = "m", respond = function() end }
            return orbiter.agent { name = "a", model = m }
            """)
        let r = try await OrbiterBinary.run(["run", path, "x"])
        #expect(r.status == 1, "\(r.stdout)")
        #expect(r.stderr.contains("model 'm': respond returned nothing"), "\(r.stderr)")
    }


    @Test("piped input loses its final line break, and inputs starting with a dash follow --")
    func pipedInputLosesItsFinalLineBreakAndDashInputsFollowDoubleDash() async throws {
        let path = try temporaryScript("""
            local orbiter = require "orbiter"
            local m = orbiter.model { name = "m", respond = function(req)
              return ("%q"):format(req.messages[#req.messages].content)
            end }
            return orbiter.agent { name = "echo", model = m }
            """)
        let piped = try await OrbiterBinary.run(["run", path], stdin: "piped input\n")
        #expect(piped.stdout == "\"piped input\"\n", "\(piped.stderr)")
        let crlf = try await OrbiterBinary.run(["run", path], stdin: "two\nlines\r\n")
        #expect(crlf.stdout == "\"two\\\nlines\"\n", "\(crlf.stderr)")
        let dash = try await OrbiterBinary.run(["run", path, "--", "-3 + 5"])
        #expect(dash.stdout == "\"-3 + 5\"\n", "\(dash.stderr)")
    }
}

/// The swarm examples run offline, one per mode.
@Suite("Swarm examples", .serialized)
struct SwarmExampleTests {
    @Test("each swarm example runs to the end")
    func eachSwarmExampleRunsToTheEnd() async throws {
        let workflow = try await OrbiterBinary.run(["run", "examples/swarm_workflow.lua", "tide pools"])
        #expect(workflow.status == 0, "\(workflow.stderr)")
        #expect(workflow.stdout.hasSuffix("An article built from:\nBiology notes on: tide pools\n\nHistory notes on: tide pools\n"),
                "\(workflow.stdout)")
        let handoff = try await OrbiterBinary.run(["run", "--json", "--detailed", "examples/swarm_handoff.lua", "I was charged twice"])
        #expect(handoff.status == 0, "\(handoff.stderr)")
        #expect(handoff.stdout.contains(#""text":"Billing here. About \"I was charged twice\": a refund is on its way.","agent_name":"billing""#),
                "\(handoff.stdout)")
        #expect(handoff.stdout.components(separatedBy: #""type":"status","status":"completed""#).count - 1 == 1, "one terminal status")
        let team = try await OrbiterBinary.run(["run", "--json", "--detailed", "examples/swarm_team.lua", "a greeter"])
        #expect(team.status == 0, "\(team.stderr)")
        #expect(team.stdout.contains(#""agent_name":"coder""#))
        #expect(team.stdout.contains(#"Done. [code: Write a greeter] [review: looks good]"#), "\(team.stdout)")
    }

}
