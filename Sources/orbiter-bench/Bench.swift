// orbiter-bench: the in-process half of scripts/bench.sh.
//
// Each subcommand measures one thing and prints one JSON object per line on stdout; the script
// starts Redis and the workers, repeats runs, and computes medians. Run `orbiter-bench help`.
import CLua
import Foundation
import OrbiterCore
import OrbiterClient
import OrbiterQueue
import OrbiterWorker
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
            case "mcp": try await MCPBench.run(options)
            case "mcp-host": try await MCPBench.host(options)
            case "http-tool": try await HTTPToolBench.run(options)
            case "park": try await ParkBench.run(options)
            case "bulk": try await BulkSubmitBench.run(options)
            case "admission": try await AdmissionBench.run(options)
            case "durability": try await DurabilityBench.run(options)
            case "stream": try await StreamBench.run(options)
            case "queues": try await QueuesBench.run(options)
            case "api": try await APIBench.run(options)
            default:
                print("""
                    usage: orbiter-bench <command> [--option value ...]
                      throughput  --redis-url U --queue Q --n N --inflight K [--detailed] [--worker-pids 1,2] [--bulk] [--pause-workers]
                      inflight    --redis-url U --queue Q --n N --sleep S [--worker-pids 1]
                      latency     --redis-url U --queue Q --n N
                      lua         --iterations N
                      mcp         [--python P] [--calls N] [--warmup N] [--json]   (stdio MCP round trips, server RSS)
                      mcp-host    [--python P] --script S   (starts MCP servers, prints their pids, waits)
                      http-tool   [--n N]   (no Redis: a loopback HTTP server in-process)
                      park        --redis-url U --queue Q --n N --memory-n M [--external]   (task approve → next event; Redis bytes per parked task)
                      bulk        --redis-url U --queue Q --n N [--repeats R]   (submit rate: one at a time, distributedMany, 256 outstanding)
                      admission   --redis-url U [--n N] [--concurrency C]   (shared rate limits: reserve.lua decision p50/p99, decisions/s)
                      durability  --redis-url U [--n N]   (submit p50/p99 and submits/s, durability none vs replica; needs a replica)
                      stream      --redis-url U [--n 1000] [--deltas 200] [--rate 20] [--orbiter PATH] [--worker-log F]
                                  (n streaming tasks at once through one worker it starts, one follower each: deltas/s, per-delta p99, worker CPU)
                      queues      --redis-url U --queues a,b,c --n N [--inflight K] [--latency-n M]   (no-op throughput over several queues, e.g. a redis-cluster:// URL)
                      api         --redis-url U --orbiter BIN [--n N] [--cli-n N] [--followers F] [--events E]   (orbiter serve: submit rate vs CLI, SSE fan-out p50/p99, server CPU)
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
