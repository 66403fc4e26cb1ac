import CLua
import Foundation
import OrbiterCore
import OrbiterClient
import OrbiterQueue
import OrbiterWorker
import OrbiterLua
import OrbiterRedis
import Synchronization

// MARK: - Helpers

/// A value behind a lock, shareable between child tasks.
final class Shared<T: Sendable>: Sendable {
    private let m: Mutex<T>
    init(_ v: T) { m = Mutex(v) }
    func withLock<R: Sendable>(_ body: (inout sending T) -> sending R) -> R { m.withLock(body) }
}

func emit(_ fields: [String: JSONValue]) {
    print(JSONValue.object(fields).jsonString)
    fflush(nil)
}

func nowNs() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

func percentile(_ sorted: [Double], _ p: Double) -> Double {
    guard !sorted.isEmpty else { return .nan }
    let rank = p / 100 * Double(sorted.count - 1)
    let lo = Int(rank.rounded(.down)), hi = Int(rank.rounded(.up))
    return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - Double(lo))
}

/// utime + stime of a process, in milliseconds (from /proc/PID/stat).
func cpuMs(_ pid: Int32) -> Double {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let close = text.lastIndex(of: ")") else { return .nan }
    let fields = text[text.index(after: close)...].split(separator: " ")
    // After ")": state is field 3, so utime (14) and stime (15) are at offsets 11 and 12.
    guard fields.count > 12, let u = Double(fields[11]), let s = Double(fields[12]) else { return .nan }
    let hz = Double(sysconf(Int32(_SC_CLK_TCK)))
    return (u + s) * 1000 / hz
}

/// A field of /proc/PID/status in MiB (VmRSS, VmHWM).
func statusMiB(_ pid: Int32, _ field: String) -> Double {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return .nan }
    for line in text.split(separator: "\n") where line.hasPrefix(field + ":") {
        let kb = line.split(separator: " ").compactMap { Double($0) }.first ?? .nan
        return kb / 1024
    }
    return .nan
}

/// Writes a bench script into a temporary folder and returns its path.
func writeScript(_ name: String, _ source: String) throws -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("orbiter-bench-\(getpid())")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    let path = dir.appendingPathComponent(name).path
    try source.write(toFile: path, atomically: true, encoding: .utf8)
    return path
}

enum Scripts {
    /// A model that answers at once: one step, one text event.
    static let noop = """
        local orbiter = require "orbiter"
        local noop = orbiter.model { name = "noop", respond = function(request) return "ok" end }
        return orbiter.agent { name = "noop", model = noop, instructions = "", max_steps = 1 }
        """

    static func sleeper(_ seconds: Double) -> String {
        """
        local orbiter = require "orbiter"
        local sleepy = orbiter.model { name = "sleepy", respond = function(request) orbiter.sleep(\(seconds)) return "ok" end }
        return orbiter.agent { name = "sleepy", model = sleepy, instructions = "", max_steps = 1 }
        """
    }

    /// A tool with JSON arguments and a model, for the Lua micro-benchmarks.
    static let micro = """
        local orbiter = require "orbiter"
        local add = orbiter.tool {
          name = "add", description = "Add two integers",
          parameters = { a = "integer", b = "integer" },
          run = function(args) return args.a + args.b end,
        }
        local echo = orbiter.model { name = "echo", respond = function(request) return "ok" end }
        return orbiter.agent { name = "micro", model = echo, tools = { add }, max_steps = 1 }
        """
}
