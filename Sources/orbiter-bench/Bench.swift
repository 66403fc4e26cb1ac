// orbiter-bench: the in-process half of scripts/bench.sh.
//
// Each subcommand measures one thing and prints one JSON object per line on stdout; the script
// starts Redis and the workers, repeats runs, and computes medians. Run `orbiter-bench help`.
import CLua
import Foundation
import OrbiterCore
import OrbiterDistributed
import OrbiterLua
import OrbiterRedis
import Synchronization

@main
struct OrbiterBench {
    static func main() async {
        var args = Array(CommandLine.arguments.dropFirst())
        let command = args.isEmpty ? "help" : args.removeFirst()
        let options = Options(args)
        do {
            switch command {
            case "throughput": try await Throughput.run(options)
            case "latency": try await Latency.run(options)
            case "inflight": try await Throughput.inflight(options)
            case "lua": try await LuaBench.run(options)
            case "redis-commands": try await RedisStats.printCommands(options)
            default:
                print("""
                    usage: orbiter-bench <command> [--option value ...]
                      throughput  --redis-url U --queue Q --n N --inflight K [--detailed] [--worker-pids 1,2]
                      inflight    --redis-url U --queue Q --n N --sleep S [--worker-pids 1]
                      latency     --redis-url U --queue Q --n N
                      lua         --iterations N
                    Each prints JSON lines on stdout.
                    """)
            }
        } catch {
            FileHandle.standardError.write(Data("orbiter-bench: \(error)\n".utf8))
            exit(1)
        }
    }
}

/// `--name value` and `--flag` options.
struct Options {
    var values: [String: String] = [:]
    init(_ args: [String]) {
        var i = 0
        while i < args.count {
            let key = args[i].hasPrefix("--") ? String(args[i].dropFirst(2)) : args[i]
            if i + 1 < args.count, !args[i + 1].hasPrefix("--") {
                values[key] = args[i + 1]
                i += 2
            } else {
                values[key] = "1"
                i += 1
            }
        }
    }
    func string(_ key: String, _ fallback: String) -> String { values[key] ?? fallback }
    func int(_ key: String, _ fallback: Int) -> Int { values[key].flatMap { Int($0) } ?? fallback }
    func double(_ key: String, _ fallback: Double) -> Double { values[key].flatMap { Double($0) } ?? fallback }
    func flag(_ key: String) -> Bool { values[key] == "1" || values[key] == "true" }
    var workerPIDs: [Int32] { (values["worker-pids"] ?? "").split(separator: ",").compactMap { Int32($0) } }
}

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

// MARK: - Redis server statistics

enum RedisStats {
    /// `INFO commandstats` as command → calls, plus total_commands_processed.
    static func snapshot(_ client: RedisClient) async throws -> [String: Double] {
        var out: [String: Double] = [:]
        let text = try await client.send(["INFO", "all"]).string ?? ""
        for line in text.split(whereSeparator: \.isNewline) {
            if line.hasPrefix("cmdstat_") {
                let name = line.dropFirst(8).prefix { $0 != ":" }
                if let range = line.range(of: "calls="), let calls = Double(line[range.upperBound...].prefix { $0.isNumber }) {
                    out["cmd." + name] = calls
                }
            } else if line.hasPrefix("total_commands_processed:") {
                out["total"] = Double(line.split(separator: ":")[1]) ?? 0
            }
        }
        return out
    }

    static func delta(_ a: [String: Double], _ b: [String: Double]) -> [String: Double] {
        var d: [String: Double] = [:]
        for (k, v) in b { let x = v - (a[k] ?? 0); if x > 0 { d[k] = x } }
        return d
    }

    static func printCommands(_ o: Options) async throws {
        let client = RedisClient(url: try RedisURL(o.string("redis-url", "redis://127.0.0.1:6379")))
        let s = try await snapshot(client)
        emit(s.mapValues { JSONValue.double($0) })
    }
}

// MARK: - Queue throughput and in-flight capacity

enum Throughput {
    struct Setup {
        let broker: TaskBroker
        let root: Runnable
        let queue: String
        let client: RedisClient
    }

