import CoreMetrics
import Foundation
import Logging
import OrbiterCore
import OrbiterQueue
import OrbiterLua
import OrbiterRedis
import Synchronization

extension Worker {
    // MARK: Claiming

    func claimLoop() async {
        let slots = AsyncStream<Void>.makeStream()
        let maintenanceInterval = Duration.milliseconds(max(200, configuration.leaseSeconds * 1000 / 3))
        let blockMs = min(1000, max(100, configuration.leaseSeconds * 1000 / 3))
        var nextMaintenance = ContinuousClock.now
        // A stop wakes a loop that waits for a free slot, so draining starts at once.
        stopSignal.onStop { slots.continuation.yield() }
        await withDiscardingTaskGroup { tasks in
            var backoff = Backoff(initial: .milliseconds(100), maximum: .seconds(5))
            while !stopSignal.isStopped {
                let free = configuration.concurrency - running.count
                if free <= 0 {
                    // Wait for a slot (or a stop), never spinning.
                    var it = slots.stream.makeAsyncIterator()
                    _ = await it.next()
                    continue
                }
                let reply: RedisReply
                var entries: [(id: String, fields: [String: String])]
                do {
                    if ContinuousClock.now >= nextMaintenance {
                        nextMaintenance = ContinuousClock.now + maintenanceInterval
                        try await promoteDelayed()
                        entries = try await reclaimExpired(limit: min(free, Self.claimBatch))
                    } else {
                        entries = []
                    }
                    if entries.isEmpty {
                        let (count, consumer, stream) = (min(free, Self.claimBatch), configuration.workerID, keys.stream)
                        reply = try await stopSignal.cancelOnStop { [client] in
                            try await client.blocking(["XREADGROUP", "GROUP", QueueKeys.group, consumer, "COUNT", count,
                                                       "BLOCK", blockMs, "STREAMS", stream, ">"])
                        }
                        entries = StreamReplies.firstStream(reply)
                    }
                    backoff.reset()
                    if !stopSignal.isStopped { healthy.withLock { $0 = true } }
                } catch {
                    if stopSignal.isStopped || Task.isCancelled { break }
                    healthy.withLock { $0 = false }
                    let delay = backoff.next()
                    log("cannot read the queue (\(error)); retrying in \(delay)", level: .warning)
                    try? await Task.sleep(for: delay)
                    continue
                }
                var claims: [ClaimedEntry] = []
                for entry in entries {
                    guard let taskID = entry.fields["task"] else {
                        _ = try? await client.pipeline([["XACK", keys.stream, QueueKeys.group, entry.id], ["XDEL", keys.stream, entry.id]])
                        log("dropped queue entry \(entry.id) without a task id", level: .warning)
                        continue
                    }
                    claims.append(ClaimedEntry(entryID: entry.id, taskID: taskID))
                }
                let outcomes: [StartOutcome]
                do {
                    outcomes = try await metrics.redis("start") { try await broker.start(claims, workerID: configuration.workerID) }
                } catch {
                    // The entries stay claimed but unstarted; their leases lapse and a worker takes them over.
                    log("could not start \(claims.count) task(s) (\(error)); they stay queued", level: .warning)
                    continue
                }
                for (claim, outcome) in zip(claims, outcomes) {
                    guard case .run(let payload, let attempt, let signature, let checkpoint, let lease, let reply) = outcome else {
                        if case .drop(let reason) = outcome { log("task \(claim.taskID): skipped (\(reason))", task: claim.taskID) }
                        continue
                    }
                    running.add(claim.taskID, entryID: claim.entryID, lease: lease) { _ in } // reserve the slot until the task registers its stop handle
                    tasks.addTask {
                        await self.process(claim, payloadText: payload, attempt: attempt, signature: signature, checkpoint: checkpoint,
                                           lease: lease, reply: reply)
                        self.running.remove(claim.taskID, lease: lease)
                        slots.continuation.yield()
                    }
                }
            }
            await releaseUnstarted()
            await drain(tasks: &tasks)
        }
    }

