import Foundation
import OrbiterCore
@testable import OrbiterLua
import OrbiterTestSupport
import Testing

/// A worker's `--tools` folder: loading, hot reload, bad edits and removal, on real files.
/// Serialized: the watcher must see an edit within a second.
@Suite("Tool folders", .serialized)
struct ToolFolderTests {
    func makeFolder(_ files: [String: String]) throws -> String {
        try temporaryFolder("orbiter-tools", files: files).path
    }

    func write(_ source: String, to path: String) throws {
        try source.write(toFile: path, atomically: true, encoding: .utf8)
    }

    func searchTool(_ reply: String) -> String {
        """
        local orbiter = require "orbiter"
        orbiter.tool { name = "search", description = "Search", parameters = { q = "string" },
          run = function(args) return "\(reply) " .. args.q end }
        """
    }

    func call(_ registry: HostToolRegistry, _ name: String, _ args: JSONValue) async throws -> JSONValue {
        guard let tool = registry.snapshot()[name] else { throw LuaError(message: "tool '\(name)' not offered") }
        return try await tool.body(args)
    }

    @Test("loads every file and offers its tools")
    func loadsEveryFileAndOffersItsTools() async throws {
        let dir = try makeFolder(["search.lua": searchTool("v1"), "math.lua": """
            local orbiter = require "orbiter"
            orbiter.tool { name = "add", parameters = { a = "integer", b = "integer" }, run = function(a) return a.a + a.b end }
            orbiter.tool { name = "mul", parameters = { a = "integer", b = "integer" }, run = function(a) return a.a * a.b end }
            """])
        let lines = LogLines()
        let folder = try ToolFolder(directory: dir, log: lines.append)
        await folder.scan()
        #expect(Set(folder.registry.snapshot().keys) == ["search", "add", "mul"])
        let searchResult = try await call(folder.registry, "search", ["q": "lua"])
        #expect(searchResult == "v1 lua")
        let addResult = try await call(folder.registry, "add", ["a": 2, "b": 40])
        #expect(addResult == 42)
        let search = try #require(folder.registry.snapshot()["search"])
        #expect(search.source == ["registry": "search"])
        #expect(search.spec.description == "Search")
        #expect(search.spec.parameters["required"] == ["q"])
        #expect(lines.all.contains("loaded \(dir)/search.lua (v1): search"), "\(lines.all)")
    }

