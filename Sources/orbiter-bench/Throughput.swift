import CLua
import Foundation
import OrbiterCore
import OrbiterClient
import OrbiterQueue
import OrbiterWorker
import OrbiterLua
import OrbiterRedis
import Synchronization

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

    /// Calls of `finishedCount` so far: each sends `finishedCountCommands` GETs that are the bench's
    /// own bookkeeping, taken out of the per-task command counts.
    static let finishedPolls = Shared(0)
    static let finishedCountCommands = 14

    /// Tasks ended (completed + failed) on the queue, from the per-minute counters `finish` keeps.
    static func finishedCount(_ s: Setup) async throws -> Int {
        finishedPolls.withLock { $0 += 1 }
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
    /// `bulk`: one `distributedMany` (what `submit --batch` runs) instead of `inflight` lanes of
    /// `distributed()`. `pause`: the worker processes are stopped (SIGSTOP) while the tasks are
    /// submitted and continued after, so submit and drain are timed apart (the peers' table).
    static func submitAndWait(_ s: Setup, n: Int, inflight: Int, detailed: Bool, timeout: Double = 300,
                              bulk: Bool = false, pause: [Int32] = []) async throws -> (Double, Double, [String]) {
        let base = try await finishedCount(s)
        let sample = Shared<[String]>([])
        for pid in pause { kill(pid, SIGSTOP) }
        defer { for pid in pause { kill(pid, SIGCONT) } }  // never leave a worker stopped on an error
        let t0 = nowNs()
        if bulk {
            let handles = try await distributedMany(s.root, (0..<n).map { BatchInput("task \($0)") }, broker: s.broker,
                                                    detailed: detailed, timeout: timeout)
            sample.withLock { $0 = stride(from: 0, to: handles.count, by: max(1, n / 8)).map { handles[$0].taskID } }
        } else {
            try await submitAll(n: n, inflight: inflight) { i in
                let h = try await distributed(s.root, "task \(i)", broker: s.broker, detailed: detailed, timeout: timeout)
                if i % max(1, n / 8) == 0 { sample.withLock { $0.append(h.taskID) } }
            }
        }
        let submitted = nowNs()
        for pid in pause { kill(pid, SIGCONT) }
        let deadline = submitted + UInt64(timeout * 1e9)
        while try await finishedCount(s) - base < n {
            if nowNs() > deadline { throw DistributedError.invalidArgument("timed out waiting for \(n) tasks") }
            try await Task.sleep(for: .milliseconds(2))
        }
        let t1 = nowNs()
        return (Double(t1 - t0) / 1e9, Double(submitted - t0) / 1e9, sample.withLock { $0 })
    }

    /// Calls `submit(i)` for i in 0..<n from `inflight` concurrent loops.
    static func submitAll(n: Int, inflight: Int, _ submit: @escaping @Sendable (Int) async throws -> Void) async throws {
        let next = Shared(0)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<min(inflight, n) {
                group.addTask {
                    while true {
                        let i = next.withLock { v -> Int in defer { v += 1 }; return v }
                        if i >= n { return }
                        try await submit(i)
                    }
                }
            }
            try await group.waitForAll()
        }
    }

    static func run(_ o: Options) async throws {
        let s = try await setup(o, script: Scripts.noop, name: "noop.lua")
        let n = o.int("n", 20_000)
        let inflight = o.int("inflight", 256)
        let detailed = o.flag("detailed")
        let repeats = o.int("repeats", 1)
        let pids = o.workerPIDs
        let bulk = o.flag("bulk")
        let pause = o.flag("pause-workers") ? pids : []
        // Warm up: the bundle gets stored, workers cache it, connections open.
        let warmup = o.int("warmup", min(200, n))
        if warmup > 0 { _ = try await submitAndWait(s, n: warmup, inflight: inflight, detailed: detailed) }
        for r in 0..<repeats {
            let failedBefore = try await failedCount(s)
            let cpu0 = pids.map(cpuMs)
            let polls0 = finishedPolls.withLock { $0 }
            let client0 = cpuMs(getpid())
            let cmd0 = try await RedisStats.snapshot(s.client)
            let (wall, submitS, sample) = try await submitAndWait(s, n: n, inflight: inflight, detailed: detailed,
                                                                   bulk: bulk, pause: pause)
            let cmd1 = try await RedisStats.snapshot(s.client)
            let client1 = cpuMs(getpid())
            let benchGETs = Double((finishedPolls.withLock { $0 } - polls0) * finishedCountCommands)
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
                "submits_per_s": .double(Double(n) / submitS), "bulk": .bool(bulk), "paused": .bool(!pause.isEmpty),
                "drain_s": .double(wall - submitS), "drain_tasks_per_s": .double(Double(n) / (wall - submitS)),
                "events_per_task": .double(eventsPerTask), "events_per_s": .double(eventsPerTask * Double(n) / wall),
                "worker_cpu_ms_per_task": .double(pids.isEmpty ? .nan : workerCPU / Double(n)),
                "redis_commands_per_task": .double((d["total"] ?? 0) / Double(n)),
                // This submitting process (its counter polling included): the third CPU on the cores.
                "client_cpu_ms_per_task": .double((client1 - client0) / Double(n)),
                // The same without the bench client's own counter polling and its one INFO.
                "redis_commands_per_task_excl_bench": .double(max(0, (d["total"] ?? 0) - benchGETs - 1) / Double(n)),
                "bench_polling_gets_per_task": .double(benchGETs / Double(n)),
            ]
            var perCommand: [String: JSONValue] = [:]
            var taskCommands: [String: JSONValue] = [:]
            for (k, v) in d where k.hasPrefix("cmd.") {
                let name = String(k.dropFirst(4))
                perCommand[name] = .double(v / Double(n))
                let own = name == "get" ? benchGETs : name == "info" ? 1 : 0
                if v - own > 0 { taskCommands[name] = .double((v - own) / Double(n)) }
            }
            fields["commands_per_task_excl_bench"] = .object(taskCommands)
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
        let redisBefore = try await usedMemoryMiB(s.client)
        // Meanwhile, twice a second: how many tasks run at once (every worker's) and Redis's memory.
        let peak = Shared((running: 0, redisMiB: redisBefore))
        let sampler = Task {
            while !Task.isCancelled {
                if let running = try? await s.broker.stats().running, let redis = try? await usedMemoryMiB(s.client) {
                    peak.withLock { $0 = (max($0.running, running), max($0.redisMiB, redis)) }
                }
                try? await Task.sleep(for: .milliseconds(500))
            }
        }
        let (wall, submitS, _) = try await submitAndWait(s, n: n, inflight: o.int("inflight", 512), detailed: false)
        sampler.cancel()
        _ = await sampler.value
        let cpu1 = pids.map(cpuMs)
        let failed = try await failedCount(s)
        let hwm = pids.map { statusMiB($0, "VmHWM") }
        let (running, redisPeak) = peak.withLock { $0 }
        emit(["scenario": "inflight", "tasks": .int(n), "sleep_s": .double(seconds), "wall_s": .double(wall),
              "submit_s": .double(submitS), "failed": .int(failed), "workers": .int(pids.count),
              "worker_cpu_ms_per_task": .double(zip(cpu0, cpu1).reduce(0.0) { $0 + ($1.1 - $1.0) } / Double(n)),
              "worker_hwm_mib": .double(hwm.first ?? .nan),
              "workers_hwm_mib_total": .double(hwm.reduce(0, +)),
              "peak_running": .int(running),
              "redis_growth_mib": .double(redisPeak - redisBefore)])
    }

    /// Redis's `used_memory`, in MiB.
    static func usedMemoryMiB(_ client: RedisClient) async throws -> Double {
        let info = try await client.send(["INFO", "memory"]).string ?? ""
        let line = info.split(whereSeparator: \.isNewline).first { $0.hasPrefix("used_memory:") }
        return (line.flatMap { Double($0.dropFirst("used_memory:".count)) } ?? .nan) / 1_048_576
    }
}
