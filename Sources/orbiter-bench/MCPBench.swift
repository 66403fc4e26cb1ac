import Foundation
import Logging
import OrbiterCore
import OrbiterTools

/// MCP over stdio with the real servers: `tools/call` round trips and the memory of each server
/// process. `mcp-host` keeps servers running until killed (the no-orphans test kills it with -9).
enum MCPBench {
    /// `mcp --python P [--calls N] [--warmup N] [--json]`: P is a python with mcp-server-time and
    /// mcp-server-git (default ORBITER_TEST_PYTHON, as scripts/test.sh installs it).
    static func run(_ options: Options) async throws {
        let python = try pythonPath(options)
        let calls = options.int("calls", 200), warmup = options.int("warmup", 20)
        let hub = MCPHub(offered: nil, scriptHTTP: NoHTTP(), trustedHTTP: NoHTTP(), logger: quietLogger())
        let repository = FileManager.default.temporaryDirectory.appendingPathComponent("orbiter-bench-git-\(getpid())")
        try FileManager.default.createDirectory(at: repository, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: repository) }
        let gitInit = try Process.run(URL(fileURLWithPath: "/usr/bin/env"), arguments: ["git", "init", "-q", repository.path])
        gitInit.waitUntilExit()
        let started = nowNs()
        let time = try await hub.tools(for: spec("time", python, ["-m", "mcp_server_time"]))
        let startMs = Double(nowNs() - started) / 1e6
        _ = try await hub.tools(for: spec("git", python, ["-m", "mcp_server_git", "--repository", repository.path]))
        guard let getTime = time.first(where: { $0.name == "time__get_current_time" }) else {
            throw MCPError("mcp-server-time offers no get_current_time")
        }
        for _ in 0..<warmup { _ = try await getTime.body(["timezone": "UTC"]) }
        var samples: [Double] = []
        for _ in 0..<calls {
            let t0 = nowNs()
            _ = try await getTime.body(["timezone": "UTC"])
            samples.append(Double(nowNs() - t0) / 1e6)
        }
        samples.sort()
        let mean = samples.reduce(0, +) / Double(max(samples.count, 1))
        let processes = await hub.serverProcesses()
        let rss = processes.map { ($0.server, statusMiB($0.pid, "VmRSS")) }
        await hub.shutdown()

        if options.flag("json") {
            emit(["bench": "mcp", "calls": .int(calls), "start_ms": .double(startMs), "mean_ms": .double(mean),
                  "p50_ms": .double(percentile(samples, 50)), "p99_ms": .double(percentile(samples, 99)),
                  "rss_mib": .object(Dictionary(uniqueKeysWithValues: rss.map { ($0.0, JSONValue.double($0.1)) }))])
            return
        }
        print("MCP over stdio (\(calls) calls of time__get_current_time after \(warmup) warm-up calls)")
        print(row("start (spawn, initialize, tools/list)", startMs, "ms"))
        print(row("tools/call round trip, mean", mean, "ms"))
        print(row("tools/call round trip, p50", percentile(samples, 50), "ms"))
        print(row("tools/call round trip, p99", percentile(samples, 99), "ms"))
        for (server, mib) in rss { print(row("RSS of the \(server) server process", mib, "MiB")) }
    }

    /// `mcp-host --python P --script S`: starts mcp-server-time and the stdio server script S,
    /// prints `{"pids": [...]}` and waits to be killed.
    static func host(_ options: Options) async throws {
        let python = try pythonPath(options)
        let hub = MCPHub(offered: nil, scriptHTTP: NoHTTP(), trustedHTTP: NoHTTP(), logger: quietLogger())
        _ = try await hub.tools(for: spec("time", python, ["-m", "mcp_server_time"]))
        _ = try await hub.tools(for: spec("hosted", python, [options.string("script", "")]))
        emit(["pids": .array(await hub.serverProcesses().map { .int(Int($0.pid)) })])
        try await Task.sleep(for: .seconds(3600))
    }

    private static func pythonPath(_ options: Options) throws -> String {
        guard let python = options.values["python"] ?? ProcessInfo.processInfo.environment["ORBITER_TEST_PYTHON"] else {
            throw MCPError("give --python (a python with mcp-server-time and mcp-server-git) or set ORBITER_TEST_PYTHON; "
                           + "scripts/test.sh installs them into .venv-tools")
        }
        return python
    }

    private static func spec(_ name: String, _ python: String, _ arguments: [String]) -> MCPServerSpec {
        MCPServerSpec(name: name, transport: .stdio(command: python, arguments: arguments, environment: [:], workingDirectory: nil))
    }

    private static func quietLogger() -> Logger {
        var logger = Logger(label: "orbiter-bench.mcp")
        logger.logLevel = .warning
        return logger
    }

    private static func row(_ label: String, _ value: Double, _ unit: String) -> String {
        label.padding(toLength: 44, withPad: " ", startingAt: 0) + String(format: "%9.2f %@", value, unit)
    }

    /// The bench's servers are all stdio.
    private struct NoHTTP: HTTPAccess {
        func perform(_ request: HTTPToolRequest, isComplete: (@Sendable ([UInt8]) -> Bool)?) async throws -> HTTPToolResponse {
            throw MCPError("\(request.url): no HTTP in the bench")
        }
    }
}
