import Foundation
import OrbiterTestSupport
import Testing

/// `orbiter chat` and `orbiter run --watch`: edits to a script apply without restarting.
@Suite("Developer loop", .serialized)
struct DeveloperLoopTests {
    /// An agent whose Lua model says `version`, the user's last message and how many messages the
    /// conversation has.
    func echo(_ version: String) -> String {
        """
        local orbiter = require "orbiter"
        local m = orbiter.model { name = "m", respond = function(req)
          local last = req.messages[#req.messages]
          return "\(version) heard " .. last.content .. " (" .. #req.messages .. " messages)"
        end }
        return orbiter.agent { name = "echo", model = m }
        """
    }

    @Test("chat keeps the conversation and reloads the script between turns")
    func chatKeepsTheConversationAndReloadsTheScriptBetweenTurns() async throws {
        let script = try temporaryScript(echo("v1"), prefix: "orbiter-loop")
        let chat = try OrbiterBinary.startInteractive(["chat", script])
        defer { chat.running.process.terminate() }
        chat.send("hello")
        try await chat.running.waitFor { out, _ in out.contains("v1 heard hello (1 messages)\n") }

        try echo("v2").write(toFile: script, atomically: true, encoding: .utf8)
        chat.send("again")
        try await chat.running.waitFor { out, _ in out.contains("v2 heard again (3 messages)\n") }
        #expect(chat.running.stderr.contains("(reloaded main.lua)"), "\(chat.running.stderr)")

        // A broken edit: the error with its line, and the previous version answers.
        try "local orbiter = require 'orbiter'\nreturn orbiter.agent { name = 'echo', model = 42 }\n"
            .write(toFile: script, atomically: true, encoding: .utf8)
        chat.send("still there?")
        try await chat.running.waitFor { out, _ in out.contains("v2 heard still there? (5 messages)\n") }
        #expect(chat.running.stderr.contains("main.lua:2: "), "\(chat.running.stderr)")
        #expect(chat.running.stderr.contains("keeping the previous version"), "\(chat.running.stderr)")

        chat.send("/reset")
        chat.send("fresh")
        try await chat.running.waitFor { out, _ in out.contains("v2 heard fresh (1 messages)\n") }
        chat.closeInput()
        let end = try await chat.running.finish(timeout: .seconds(10))
        #expect(end.status == 0, "\(end.stderr)")
        #expect(end.stdout.hasPrefix("you> "), "\(end.stdout)")
    }

    @Test("chat quits on /quit and shows events when asked")
    func chatQuitsOnQuitAndShowsEventsWhenAsked() async throws {
        let script = try temporaryScript(echo("v1"), prefix: "orbiter-loop")
        let r = try await OrbiterBinary.run(["chat", script], stdin: "/events\nhi\n/quit\nnever\n")
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("v1 heard hi (1 messages)"), "\(r.stdout)")
        #expect(!r.stdout.contains("never"), "\(r.stdout)")
        #expect(r.stderr.contains("step 1 started"), "\(r.stderr)")
    }

    @Test("run --watch runs again after an edit")
    func runWatchRunsAgainAfterAnEdit() async throws {
        let script = try temporaryScript(echo("v1"), prefix: "orbiter-loop")
        let watch = try OrbiterBinary.start(["run", "--watch", script, "ping"])
        defer { watch.process.terminate() }
        try await watch.waitFor { out, err in out.contains("v1 heard ping") && err.contains("watching main.lua") }
        try echo("v2").write(toFile: script, atomically: true, encoding: .utf8)
        try await watch.waitFor(timeout: .seconds(5)) { out, _ in out.contains("v2 heard ping") }
        #expect(watch.stderr.contains("change detected"), "\(watch.stderr)")
        watch.signal(SIGINT)
        _ = try await watch.finish(timeout: .seconds(5))
    }

    @Test("run offers the tools of a tools folder")
    func runOffersTheToolsOfAToolsFolder() async throws {
        let script = try temporaryScript(echo("v1"), prefix: "orbiter-loop")
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
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == "QUIET\n")
        #expect(r.stderr.contains("loaded \(dir)/shout.lua (v1): shout"), "\(r.stderr)")
        let without = try await OrbiterBinary.run(["run", script, "quiet"])
        #expect(without.status == 2)
        #expect(without.stderr.contains("tool 'shout' is not offered"), "\(without.stderr)")
    }
}
