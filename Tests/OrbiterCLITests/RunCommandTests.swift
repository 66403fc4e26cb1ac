import Foundation
import OrbiterTestSupport
import XCTest

/// `orbiter run` and `orbiter check`, driven as a process.
final class RunCommandTests: XCTestCase {
    func script(_ source: String) throws -> String {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("orbiter-cli-\(UUID().uuidString).lua")
        try source.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    func testPlainRunStreamsTextToStdoutAndToolsToStderr() async throws {
        let r = try await OrbiterBinary.run(["run", "examples/calculator.lua", "What is 2 + 40?"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "The answer is 42.\n")
        XCTAssertTrue(r.stderr.contains("calling add"), r.stderr)
        XCTAssertFalse(r.stdout.contains("calling"))
    }

    func testVersion() async throws {
        let r = try await OrbiterBinary.run(["--version"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.hasPrefix("orbiter 0."), r.stdout)
    }

    func testInputFromStdin() async throws {
        let r = try await OrbiterBinary.run(["run", "examples/calculator.lua", "-"], stdin: "1 + 2")
        XCTAssertEqual(r.stdout, "The answer is 3.\n")
        let r2 = try await OrbiterBinary.run(["run", "examples/calculator.lua"], stdin: "5 + 5")
        XCTAssertEqual(r2.stdout, "The answer is 10.\n")
    }

    func testJSONLinesParseAndDetailedAddsEveryType() async throws {
        let basic = try await OrbiterBinary.run(["run", "--json", "examples/calculator.lua", "2 + 3"])
        XCTAssertEqual(basic.status, 0, basic.stderr)
        let basicTypes = try basic.stdout.split(separator: "\n").map { line -> String in
            let obj = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            return obj["type"] as! String
        }
        XCTAssertEqual(basicTypes, ["tool_call", "text", "text", "text", "status"])
        let detailed = try await OrbiterBinary.run(["run", "--json", "--detailed", "examples/calculator.lua", "2 + 3"])
        let types = try detailed.stdout.split(separator: "\n").map { line -> String in
            let obj = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            return obj["type"] as! String
        }
        XCTAssertEqual(types.first, "status")
        XCTAssertEqual(types.last, "status")
        XCTAssertEqual(Set(types), ["status", "step", "usage", "tool_call", "tool_result", "text"])
        XCTAssertTrue(detailed.stdout.split(separator: "\n").last!.contains(#""status":"completed""#))
    }

    func testExitStatuses() async throws {
        let syntax = try await OrbiterBinary.run(["run", try script("local x = \n"), "hi"])
        XCTAssertEqual(syntax.status, 2)
        XCTAssertTrue(syntax.stderr.contains(".lua:2:") && syntax.stderr.contains("unexpected symbol"), syntax.stderr)

        let failing = try await OrbiterBinary.run(["run", try script("""
            local orbiter = require "orbiter"
            local m = orbiter.model { name = "m", respond = function() error("model exploded") end }
            return orbiter.agent { name = "a", model = m }
            """), "hi"])
        XCTAssertEqual(failing.status, 1)
        XCTAssertTrue(failing.stderr.contains("model exploded"), failing.stderr)
        XCTAssertEqual(failing.stdout, "")

        let looping = try await OrbiterBinary.run(["run", "--max-steps", "2", "examples/calculator.lua", "1 + 1"])
        XCTAssertEqual(looping.status, 0, "two steps are enough for the calculator")
        let tooFew = try await OrbiterBinary.run(["run", "--max-steps", "1", "examples/calculator.lua", "1 + 1"])
        XCTAssertEqual(tooFew.status, 1)
        XCTAssertTrue(tooFew.stderr.contains("MaxStepsExceeded"), tooFew.stderr)

        let usage = try await OrbiterBinary.run(["run"])
        XCTAssertEqual(usage.status, 2)
        XCTAssertTrue(usage.stderr.contains("Missing expected argument"), usage.stderr)
        let missing = try await OrbiterBinary.run(["run", "/nonexistent/x.lua", "hi"])
        XCTAssertEqual(missing.status, 2)
        XCTAssertTrue(missing.stderr.contains("/nonexistent/x.lua: no such file"), missing.stderr)
        let help = try await OrbiterBinary.run(["run", "--help"])
        XCTAssertEqual(help.status, 0)
        XCTAssertTrue(help.stdout.contains("--detailed"))
    }

    func testCheckPrintsToDictOrPathLine() async throws {
        let ok = try await OrbiterBinary.run(["check", "examples/calculator.lua"])
        XCTAssertEqual(ok.status, 0, ok.stderr)
        let json = try JSONSerialization.jsonObject(with: Data(ok.stdout.utf8)) as! [String: Any]
        XCTAssertEqual(json["name"] as? String, "calculator")
        XCTAssertEqual(json["model"] as? String, "lua:scripted")
        XCTAssertEqual((json["tools"] as? [[String: Any]])?.first?["name"] as? String, "add")
        let bad = try await OrbiterBinary.run(["check", try script("local o = require 'orbiter'\nreturn o.agent { name = 'a', model = 'nope:x' }")])
        XCTAssertEqual(bad.status, 2)
        XCTAssertTrue(bad.stderr.contains(".lua:2:") && bad.stderr.contains("unknown model provider 'nope'"), bad.stderr)
    }
    func testARespondThatReturnsNothingFailsTheRun() async throws {
        let path = try script("""
            local orbiter = require "orbiter"
            local m = orbiter.model { name = "m", respond = function() end }
            return orbiter.agent { name = "a", model = m }
            """)
        let r = try await OrbiterBinary.run(["run", path, "x"])
        XCTAssertEqual(r.status, 1, r.stdout)
        XCTAssertTrue(r.stderr.contains("model 'm': respond returned nothing"), r.stderr)
    }


    func testPipedInputLosesItsFinalLineBreakAndDashInputsFollowDoubleDash() async throws {
        let path = try script("""
            local orbiter = require "orbiter"
            local m = orbiter.model { name = "m", respond = function(req)
              return ("%q"):format(req.messages[#req.messages].content)
            end }
            return orbiter.agent { name = "echo", model = m }
            """)
        let piped = try await OrbiterBinary.run(["run", path], stdin: "piped input\n")
        XCTAssertEqual(piped.stdout, "\"piped input\"\n", piped.stderr)
        let crlf = try await OrbiterBinary.run(["run", path], stdin: "two\nlines\r\n")
        XCTAssertEqual(crlf.stdout, "\"two\\\nlines\"\n", crlf.stderr)
        let dash = try await OrbiterBinary.run(["run", path, "--", "-3 + 5"])
        XCTAssertEqual(dash.stdout, "\"-3 + 5\"\n", dash.stderr)
    }
}

/// The swarm examples run offline, one per mode.
final class SwarmExampleTests: XCTestCase {
    func testEachSwarmExampleRunsToTheEnd() async throws {
        let workflow = try await OrbiterBinary.run(["run", "examples/swarm_workflow.lua", "tide pools"])
        XCTAssertEqual(workflow.status, 0, workflow.stderr)
        XCTAssertTrue(workflow.stdout.hasSuffix("An article built from:\nBiology notes on: tide pools\n\nHistory notes on: tide pools\n"), workflow.stdout)
        let handoff = try await OrbiterBinary.run(["run", "--json", "--detailed", "examples/swarm_handoff.lua", "I was charged twice"])
        XCTAssertEqual(handoff.status, 0, handoff.stderr)
        XCTAssertTrue(handoff.stdout.contains(#""text":"Billing here. About \"I was charged twice\": a refund is on its way.","agent_name":"billing""#), handoff.stdout)
        XCTAssertEqual(handoff.stdout.components(separatedBy: #""type":"status","status":"completed""#).count - 1, 1, "one terminal status")
        let team = try await OrbiterBinary.run(["run", "--json", "--detailed", "examples/swarm_team.lua", "a greeter"])
        XCTAssertEqual(team.status, 0, team.stderr)
        XCTAssertTrue(team.stdout.contains(#""agent_name":"coder""#))
        XCTAssertTrue(team.stdout.contains(#"Done. [code: Write a greeter] [review: looks good]"#), team.stdout)
    }

}