    static func setup(_ o: Options, script: String, name: String) async throws -> Setup {
        let url = o.string("redis-url", "redis://127.0.0.1:6379")
        let queue = o.string("queue", "bench")
        let runtime = try LuaRuntime(file: try writeScript(name, script))
        let root = try runtime.root()
        let broker = try TaskBroker(redisURL: url, queue: queue)
        try await broker.client.connect()
        return Setup(broker: broker, root: root, queue: queue, client: broker.client)
    }

    /// Tasks ended (completed + failed) on the queue, from the per-minute counters `finish` keeps.
    static func finishedCount(_ s: Setup) async throws -> Int {
        let minute = Int(Date().timeIntervalSince1970 / 60)
        var cmds: [[any RedisArgument]] = []
        for m in (minute - 5)...(minute + 1) {
            cmds.append(["GET", "{orbiter:\(s.queue)}:count:completed:\(m)"])
            cmds.append(["GET", "{orbiter:\(s.queue)}:count:failed:\(m)"])
        }
        return try await s.client.pipeline(cmds).reduce(0) { $0 + Int($1.int ?? 0) }
    }

    static func failedCount(_ s: Setup) async throws -> Int {
        let minute = Int(Date().timeIntervalSince1970 / 60)
        return try await s.client.pipeline(((minute - 5)...(minute + 1)).map { ["GET", "{orbiter:\(s.queue)}:count:failed:\($0)"] })
            .reduce(0) { $0 + Int($1.int ?? 0) }
    }

    /// Submits `n` tasks with up to `inflight` submits outstanding, then waits until the queue's
    /// finished counter has grown by `n`. Returns (wall seconds from first submit to last finish,
    /// seconds spent submitting).
    static func submitAndWait(_ s: Setup, n: Int, inflight: Int, detailed: Bool, timeout: Double = 300) async throws -> (Double, Double, [String]) {
        let base = try await finishedCount(s)
        let next = Shared(0)
        let sample = Shared<[String]>([])
        let t0 = nowNs()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<min(inflight, n) {
                group.addTask {
                    while true {
                        let i = next.withLock { v -> Int in defer { v += 1 }; return v }
                        if i >= n { return }
                        let h = try await distributed(s.root, "task \(i)", broker: s.broker, detailed: detailed, timeout: timeout)
                        if i % max(1, n / 8) == 0 { sample.withLock { $0.append(h.taskID) } }
                    }
                }
            }
            try await group.waitForAll()
        }
        let submitted = nowNs()
        let deadline = submitted + UInt64(timeout * 1e9)
        while try await finishedCount(s) - base < n {
            if nowNs() > deadline { throw DistributedError.invalidArgument("timed out waiting for \(n) tasks") }
            try await Task.sleep(for: .milliseconds(2))
        }
        let t1 = nowNs()
        return (Double(t1 - t0) / 1e9, Double(submitted - t0) / 1e9, sample.withLock { $0 })
    }

    static func run(_ o: Options) async throws {
        let s = try await setup(o, script: Scripts.noop, name: "noop.lua")
        let n = o.int("n", 20_000)
        let inflight = o.int("inflight", 256)
        let detailed = o.flag("detailed")
        let repeats = o.int("repeats", 1)
        let pids = o.workerPIDs
        // Warm up: the bundle gets stored, workers cache it, connections open.
        let warmup = o.int("warmup", min(200, n))
        if warmup > 0 { _ = try await submitAndWait(s, n: warmup, inflight: inflight, detailed: detailed) }
        for r in 0..<repeats {
            let failedBefore = try await failedCount(s)
            let cpu0 = pids.map(cpuMs)
            let cmd0 = try await RedisStats.snapshot(s.client)
            let (wall, submitS, sample) = try await submitAndWait(s, n: n, inflight: inflight, detailed: detailed)
            let cmd1 = try await RedisStats.snapshot(s.client)
            let cpu1 = pids.map(cpuMs)
            let failed = try await failedCount(s) - failedBefore
            var eventsPerTask = 0.0
            let subscriber = try EventSubscriber(o.string("redis-url", "redis://127.0.0.1:6379"), queue: s.queue)
            for id in sample { eventsPerTask += Double(try await subscriber.replay(id).count) }
            eventsPerTask /= Double(max(sample.count, 1))
            let workerCPU = zip(cpu0, cpu1).reduce(0.0) { $0 + ($1.1 - $1.0) }
            let d = RedisStats.delta(cmd0, cmd1)
            var fields: [String: JSONValue] = [
                "scenario": "throughput", "repeat": .int(r), "detailed": .bool(detailed), "workers": .int(pids.count),
                "tasks": .int(n), "inflight": .int(inflight), "failed": .int(failed), "wall_s": .double(wall),
                "submit_s": .double(submitS), "tasks_per_s": .double(Double(n) / wall),
                "submits_per_s": .double(Double(n) / submitS),
                "events_per_task": .double(eventsPerTask), "events_per_s": .double(eventsPerTask * Double(n) / wall),
                "worker_cpu_ms_per_task": .double(pids.isEmpty ? .nan : workerCPU / Double(n)),
                "redis_commands_per_task": .double((d["total"] ?? 0) / Double(n)),
            ]
            var perCommand: [String: JSONValue] = [:]
            for (k, v) in d where k.hasPrefix("cmd.") { perCommand[String(k.dropFirst(4))] = .double(v / Double(n)) }
            fields["commands_per_task"] = .object(perCommand)
            emit(fields)
        }
    }

    static func inflight(_ o: Options) async throws {
        let seconds = o.double("sleep", 2)
        let s = try await setup(o, script: Scripts.sleeper(seconds), name: "sleep.lua")
        let n = o.int("n", 10_000)
        let pids = o.workerPIDs
        let cpu0 = pids.map(cpuMs)
        let (wall, submitS, _) = try await submitAndWait(s, n: n, inflight: o.int("inflight", 512), detailed: false)
        let cpu1 = pids.map(cpuMs)
        let failed = try await failedCount(s)
        emit(["scenario": "inflight", "tasks": .int(n), "sleep_s": .double(seconds), "wall_s": .double(wall),
              "submit_s": .double(submitS), "failed": .int(failed),
              "worker_cpu_ms_per_task": .double(zip(cpu0, cpu1).reduce(0.0) { $0 + ($1.1 - $1.0) } / Double(n)),
              "worker_hwm_mib": .double(pids.first.map { statusMiB($0, "VmHWM") } ?? .nan)])
    }
}