    /// Entries delivered to this worker that it never started (a stop cut a read short, or a
    /// start failed) go back to the queue, so other workers need not wait out their lease.
    func releaseUnstarted() async {
        do {
            let history = try await client.send(["XREADGROUP", "GROUP", QueueKeys.group, configuration.workerID, "COUNT", 1000,
                                                 "STREAMS", keys.stream, "0"])
            let held = Set(running.leases.map(\.entryID))
            let claims = StreamReplies.firstStream(history).compactMap { entry -> ClaimedEntry? in
                guard !held.contains(entry.id), let taskID = entry.fields["task"] else { return nil }
                return ClaimedEntry(entryID: entry.id, taskID: taskID)
            }
            guard !claims.isEmpty else { return }
            let count = try await broker.release(claims)
            if count > 0 { log("put \(count) claimed but unstarted task(s) back on the queue") }
        } catch {
            log("could not put unstarted tasks back (\(error)); they are taken over once their lease lapses", level: .warning)
        }
    }

    func drain(tasks: inout DiscardingTaskGroup) async {
        guard running.count > 0 else { return }
        log("draining \(running.count) running task(s) for up to \(configuration.drainTimeout)")
        let deadline = ContinuousClock.now + configuration.drainTimeout
        while running.count > 0, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        if running.count > 0 {
            log("drain timeout: putting \(running.count) task(s) still running back on the queue, for other workers to resume",
                level: .warning)
            for id in running.ids { running.stop(id, reason: .shutdown) }
        }
    }


    // MARK: Retries and takeover

    /// Moves delayed retries whose time has come back onto the queue, and drops index entries of
    /// tasks older than the task TTL (their hashes have expired).
    func promoteDelayed() async throws {
        let now = TaskBroker.nowMs()
        try await broker.promoteDelayed(now: now)
        _ = try await client.send(["ZREMRANGEBYSCORE", keys.index, "-inf", "(" + String(now - Int64(configuration.settings.taskTTL) * 1000)])
    }

    /// Takes over entries whose lease expired (their worker stopped renewing: it died). Redis looks
    /// at no more than about 10×COUNT pending entries per call, so each sweep continues where the
    /// last one stopped (Redis answers the cursor `0-0` after the end): entries of a dead worker
    /// behind many live ones are reached too.
    func reclaimExpired(limit: Int) async throws -> [(id: String, fields: [String: String])] {
        let cursor = reclaimCursor.withLock { $0 }
        let reply = try await client.send(["XAUTOCLAIM", keys.stream, QueueKeys.group, configuration.workerID,
                                           configuration.leaseSeconds * 1000, cursor, "COUNT", limit])
        guard let parts = reply.array, parts.count >= 2 else { return [] }
        reclaimCursor.withLock { $0 = parts[0].string ?? "0-0" }
        var runnable: [(id: String, fields: [String: String])] = []
        for entry in StreamReplies.entries(parts[1]) {
            guard let taskID = entry.fields["task"] else {
                _ = try await client.pipeline([["XACK", keys.stream, QueueKeys.group, entry.id], ["XDEL", keys.stream, entry.id]])
                continue
            }
            let payload = try? await client.send(["HGET", keys.task(taskID), "payload"]).string.map { try TaskPayload(jsonText: $0) }
            let allowed = 1 + ((payload ?? nil)?.maxRetries ?? configuration.maxRetries)
            let agentName = (payload ?? nil)?.node["name"]?.stringValue ?? ""
            let retrying = StreamEvent.status(StatusEvent(status: .retrying, agentName: agentName,
                                                          message: "worker lost; \(configuration.workerID) takes the task over"))
            let dead = StreamEvent.status(StatusEvent(status: .error, agentName: agentName, message: "worker lost and no attempts left"))
            let cancelled = StreamEvent.status(StatusEvent(status: .cancelled, agentName: agentName,
                                                           message: "cancelled by request while its worker was lost"))
            switch try await broker.reclaim(taskID, entryID: entry.id, allowedAttempts: allowed, retrying: retrying, dead: dead,
                                            cancelled: cancelled) {
            case .run:
                log("task \(taskID): lease expired; taking it over", task: taskID)
                runnable.append(entry)
            case .dead:
                metrics.failed.increment()
                metrics.deadLettered.increment()
                log("task \(taskID): lease expired and no attempts left; failed", level: .warning, task: taskID, agent: agentName)
            case .cancelled:
                metrics.cancelled.increment()
                log("task \(taskID): lease expired and a cancel was requested; cancelled, not run again", task: taskID, agent: agentName)
            case .skip: break
            }
        }
        return runnable
    }

    /// Renews the leases of running tasks every third of the lease.
}
