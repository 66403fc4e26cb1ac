import Foundation
import OrbiterCore
@testable import OrbiterLua
import OrbiterTestSupport

/// Writes Lua files into a fresh temporary folder and returns the entry's path.
func writeScripts(_ files: [String: String], entry: String = "main.lua") throws -> String {
    try temporaryFolder("orbiter-lua", files: files).appendingPathComponent(entry).path
}

/// Loads a one-file script.
func load(_ source: String, options: LuaRuntime.Options = .init()) throws -> LuaRuntime {
    try LuaRuntime(file: try writeScripts(["main.lua": source]), options: options)
}

/// A script whose root agent exists only so tools can be called directly.
func toolScript(_ tools: String) -> String {
    """
    local orbiter = require "orbiter"
    \(tools)
    local m = orbiter.model { name = "m", respond = function() return "ok" end }
    return orbiter.agent { name = "a", model = m }
    """
}