    /// The time limit ends the polling loop should the edit never be picked up.
    @Test("an edit is picked up by the watcher within a second", .timeLimit(.minutes(1)))
    func anEditIsPickedUpByTheWatcherWithinASecond() async throws {
        let dir = try makeFolder(["search.lua": searchTool("v1")])
        let lines = LogLines()
        let folder = try ToolFolder(directory: dir, log: lines.append)
        await folder.scan()
        let watcher = Task { await folder.watch() }
        defer { watcher.cancel() }
        let before = try #require(folder.registry.snapshot()["search"])
        try write(searchTool("v2"), to: dir + "/search.lua")
        let start = ContinuousClock.now
        while try await call(folder.registry, "search", ["q": "x"]) != "v2 x" {
            #expect(ContinuousClock.now - start < .seconds(1), "not reloaded within a second")
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(lines.all.contains("reloaded \(dir)/search.lua (v2): search"), "\(lines.all)")
        // A snapshot taken before the edit keeps calling the version it was taken with.
        let old = try await before.body(["q": "x"])
        #expect(old == "v1 x")
    }

    @Test("a broken edit keeps the previous version and logs path:line")
    func aBrokenEditKeepsThePreviousVersionAndLogsPathLine() async throws {
        let dir = try makeFolder(["search.lua": searchTool("v1")])
        let lines = LogLines()
        let folder = try ToolFolder(directory: dir, log: lines.append)
        await folder.scan()
        try write("local orbiter = require \"orbiter\"\norbiter.tool { name = \"search\", run = 42 }\n", to: dir + "/search.lua")
        let scanned1 = await folder.scan()
        #expect(!scanned1)
        let result = try await call(folder.registry, "search", ["q": "x"])
        #expect(result == "v1 x")
        let error = try #require(lines.all.last)
        // Lua shortens long chunk names from the left ("...er-tools-…/search.lua"); the end stays.
        #expect(error.contains("search.lua:2: orbiter.tool 'search'"), "\(error)")
        #expect(error.contains("field 'run' must be a function") && error.hasSuffix("(keeping v1)"), "\(error)")
        // Logged once per edit, not on every scan.
        await folder.scan()
        #expect(lines.all.filter { $0.contains("keeping v1") }.count == 1)
        // A syntax error too.
        try write("local x = \n", to: dir + "/search.lua")
        await folder.scan()
        #expect(lines.all.last?.contains("search.lua:2: unexpected symbol") ?? false, "\(lines.all)")
        // Fixing it gives v2.
        try write(searchTool("fixed"), to: dir + "/search.lua")
        let scanned2 = await folder.scan()
        #expect(scanned2)
        #expect(lines.all.last == "reloaded \(dir)/search.lua (v2): search")
        let fixed = try await call(folder.registry, "search", ["q": "x"])
        #expect(fixed == "fixed x")
    }

    @Test("removing and adding files")
    func removingAndAddingFiles() async throws {
        let dir = try makeFolder(["search.lua": searchTool("v1")])
        let lines = LogLines()
        let folder = try ToolFolder(directory: dir, log: lines.append)
        await folder.scan()
        try FileManager.default.removeItem(atPath: dir + "/search.lua")
        let scanned3 = await folder.scan()
        #expect(scanned3)
        #expect(folder.registry.snapshot()["search"] == nil)
        #expect(lines.all.last == "removed \(dir)/search.lua: no longer offering search")
        try write(searchTool("back"), to: dir + "/again.lua")
        let scanned4 = await folder.scan()
        #expect(scanned4)
        let result = try await call(folder.registry, "search", ["q": "x"])
        #expect(result == "back x")
    }

    @Test("a changed module reloads the file that requires it")
    func aChangedModuleReloadsTheFileThatRequiresIt() async throws {
        let dir = try makeFolder(["search.lua": """
            local orbiter = require "orbiter"
            local lib = require "lib.words"
            orbiter.tool { name = "search", run = function(args) return lib.word end }
            """])
        try FileManager.default.createDirectory(atPath: dir + "/lib", withIntermediateDirectories: true)
        try write("return { word = 'one' }", to: dir + "/lib/words.lua")
        let folder = try ToolFolder(directory: dir)
        await folder.scan()
        let first = try await call(folder.registry, "search", [:])
        #expect(first == "one")
        try write("return { word = 'two' }", to: dir + "/lib/words.lua")
        let scanned5 = await folder.scan()
        #expect(scanned5)
        let second = try await call(folder.registry, "search", [:])
        #expect(second == "two")
    }

    @Test("a tool library is not a root, and a script may name host tools")
    func aToolLibraryIsNotARootAndAScriptMayNameHostTools() throws {
        let path = try writeScripts(["main.lua": """
            local orbiter = require "orbiter"
            local m = orbiter.model { name = "m", respond = function() return "ok" end }
            return orbiter.agent { name = "a", model = m, tools = { orbiter.use_tool "search" } }
            """])
        let runtime = try LuaRuntime(file: path)
        // Shipping: the host tool stays a placeholder naming itself.
        guard case .agent(let shipped) = try runtime.root() else { Issue.record("not an agent"); return }
        #expect(shipped.tools.first?.source == ["registry": "search"])
        // Running here without the tool: a clear error naming it.
        let unoffered = #expect(throws: (any Error).self) { try runtime.root(hostTools: [:]) }
        if let unoffered { #expect("\(unoffered)".contains("tool 'search' is not offered by this host"), "\(unoffered)") }
        let missing = #expect(throws: (any Error).self) { try ToolFolder(directory: path + "-missing") }
        if let missing { #expect("\(missing)".contains("no such folder"), "\(missing)") }
    }
}
