import Foundation
import OrbiterClient
import OrbiterCore
import OrbiterModels
import OrbiterQueue
import OrbiterRedis

// MARK: - LLM-shaped streaming at scale

/// `n` tasks at once, each an agent whose model streams `deltas` text deltas at `rate` per second
/// from `DeltaStreamServer` over real HTTP; one worker process (`orbiter start worker`, started
/// here with `OPENAI_BASE_URL` pointing at the server) runs them all, and one `stream()` follower
/// per task reads every event. Measures deltas delivered to followers per second, per-delta
/// latency from the provider's write to the follower's receipt, the first token's latency from
/// submit, the worker's CPU and peak RSS, and checks that every delta arrived once, in order.
enum StreamBench {
    static let script = """
        local orbiter = require "orbiter"
        return orbiter.agent { name = "streamer", model = "openai:fake-stream", instructions = "Write.", max_steps = 1 }
        """

    static func run(_ o: Options) async throws {
        let n = o.int("n", 1000), deltas = o.int("deltas", 200), rate = o.double("rate", 20)
        let url = o.string("redis-url", "redis://127.0.0.1:6379")
        let queue = o.string("queue", "bench")  // the same default as Throughput.setup, which submits
        let server = try await DeltaStreamServer(deltas: deltas, interval: .nanoseconds(Int64(1e9 / rate)))

        let orbiter = o.string("orbiter", URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
            .appendingPathComponent("orbiter").path)
        let worker = Process()
        worker.executableURL = URL(fileURLWithPath: orbiter)
        worker.arguments = ["start", "worker", "--redis-url", url, "--queue", queue, "--concurrency", "\(n)",
                            "--lease", "60", "--drain-timeout", "5", "--event-window-ms", o.string("event-window-ms", "2")]
        var environment = ProcessInfo.processInfo.environment
        environment["OPENAI_BASE_URL"] = "http://127.0.0.1:\(server.port)/v1"
        environment["OPENAI_API_KEY"] = "bench"
        worker.environment = environment
        let log = o.string("worker-log", "/dev/null")
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        worker.standardOutput = FileHandle(forWritingAtPath: log)
        worker.standardError = FileHandle(forWritingAtPath: log)
        try worker.run()
        defer {
            worker.terminate()
            worker.waitUntilExit()
        }
        let pid = worker.processIdentifier

        BuiltinProviders.register()  // the script names "openai:...", checked when it is loaded
        let s = try await Throughput.setup(o, script: script, name: "stream.lua")
        let deadline = ContinuousClock.now + .seconds(20)
        while try await s.client.send(["ZCARD", "{orbiter:\(queue)}:workers"]).int ?? 0 < 1 {
            guard ContinuousClock.now < deadline else { throw DistributedError.invalidArgument("the stream bench's worker did not start (log: \(log))") }
            try await Task.sleep(for: .milliseconds(20))
        }

        struct Followed: Sendable {
            var latenciesMs: [Double] = []
            /// When each delta of `latenciesMs` was written by the provider.
            var sentNs: [UInt64] = []
            var firstTokenMs: Double?
            var first: UInt64 = .max
            var last: UInt64 = 0
            var lost = 0
            var reordered = 0
            var failed = false
            var taskID = ""
        }
        let cpu0 = cpuMs(pid), ownCPU0 = cpuMs(getpid())
        let redis0 = try await RedisStats.snapshot(s.client)
        let t0 = nowNs()
        let results = try await withThrowingTaskGroup(of: Followed.self) { group in
            for i in 0..<n {
                group.addTask {
                    var f = Followed()
                    let submitted = nowNs()
                    let handle = try await distributed(s.root, "stream \(i)", broker: s.broker, detailed: true)
                    f.taskID = handle.taskID
                    var expected = 0
                    for try await event in handle.stream() {
                        switch event {
                        case .text(let text):
                            let received = nowNs()
                            if f.firstTokenMs == nil { f.firstTokenMs = Double(received - submitted) / 1e6 }
                            for part in text.text.split(separator: ";") {
                                let fields = part.split(separator: "@")
                                guard fields.count == 2, let index = Int(fields[0]), let sent = UInt64(fields[1]) else { continue }
                                if index != expected { if index > expected { f.lost += index - expected } else { f.reordered += 1 } }
                                expected = max(expected, index + 1)
                                f.latenciesMs.append(Double(received &- sent) / 1e6)
                                f.sentNs.append(sent)
                                f.first = min(f.first, received)
                                f.last = max(f.last, received)
                            }
                        case .status(let status) where status.status.isTerminal && status.status != .completed:
                            f.failed = true
                        default: break
                        }
                    }
                    f.lost += max(0, deltas - expected)
                    return f
                }
            }
            return try await group.reduce(into: [Followed]()) { $0.append($1) }
        }
        let wallMs = Double(nowNs() - t0) / 1e6
        let cpu = cpuMs(pid) - cpu0, ownCPU = cpuMs(getpid()) - ownCPU0
        let redisCPU = (try await RedisStats.snapshot(s.client)["cpu_ms"] ?? .nan) - (redis0["cpu_ms"] ?? .nan)
        let hwm = statusMiB(pid, "VmHWM")
        try await server.stop()

        let latencies = results.flatMap(\.latenciesMs).sorted()
        let firstTokens = results.compactMap(\.firstTokenMs).sorted()
        // The same figure for the deltas written once every stream had begun: the steady state,
        // without the first second's claims, starts and connections.
        let allStarted = results.map { $0.sentNs.min() ?? 0 }.max() ?? 0
        let steady = results.flatMap { f in zip(f.sentNs, f.latenciesMs).filter { $0.0 > allStarted }.map(\.1) }.sorted()
        let stored = try await storedLatencies(s, results.map(\.taskID))
        let first = results.map(\.first).min() ?? 0, last = results.map(\.last).max() ?? 0
        let deliveryMs = last > first ? Double(last - first) / 1e6 : .nan
        emit(["scenario": "stream", "tasks": .int(n), "deltas_per_task": .int(deltas), "rate_per_task": .double(rate),
              "stream_deltas_delivered": .int(latencies.count),
              "stream_deltas_per_s": .double(Double(latencies.count) / (deliveryMs / 1000)),
              "stream_delta_p50_ms": .double(percentile(latencies, 50)),
              "stream_delta_p99_ms": .double(percentile(latencies, 99)),
              "stream_delta_max_ms": .double(latencies.last ?? .nan),
              "stream_delta_p99_ms_all_started": .double(percentile(steady, 99)),
              "stream_delta_stored_p50_ms": .double(percentile(stored, 50)),
              "stream_delta_stored_p99_ms": .double(percentile(stored, 99)),
              "stream_first_token_p50_ms": .double(percentile(firstTokens, 50)),
              "stream_first_token_p99_ms": .double(percentile(firstTokens, 99)),
              "stream_worker_cpu_pct": .double(cpu / wallMs * 100),
              // The other two processes on the cores: this one (fake provider and followers) and Redis.
              "stream_bench_cpu_pct": .double(ownCPU / wallMs * 100),
              "stream_redis_cpu_pct": .double(redisCPU / wallMs * 100),
              "stream_worker_hwm_mib": .double(hwm),
              "stream_wall_s": .double(wallMs / 1000),
              "stream_lost": .int(results.reduce(0) { $0 + $1.lost }),
              "stream_reordered": .int(results.reduce(0) { $0 + $1.reordered }),
              "stream_failed_tasks": .int(results.filter(\.failed).count),
              "provider_streams": .int(server.started.withLock { $0 })])
    }

