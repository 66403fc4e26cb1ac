import Foundation
import OrbiterCore
import OrbiterClient
import OrbiterQueue
import OrbiterWorker
import OrbiterRedis

// MARK: - Parked tasks (a person in the loop)

/// `park`: how fast a parked task resumes after `task approve`, and what a parked task costs Redis.
///
/// Latency: `n` tasks whose agent calls an `approval = true` tool park on the workers (one in this
/// process unless `--external`); then, one at a time, each is approved and the time to its next
/// event (the resuming worker's `status resumed`) and to its terminal event is measured. Memory:
/// `memory-n` more tasks park; `used_memory` grows by so much per task (every key: task hash,
/// events stream, index and waiting-set entries), and `MEMORY USAGE` of one task's hash and
/// events stream says where it goes.
enum ParkBench {
    static let script = """
        local orbiter = require "orbiter"
        local refund = orbiter.tool { name = "refund", parameters = { amount = "integer" }, approval = true,
          run = function(args) return "refunded " .. args.amount end }
        local clerk = orbiter.model { name = "clerk", respond = function(request)
          local last = request.messages[#request.messages]
          if last.role == "tool" then return "done" end
          return { tool_calls = { { name = "refund", arguments = { amount = 30 } } } }
        end }
        return orbiter.agent { name = "parked", model = clerk, tools = { refund }, max_steps = 3 }
        """

    static func run(_ o: Options) async throws {
        let s = try await Throughput.setup(o, script: script, name: "park.lua")
        let n = o.int("n", 200), memoryN = o.int("memory-n", 1000)
        var worker: (Worker, Task<Void, any Error>)?
        if !o.flag("external") {
            var configuration = WorkerConfiguration(redisURL: o.string("redis-url", "redis://127.0.0.1:6379"), queue: s.queue,
                                                    concurrency: o.int("concurrency", 64), workerID: "park-bench-\(getpid())")
            configuration.luaOptions = .shipped()
            let w = try Worker(configuration: configuration)
            worker = (w, Task { try await w.run() })
        }
        defer { if let worker { worker.0.stop() } }

        // Warm up: the bundle is stored and cached, the worker's Lua state built.
        let warm = try await park(s, count: 5)
        for handle in warm { try await handle.approve(); _ = try await handle.result() }

        let handles = try await park(s, count: n)
        var toNext: [Double] = [], toEnd: [Double] = []
        for handle in handles {
            let key = s.broker.keys.events(handle.taskID)
            let last = StreamReplies.entries(try await s.client.send(["XREVRANGE", key, "+", "-", "COUNT", 1])).first?.id ?? "0"
            let t0 = nowNs()
            try await handle.approve()
            var after = last
            var sawNext = false
            while true {
                let entries = StreamReplies.firstStream(try await s.client.streamReader.read(key: key, after: after, block: .seconds(10)))
                guard let end = entries.last else { throw DistributedError.invalidArgument("task \(handle.taskID) did not resume within 10 s") }
                if !sawNext {
                    toNext.append(Double(nowNs() - t0) / 1e6)
                    sawNext = true
                }
                after = end.id
                if StreamReplies.events(entries).contains(where: { $0.event.isTerminal }) {
                    toEnd.append(Double(nowNs() - t0) / 1e6)
                    break
                }
            }
        }
        toNext.sort(); toEnd.sort()

        // Memory: parked tasks are Redis state only.
        _ = try await s.client.send(["MEMORY", "PURGE"])
        let before = try await usedMemory(s.client)
        let parked = try await park(s, count: memoryN)
        let after = try await usedMemory(s.client)
        let sample = parked[parked.count / 2].taskID
        let hashBytes = try await s.client.send(["MEMORY", "USAGE", s.broker.keys.task(sample), "SAMPLES", "0"]).int ?? 0
        let eventBytes = try await s.client.send(["MEMORY", "USAGE", s.broker.keys.events(sample), "SAMPLES", "0"]).int ?? 0
        let checkpointBytes = try await s.client.send(["HSTRLEN", s.broker.keys.task(sample), "checkpoint"]).int ?? 0
        let pendingBytes = try await s.client.send(["HSTRLEN", s.broker.keys.task(sample), "pending"]).int ?? 0
        for handle in parked { _ = try await handle.cancel() }

        // Baseline: the same tasks queued on a queue no worker reads (hash, queue entry, index).
        let idle = try TaskBroker(redisURL: o.string("redis-url", "redis://127.0.0.1:6379"), queue: s.queue + "-idle")
        _ = try await s.client.send(["MEMORY", "PURGE"])
        let idleBefore = try await usedMemory(s.client)
        for i in 0..<memoryN { _ = try await distributed(s.root, "refund \(i)", broker: idle) }
        let idleAfter = try await usedMemory(s.client)

        emit(["scenario": "park", "tasks": .int(n), "workers": .int(worker == nil ? o.workerPIDs.count : 1),
              "approve_to_next_event_p50_ms": .double(percentile(toNext, 50)),
              "approve_to_next_event_p99_ms": .double(percentile(toNext, 99)),
              "approve_to_terminal_event_p50_ms": .double(percentile(toEnd, 50)),
              "approve_to_terminal_event_p99_ms": .double(percentile(toEnd, 99)),
              "memory_tasks": .int(memoryN),
              "redis_bytes_per_parked_task": .double(Double(after - before) / Double(memoryN)),
              "memory_usage_task_hash_bytes": .int(Int(hashBytes)),
              "memory_usage_events_stream_bytes": .int(Int(eventBytes)),
              "checkpoint_bytes": .int(Int(checkpointBytes)), "pending_request_bytes": .int(Int(pendingBytes)),
              "redis_bytes_per_queued_task": .double(Double(idleAfter - idleBefore) / Double(memoryN))])
    }

    /// Submits `count` tasks and returns once every one is parked.
    static func park(_ s: Throughput.Setup, count: Int) async throws -> [TaskHandle] {
        let baseline = try await s.broker.stats().waiting
        var handles: [TaskHandle] = []
        for i in 0..<count { handles.append(try await distributed(s.root, "refund \(i)", broker: s.broker)) }
        let deadline = nowNs() + 120_000_000_000
        while try await s.broker.stats().waiting - baseline < count {
            if nowNs() > deadline { throw DistributedError.invalidArgument("timed out waiting for \(count) tasks to park") }
            try await Task.sleep(for: .milliseconds(5))
        }
        return handles
    }

    static func usedMemory(_ client: RedisClient) async throws -> Int {
        let text = try await client.send(["INFO", "memory"]).string ?? ""
        for line in text.split(whereSeparator: \.isNewline) where line.hasPrefix("used_memory:") {
            return Int(line.dropFirst("used_memory:".count)) ?? 0
        }
        return 0
    }
}
