import Foundation
import OrbiterCore
@testable import OrbiterClient
@testable import OrbiterQueue
@testable import OrbiterWorker
import OrbiterLua
import OrbiterTestSupport
import XCTest

/// The developer loop on workers: a hot-reloaded tool folder, and edited scripts shipped again.
final class HotReloadTests: DistributedTestCase {
    var watchers: [Task<Void, Never>] = []

    override func tearDown() async throws {
        for w in watchers { w.cancel(); await w.value }
        watchers = []
        try await super.tearDown()
    }

    /// A worker offering the tools of `folder`, watched as `orbiter start worker --tools` does.
    func startWorker(tools folder: ToolFolder) throws {
        var configuration = WorkerConfiguration(redisURL: redisURL, queue: queue, concurrency: 2,
                                                workerID: "w-\(UUID().uuidString.prefix(6))", heartbeatTTL: 3,
                                                drainTimeout: .seconds(5))
        configuration.toolRegistry = folder.registry
        let worker = try Worker(configuration: configuration)
        workers.append((worker, Task { try await worker.run() }))
        watchers.append(Task { await folder.watch() })
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
        let path = try script("""
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

    func output(_ agent: Runnable, _ input: String) async throws -> String? {
        let handle = try await distributed(agent, input, redisURL: redisURL, queue: queue)
        return try await handle.result(timeout: .seconds(15))["output"]?.stringValue
    }

    func testEditedToolFileIsUsedByTheNextTaskAndABrokenEditKeepsTheOldOne() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("orbiter-wtools-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let file = dir + "/lookup.lua"
        try toolSource("v1").write(toFile: file, atomically: true, encoding: .utf8)
        let folder = try ToolFolder(directory: dir)
        await folder.scan()
        try startWorker(tools: folder)
        let agent = try agentUsingLookup()
        let first = try await output(agent, "x")
        XCTAssertEqual(first, "got v1:x")

        try toolSource("v2").write(toFile: file, atomically: true, encoding: .utf8)
        try await eventually("the edit to be loaded", timeout: .seconds(2)) {
            try await self.output(agent, "y") == "got v2:y"
        }

        try "local orbiter = require 'orbiter'\norbiter.tool { name = 'lookup', run = nil }\n"
            .write(toFile: file, atomically: true, encoding: .utf8)
        try await Task.sleep(for: .milliseconds(600))
        let afterBrokenEdit = try await output(agent, "z")
        XCTAssertEqual(afterBrokenEdit, "got v2:z")

        try FileManager.default.removeItem(atPath: file)
        try await eventually("the removal to be noticed", timeout: .seconds(2)) { folder.registry.snapshot().isEmpty }
        do {
            _ = try await output(agent, "w")
            XCTFail("the task should fail: its tool is gone")
        } catch {
            XCTAssertTrue("\(error)".contains("tool 'lookup' is not offered"), "\(error)")
        }
    }

    func testAnEditedResubmittedScriptRunsTheNewCodeWithoutARestart() async throws {
        try startWorker()
        let source = """
            local orbiter = require "orbiter"
            local m = orbiter.model { name = "m", respond = function() return "VERSION" end }
            return orbiter.agent { name = "a", model = m }
            """
        let path = try script(source.replacingOccurrences(of: "VERSION", with: "first version"))
        let first = try await output(try load(path).1, "hi")
        XCTAssertEqual(first, "first version")
        try source.replacingOccurrences(of: "VERSION", with: "second version").write(toFile: path, atomically: true, encoding: .utf8)
        let second = try await output(try load(path).1, "hi")
        XCTAssertEqual(second, "second version")
    }
}
