import Foundation
import OrbiterTestSupport
import XCTest

/// `orbiter chat` and `orbiter run --watch`: edits to a script apply without restarting.
final class DeveloperLoopTests: XCTestCase {
    /// A folder with `main.lua`: an agent whose Lua model says `version`, the user's last message
    /// and how many messages the conversation has.
    func writeEcho(_ version: String, to path: String? = nil) throws -> String {
        let file = path ?? FileManager.default.temporaryDirectory
            .appendingPathComponent("orbiter-loop-\(UUID().uuidString)").appendingPathComponent("main.lua").path
        try FileManager.default.createDirectory(atPath: (file as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try """
            local orbiter = require "orbiter"
            local m = orbiter.model { name = "m", respond = function(req)
              local last = req.messages[#req.messages]
              return "\(version) heard " .. last.content .. " (" .. #req.messages .. " messages)"
            end }
            return orbiter.agent { name = "echo", model = m }
            """.write(toFile: file, atomically: true, encoding: .utf8)
        return file
    }

    func testChatKeepsTheConversationAndReloadsTheScriptBetweenTurns() async throws {
        let script = try writeEcho("v1")
        let chat = try OrbiterBinary.startInteractive(["chat", script])
        defer { chat.running.process.terminate() }
        chat.send("hello")
        try await chat.running.waitFor { out, _ in out.contains("v1 heard hello (1 messages)\n") }

        _ = try writeEcho("v2", to: script)
        chat.send("again")
        try await chat.running.waitFor { out, _ in out.contains("v2 heard again (3 messages)\n") }
        XCTAssertTrue(chat.running.stderr.contains("(reloaded main.lua)"), chat.running.stderr)

        // A broken edit: the error with its line, and the previous version answers.
        try "local orbiter = require 'orbiter'\nreturn orbiter.agent { name = 'echo', model = 42 }\n"
            .write(toFile: script, atomically: true, encoding: .utf8)
        chat.send("still there?")
        try await chat.running.waitFor { out, _ in out.contains("v2 heard still there? (5 messages)\n") }
        XCTAssertTrue(chat.running.stderr.contains("main.lua:2: "), chat.running.stderr)
        XCTAssertTrue(chat.running.stderr.contains("keeping the previous version"), chat.running.stderr)

        chat.send("/reset")
        chat.send("fresh")
        try await chat.running.waitFor { out, _ in out.contains("v2 heard fresh (1 messages)\n") }
        chat.closeInput()
        let end = try await chat.running.finish(timeout: .seconds(10))
        XCTAssertEqual(end.status, 0, end.stderr)
        XCTAssertTrue(end.stdout.hasPrefix("you> "), end.stdout)
    }

    func testChatQuitsOnQuitAndShowsEventsWhenAsked() async throws {
        let script = try writeEcho("v1")
        let r = try await OrbiterBinary.run(["chat", script], stdin: "/events\nhi\n/quit\nnever\n")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("v1 heard hi (1 messages)"), r.stdout)
        XCTAssertFalse(r.stdout.contains("never"), r.stdout)
        XCTAssertTrue(r.stderr.contains("step 1 started"), r.stderr)
    }

    func testRunWatchRunsAgainAfterAnEdit() async throws {
        let script = try writeEcho("v1")
        let watch = try OrbiterBinary.start(["run", "--watch", script, "ping"])
        defer { watch.process.terminate() }
        try await watch.waitFor { out, err in out.contains("v1 heard ping") && err.contains("watching main.lua") }
        _ = try writeEcho("v2", to: script)
        try await watch.waitFor(timeout: .seconds(5)) { out, _ in out.contains("v2 heard ping") }
        XCTAssertTrue(watch.stderr.contains("change detected"), watch.stderr)
        watch.signal(SIGINT)
        _ = try await watch.finish(timeout: .seconds(5))
    }

    func testRunOffersTheToolsOfAToolsFolder() async throws {
        let script = try writeEcho("v1")
        let dir = (script as NSString).deletingLastPathComponent + "/tools"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try """
            local orbiter = require "orbiter"
            orbiter.tool { name = "shout", parameters = { text = "string" }, run = function(a) return a.text:upper() end }
            """.write(toFile: dir + "/shout.lua", atomically: true, encoding: .utf8)
        try """
            local orbiter = require "orbiter"
            local m = orbiter.model { name = "m", respond = function(req)
              local last = req.messages[#req.messages]
              if last.role == "tool" then return last.content end
              return { tool_calls = { { name = "shout", arguments = { text = last.content } } } }
            end }
            return orbiter.agent { name = "a", model = m, tools = { orbiter.use_tool "shout" } }
            """.write(toFile: script, atomically: true, encoding: .utf8)
        let r = try await OrbiterBinary.run(["run", "--tools", dir, script, "quiet"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "QUIET\n")
        XCTAssertTrue(r.stderr.contains("loaded \(dir)/shout.lua (v1): shout"), r.stderr)
        let without = try await OrbiterBinary.run(["run", script, "quiet"])
        XCTAssertEqual(without.status, 2)
        XCTAssertTrue(without.stderr.contains("tool 'shout' is not offered"), without.stderr)
    }
}