// MARK: - Latency at low load

enum Latency {
    static func run(_ o: Options) async throws {
        let s = try await Throughput.setup(o, script: Scripts.noop, name: "noop.lua")
        let n = o.int("n", 200)
        // Warm up.
        for i in 0..<20 { _ = try await distributed(s.root, "warm \(i)", broker: s.broker).result() }
        var result: [Double] = []
        var first: [Double] = []
        for i in 0..<n {
            let t0 = nowNs()
            let h = try await distributed(s.root, "latency \(i)", broker: s.broker)
            _ = try await h.result()
            result.append(Double(nowNs() - t0) / 1e6)
        }
        for i in 0..<n {
            let t0 = nowNs()
            let h = try await distributed(s.root, "first event \(i)", broker: s.broker)
            var got = false
            for try await _ in h.stream() {
                if !got { first.append(Double(nowNs() - t0) / 1e6); got = true }
            }
        }
        // The submit alone (one EVALSHA round trip and the payload build), for reference.
        var submit: [Double] = []
        for i in 0..<n {
            let t0 = nowNs()
            _ = try await distributed(s.root, "submit \(i)", broker: s.broker)
            submit.append(Double(nowNs() - t0) / 1e6)
        }
        // A bare round trip on the same client (PING), the floor for any of the above.
        var ping: [Double] = []
        for _ in 0..<n {
            let t0 = nowNs()
            _ = try await s.client.send(["PING"])
            ping.append(Double(nowNs() - t0) / 1e6)
        }
        result.sort(); first.sort(); submit.sort(); ping.sort()
        emit(["scenario": "latency", "tasks": .int(n),
              "submit_result_p50_ms": .double(percentile(result, 50)), "submit_result_p99_ms": .double(percentile(result, 99)),
              "first_event_p50_ms": .double(percentile(first, 50)), "first_event_p99_ms": .double(percentile(first, 99)),
              "submit_only_p50_ms": .double(percentile(submit, 50)), "ping_p50_ms": .double(percentile(ping, 50)),
              "ping_p99_ms": .double(percentile(ping, 99))])
    }
}

