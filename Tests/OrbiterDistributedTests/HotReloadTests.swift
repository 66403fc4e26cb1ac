import Foundation
import OrbiterCore
@testable import OrbiterClient
@testable import OrbiterQueue
@testable import OrbiterWorker
import OrbiterLua
import OrbiterTestSupport
import Testing

/// The developer loop on workers: a hot-reloaded tool folder, and edited scripts shipped again.
@Suite("Hot reload", .serialized)
struct HotReloadTests {
    /// A worker offering the tools of `folder`, watched as `orbiter start worker --tools` does.
    func startWorker(_ fixture: DistributedFixture, tools folder: ToolFolder) throws {
        var configuration = WorkerConfiguration(redisURL: fixture.redisURL, queue: fixture.queue, concurrency: 2,
                                                workerID: "w-\(UUID().uuidString.prefix(6))", heartbeatTTL: 3,
                                                drainTimeout: .seconds(5))
        configuration.toolRegistry = folder.registry
        try fixture.start(configuration)
        fixture.background.append(Task { await folder.watch() })
    }

    func toolSource(_ version: String) -> String {
        """
        local orbiter = require "orbiter"
        orbiter.tool { name = "lookup", parameters = { q = "string" },
          run = function(args) return "\(version):" .. args.q end }
        """
    }

    /// An agent that calls the host tool `lookup` once and repeats its result.
    func agentUsingLookup() throws -> Runnable {
        let path = try temporaryScript("""
            local orbiter = require "orbiter"
            local m = orbiter.model { name = "m", respond = function(req)
              local last = req.messages[#req.messages]
              if last.role == "tool" then return "got " .. last.content end
              return { tool_calls = { { name = "lookup", arguments = { q = last.content } } } }
            end }
            return orbiter.agent { name = "a", model = m, tools = { orbiter.use_tool "lookup" } }
            """)
        return try load(path).1
    }

    func output(_ fixture: DistributedFixture, _ agent: Runnable, _ input: String) async throws -> String? {
        let handle = try await distributed(agent, input, redisURL: fixture.redisURL, queue: fixture.queue)
        return try await handle.result(timeout: .seconds(15))["output"]?.stringValue
    }

    @Test("an edited tool file is used by the next task, and a broken edit keeps the old one")
    func editedToolFileIsUsedByTheNextTaskAndABrokenEditKeepsTheOldOne() async throws {
        try await withDistributedFixture { fixture in
            let dir = try temporaryFolder("orbiter-wtools", files: ["lookup.lua": toolSource("v1")]).path
            let file = dir + "/lookup.lua"
            let folder = try ToolFolder(directory: dir)
            await folder.scan()
            try startWorker(fixture, tools: folder)
            let agent = try agentUsingLookup()
            let first = try await output(fixture, agent, "x")
            #expect(first == "got v1:x")

            try toolSource("v2").write(toFile: file, atomically: true, encoding: .utf8)
            try await eventually("the edit to be loaded", timeout: .seconds(2)) {
                try await output(fixture, agent, "y") == "got v2:y"
            }

            try "local orbiter = require 'orbiter'\norbiter.tool { name = 'lookup', run = nil }\n"
                .write(toFile: file, atomically: true, encoding: .utf8)
            try await Task.sleep(for: .milliseconds(600))
            let afterBrokenEdit = try await output(fixture, agent, "z")
            #expect(afterBrokenEdit == "got v2:z")

            try FileManager.default.removeItem(atPath: file)
            try await eventually("the removal to be noticed", timeout: .seconds(2)) { folder.registry.snapshot().isEmpty }
            do {
                _ = try await output(fixture, agent, "w")
                Issue.record("the task should fail: its tool is gone")
            } catch {
                #expect("\(error)".contains("tool 'lookup' is not offered"), "\(error)")
            }
        }
    }

    @Test("an edited resubmitted script runs the new code without a restart")
    func anEditedResubmittedScriptRunsTheNewCodeWithoutARestart() async throws {
        try await withDistributedFixture { fixture in
            try fixture.startWorker()
            let source = """
                local orbiter = require "orbiter"
                local m = orbiter.model { name = "m", respond = function() return "VERSION" end }
                return orbiter.agent { name = "a", model = m }
                """
            let path = try temporaryScript(source.replacingOccurrences(of: "VERSION", with: "first version"))
            let first = try await output(fixture, try load(path).1, "hi")
            #expect(first == "first version")
            try source.replacingOccurrences(of: "VERSION", with: "second version").write(toFile: path, atomically: true, encoding: .utf8)
            let second = try await output(fixture, try load(path).1, "hi")
            #expect(second == "second version")
        }
    }
}
