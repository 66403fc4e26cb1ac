import Foundation
import OrbiterCore
@testable import OrbiterLua

/// Writes Lua files into a fresh temporary folder and returns the entry's path.
func writeScripts(_ files: [String: String], entry: String = "main.lua") throws -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("orbiter-lua-\(UUID().uuidString)")
    for (name, source) in files {
        let url = dir.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try source.write(to: url, atomically: true, encoding: .utf8)
    }
    return dir.appendingPathComponent(entry).path
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

func collect(_ stream: AsyncThrowingStream<StreamEvent, any Error>) async -> (events: [StreamEvent], error: (any Error)?) {
    var events: [StreamEvent] = []
    do {
        for try await e in stream { events.append(e) }
        return (events, nil)
    } catch {
        return (events, error)
    }
}