// MARK: - Lua micro-benchmarks

enum LuaBench {
    static func run(_ o: Options) async throws {
        let iterations = o.int("iterations", 200_000)
        let bare = barePcall(iterations: iterations * 10)
        let path = try writeScript("micro.lua", Scripts.micro)
        var fields: [String: JSONValue] = ["scenario": "lua", "iterations": .int(iterations), "bare_pcall_us": .double(bare)]
        for (label, options) in [("local", LuaRuntime.Options()), ("shipped", LuaRuntime.Options.shipped())] {
            let runtime = try LuaRuntime(file: path, options: options)
            guard case .agent(let agent) = try runtime.root(), let tool = agent.tools.first, let provider = agent.provider else {
                throw LuaError(message: "micro.lua: unexpected root")
            }
            let argumentsText = #"{"a": 1, "b": 2}"#
            // Swift → Lua tool → result, parsing the JSON arguments as the runner does.
            let toolUs = try await timeUs(iterations) {
                let args = try JSONValue.parse(argumentsText)
                let r = try await tool.body(args)
                guard r == .int(3) else { throw LuaError(message: "add returned \(r)") }
            }
            // The actor's call directly (no JSON text).
            let directUs = try await timeUs(iterations) {
                _ = try await runtime.callTool("add", arguments: ["a": 1, "b": 2])
            }
            let request = ModelRequest(model: "lua:echo", messages: [.user("hello")], tools: [tool.spec])
            let modelUs = try await timeUs(iterations / 4) {
                try await provider.complete(request) { _ in }
            }
            fields["lua_tool_call_us_\(label)"] = .double(toolUs)
            fields["lua_tool_call_direct_us_\(label)"] = .double(directUs)
            fields["lua_model_call_us_\(label)"] = .double(modelUs)
            // State creation (what a worker does per task): prelude + script evaluation.
            let bundle = runtime.bundle
            let stateUs = try await timeUs(max(200, iterations / 200)) {
                _ = try LuaRuntime(bundle: bundle, options: options)
            }
            fields["lua_state_create_us_\(label)"] = .double(stateUs)
            fields["lua_state_bytes_\(label)"] = .int(await runtime.memoryUsed)
        }
        fields["lua_tool_call_us"] = fields["lua_tool_call_us_shipped"]
        emit(fields)
    }

    static func timeUs(_ n: Int, _ body: () async throws -> Void) async throws -> Double {
        for _ in 0..<min(1000, n) { try await body() }  // warm
        let t0 = nowNs()
        for _ in 0..<n { try await body() }
        return Double(nowNs() - t0) / 1e3 / Double(n)
    }

    /// A bare `lua_pcall` of `function(a, b) return a + b end` from Swift: the floor.
    static func barePcall(iterations: Int) -> Double {
        guard let L = luaL_newstate() else { return .nan }
        defer { lua_close(L) }
        luaL_openlibs(L)
        let source = "return function(a, b) return a + b end"
        _ = orbiter_lua_loadbuffer(L, source, source.utf8.count, "=bare", "t")
        _ = orbiter_lua_pcall(L, 0, 1, 0)
        var sum: lua_Integer = 0
        let t0 = nowNs()
        for i in 0..<iterations {
            lua_pushvalue(L, 1)
            lua_pushinteger(L, lua_Integer(i))
            lua_pushinteger(L, 2)
            _ = orbiter_lua_pcall(L, 2, 1, 0)
            sum &+= lua_tointegerx(L, -1, nil)
            lua_settop(L, 1)
        }
        let us = Double(nowNs() - t0) / 1e3 / Double(iterations)
        if sum == 42 { print("") }  // keep the loop alive
        return us
    }
}
