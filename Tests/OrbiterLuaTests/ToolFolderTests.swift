import Foundation
import OrbiterCore
@testable import OrbiterLua
import Synchronization
import XCTest

/// A worker's `--tools` folder: loading, hot reload, bad edits and removal, on real files.
final class ToolFolderTests: XCTestCase {
    final class Lines: Sendable {
        private let lines = Mutex<[String]>([])
        func append(_ line: String) { lines.withLock { $0.append(line) } }
        var all: [String] { lines.withLock { $0 } }
    }

    func makeFolder(_ files: [String: String]) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("orbiter-tools-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for (name, source) in files { try write(source, to: dir + "/" + name) }
        return dir
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

    func testLoadsEveryFileAndOffersItsTools() async throws {
        let dir = try makeFolder(["search.lua": searchTool("v1"), "math.lua": """
            local orbiter = require "orbiter"
            orbiter.tool { name = "add", parameters = { a = "integer", b = "integer" }, run = function(a) return a.a + a.b end }
            orbiter.tool { name = "mul", parameters = { a = "integer", b = "integer" }, run = function(a) return a.a * a.b end }
            """])
        let lines = Lines()
        let folder = try ToolFolder(directory: dir, log: lines.append)
        await folder.scan()
        XCTAssertEqual(Set(folder.registry.snapshot().keys), ["search", "add", "mul"])
        let searchResult = try await call(folder.registry, "search", ["q": "lua"])
        XCTAssertEqual(searchResult, "v1 lua")
        let addResult = try await call(folder.registry, "add", ["a": 2, "b": 40])
        XCTAssertEqual(addResult, 42)
        let search = try XCTUnwrap(folder.registry.snapshot()["search"])
        XCTAssertEqual(search.source, ["registry": "search"])
        XCTAssertEqual(search.spec.description, "Search")
        XCTAssertEqual(search.spec.parameters["required"], ["q"])
        XCTAssertTrue(lines.all.contains("loaded \(dir)/search.lua (v1): search"), "\(lines.all)")
    }

    func testAnEditIsPickedUpByTheWatcherWithinASecond() async throws {
        let dir = try makeFolder(["search.lua": searchTool("v1")])
        let lines = Lines()
        let folder = try ToolFolder(directory: dir, log: lines.append)
        await folder.scan()
        let watcher = Task { await folder.watch() }
        defer { watcher.cancel() }
        let before = try XCTUnwrap(folder.registry.snapshot()["search"])
        try write(searchTool("v2"), to: dir + "/search.lua")
        let start = ContinuousClock.now
        while try await call(folder.registry, "search", ["q": "x"]) != "v2 x" {
            XCTAssertLessThan(ContinuousClock.now - start, .seconds(1), "not reloaded within a second")
            try await Task.sleep(for: .milliseconds(20))
        }
        XCTAssertTrue(lines.all.contains("reloaded \(dir)/search.lua (v2): search"), "\(lines.all)")
        // A snapshot taken before the edit keeps calling the version it was taken with.
        let old = try await before.body(["q": "x"])
        XCTAssertEqual(old, "v1 x")
    }

    func testABrokenEditKeepsThePreviousVersionAndLogsPathLine() async throws {
        let dir = try makeFolder(["search.lua": searchTool("v1")])
        let lines = Lines()
        let folder = try ToolFolder(directory: dir, log: lines.append)
        await folder.scan()
        try write("local orbiter = require \"orbiter\"\norbiter.tool { name = \"search\", run = 42 }\n", to: dir + "/search.lua")
        let scanned1 = await folder.scan(); XCTAssertFalse(scanned1)
        let result = try await call(folder.registry, "search", ["q": "x"])
        XCTAssertEqual(result, "v1 x")
        let error = try XCTUnwrap(lines.all.last)
        // Lua shortens long chunk names from the left ("...er-tools-…/search.lua"); the end stays.
        XCTAssertTrue(error.contains("search.lua:2: orbiter.tool 'search'"), error)
        XCTAssertTrue(error.contains("field 'run' must be a function") && error.hasSuffix("(keeping v1)"), error)
        // Logged once per edit, not on every scan.
        await folder.scan()
        XCTAssertEqual(lines.all.filter { $0.contains("keeping v1") }.count, 1)
        // A syntax error too.
        try write("local x = \n", to: dir + "/search.lua")
        await folder.scan()
        XCTAssertTrue(lines.all.last?.contains("search.lua:2: unexpected symbol") ?? false, "\(lines.all)")
        // Fixing it gives v2.
        try write(searchTool("fixed"), to: dir + "/search.lua")
        let scanned2 = await folder.scan(); XCTAssertTrue(scanned2)
        XCTAssertEqual(lines.all.last, "reloaded \(dir)/search.lua (v2): search")
        let fixed = try await call(folder.registry, "search", ["q": "x"])
        XCTAssertEqual(fixed, "fixed x")
    }

    func testRemovingAndAddingFiles() async throws {
        let dir = try makeFolder(["search.lua": searchTool("v1")])
        let lines = Lines()
        let folder = try ToolFolder(directory: dir, log: lines.append)
        await folder.scan()
        try FileManager.default.removeItem(atPath: dir + "/search.lua")
        let scanned3 = await folder.scan(); XCTAssertTrue(scanned3)
        XCTAssertNil(folder.registry.snapshot()["search"])
        XCTAssertEqual(lines.all.last, "removed \(dir)/search.lua: no longer offering search")
        try write(searchTool("back"), to: dir + "/again.lua")
        let scanned4 = await folder.scan(); XCTAssertTrue(scanned4)
        let result = try await call(folder.registry, "search", ["q": "x"])
        XCTAssertEqual(result, "back x")
    }

    func testAChangedModuleReloadsTheFileThatRequiresIt() async throws {
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
        XCTAssertEqual(first, "one")
        try write("return { word = 'two' }", to: dir + "/lib/words.lua")
        let scanned5 = await folder.scan(); XCTAssertTrue(scanned5)
        let second = try await call(folder.registry, "search", [:])
        XCTAssertEqual(second, "two")
    }

    func testAToolLibraryIsNotARootAndAScriptMayNameHostTools() throws {
        let path = try writeScripts(["main.lua": """
            local orbiter = require "orbiter"
            local m = orbiter.model { name = "m", respond = function() return "ok" end }
            return orbiter.agent { name = "a", model = m, tools = { orbiter.use_tool "search" } }
            """])
        let runtime = try LuaRuntime(file: path)
        // Shipping: the host tool stays a placeholder naming itself.
        guard case .agent(let shipped) = try runtime.root() else { return XCTFail("not an agent") }
        XCTAssertEqual(shipped.tools.first?.source, ["registry": "search"])
        // Running here without the tool: a clear error naming it.
        XCTAssertThrowsError(try runtime.root(hostTools: [:])) { error in
            XCTAssertTrue("\(error)".contains("tool 'search' is not offered by this host"), "\(error)")
        }
        XCTAssertThrowsError(try ToolFolder(directory: path + "-missing")) { error in
            XCTAssertTrue("\(error)".contains("no such folder"), "\(error)")
        }
    }
}