    /// Provider write → the delta's entry in the task's events stream, per delta, from the entry
    /// ids (Redis' clock at the XADD, whole milliseconds): where a delta's latency arises, the
    /// worker's side (this) or the follower's (the rest of `stream_delta_*`). Monotonic write times
    /// are put on the wall clock with one offset taken here, so each figure is ±1 ms.
    static func storedLatencies(_ s: Throughput.Setup, _ taskIDs: [String]) async throws -> [Double] {
        let offsetMs = Date().timeIntervalSince1970 * 1000 - Double(nowNs()) / 1e6
        var out: [Double] = []
        for chunk in stride(from: 0, to: taskIDs.count, by: 100).map({ Array(taskIDs[$0..<min($0 + 100, taskIDs.count)]) }) {
            let replies = try await s.client.pipeline(chunk.map { ["XRANGE", s.broker.keys.events($0), "-", "+"] })
            for reply in replies {
                for entry in reply.array ?? [] {
                    guard let parts = entry.array, parts.count == 2, let id = parts[0].string,
                          let ms = Double(id.prefix { $0 != "-" }) else { continue }
                    for field in parts[1].array ?? [] {
                        guard let text = field.string, text.hasPrefix("{\"type\":\"text\"") else { continue }
                        // {"type":"text","text":"<index>@<sent ns>;…",…}: the digits after each '@'.
                        for part in text.split(separator: "@").dropFirst() {
                            guard let sent = Double(part.prefix { $0.isASCII && $0.isNumber }) else { continue }
                            out.append(ms - (sent / 1e6 + offsetMs))
                        }
                    }
                }
            }
        }
        return out.sorted()
    }
}
