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

    /// Claims with `claim.lua` (promotion of due tasks, priorities, the concurrency cap and the
    /// starts in one round trip); when it says there is nothing to take, waits on a plain `XREAD`
    /// of the level streams from the positions it saw, at most until the next due time, so a new
    /// entry or a due delayed task starts within milliseconds. Every third of a lease (when it has
    /// free slots) it also takes over tasks whose lease lapsed, on every level.
    func claimLoop() async {
        let slots = AsyncStream<Void>.makeStream()
        let maintenanceInterval = Duration.milliseconds(max(200, configuration.leaseSeconds * 1000 / 3))
        let blockMs = Int64(min(1000, max(100, configuration.leaseSeconds * 1000 / 3)))
        var nextMaintenance = ContinuousClock.now
        var streams = [keys.stream]
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
                var items: [ClaimBatch.Item] = []
                var wait: ClaimBatch.Wait?
                do {
                    if ContinuousClock.now >= nextMaintenance {
                        nextMaintenance = ContinuousClock.now + maintenanceInterval
                        try await trimIndex()
                        items = try await reclaimExpired(streams: streams, limit: min(free, Self.claimBatch))
                    }
                    if items.isEmpty {
                        let batch = try await metrics.redis("claim") {
                            try await broker.claim(limit: min(free, Self.claimBatch), workerID: configuration.workerID,
                                                   starvationAgeMs: Int64(configuration.starvationAge.inMilliseconds))
                        }
                        (items, wait, streams) = (batch.items, batch.wait, batch.streams.isEmpty ? [keys.stream] : batch.streams)
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
                for item in items {
                    let claim = item.claim
                    guard case .run(let payload, let attempt, let signature, let checkpoint, let lease, let reply) = item.outcome else {
                        if case .drop(let reason) = item.outcome { log("task \(claim.taskID): skipped (\(reason))", task: claim.taskID) }
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
                if let wait, configuration.concurrency > running.count, !stopSignal.isStopped {
                    await waitForWork(wait, blockMs: blockMs)
                }
            }
            await releaseUnstarted(streams: streams)
            await drain(tasks: &tasks)
        }
    }

    /// How long a worker waits before it looks again when the queue's concurrency cap is reached
    /// (a task ending elsewhere frees room, and no stream shows that).
    static let capRecheck: Int64 = 50

    /// Redis ends a blocking read's timeout on its own timer, up to 1/hz (100 ms by default) late;
    /// a wait for a due time blocks until this much before it and sleeps the rest here.
    static let redisTimerSlack: Int64 = 110

    /// Blocks until an entry arrives after the positions claim.lua saw (a new task on any level, a
    /// new scheduled task on the wake stream), the next delayed task is due, or `blockMs` passed.
    /// A plain XREAD without a group: it only wakes the worker; claim.lua takes the entries. With
    /// the concurrency cap reached it just waits `capRecheck`.
    func waitForWork(_ wait: ClaimBatch.Wait, blockMs: Int64) async {
        let now = TaskBroker.nowMs()
        let untilDue = wait.nextDueMs.map { $0 - now }
        if let untilDue, untilDue <= 0 { return }
        if wait.capped || wait.positions.isEmpty {
            await pause(ms: min(Self.capRecheck, untilDue ?? Self.capRecheck))
            return
        }
        var timeout = blockMs
        var sleepToDue = false
        if let untilDue, untilDue <= blockMs + Self.redisTimerSlack {
            timeout = untilDue - Self.redisTimerSlack
            sleepToDue = true
            if timeout <= 0 {
                await pause(ms: untilDue)
                return
            }
        }
        let (streams, ids) = (wait.positions.map(\.stream), wait.positions.map(\.id))
        let woken: Bool
        do {
            woken = !(try await stopSignal.cancelOnStop { [client, timeout] in
                try await client.blocking(["XREAD", "COUNT", 1, "BLOCK", timeout, "STREAMS"]
                                          + streams.map { $0 as any RedisArgument } + ids.map { $0 as any RedisArgument })
            }).isNull
        } catch {
            return // the next claim reports a Redis that is gone, with backoff; a stop ends the loop
        }
        if !woken, sleepToDue, let due = wait.nextDueMs { await pause(ms: due - TaskBroker.nowMs()) }
    }

    /// Sleeps `ms` milliseconds (nothing when not positive), cut short by a stop.
    private func pause(ms: Int64) async {
        guard ms > 0, !stopSignal.isStopped else { return }
        _ = try? await stopSignal.cancelOnStop { try await Task.sleep(for: .milliseconds(ms)) }
    }

    /// Entries delivered to this worker that it never started (a stop cut a read short, or a
    /// start failed) go back to the queue, so other workers need not wait out their lease.
    func releaseUnstarted(streams: [String]) async {
        let held = Set(running.leases.map(\.entryID))
        var count = 0
        for stream in streams {
            do {
                let history = try await client.send(["XREADGROUP", "GROUP", QueueKeys.group, configuration.workerID, "COUNT", 1000,
                                                     "STREAMS", stream, "0"])
                let claims = StreamReplies.firstStream(history).compactMap { entry -> ClaimedEntry? in
                    guard !held.contains(entry.id), let taskID = entry.fields["task"] else { return nil }
                    return ClaimedEntry(entryID: entry.id, taskID: taskID)
                }
                guard !claims.isEmpty else { continue }
                count += try await broker.release(claims, stream: stream)
            } catch {
                log("could not put unstarted tasks of \(stream) back (\(error)); they are taken over once their lease lapses",
                    level: .warning)
            }
        }
        if count > 0 { log("put \(count) claimed but unstarted task(s) back on the queue") }
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

    /// Drops index entries of tasks older than the task TTL (their hashes have expired). Delayed
    /// retries and scheduled tasks are promoted by every claim (claim.lua).
    func trimIndex() async throws {
        let now = TaskBroker.nowMs()
        _ = try await client.send(["ZREMRANGEBYSCORE", keys.index, "-inf", "(" + String(now - Int64(configuration.settings.taskTTL) * 1000)])
    }

    /// Takes over entries whose lease expired (their worker stopped renewing: it died), on every
    /// level stream, and starts them; returns what it started. Redis looks at no more than about
    /// 10×COUNT pending entries per call, so each sweep of a stream continues where the last one
    /// stopped (Redis answers the cursor `0-0` after the end): entries of a dead worker behind many
    /// live ones are reached too.
    func reclaimExpired(streams: [String], limit: Int) async throws -> [ClaimBatch.Item] {
        var items: [ClaimBatch.Item] = []
        for stream in streams where items.count < limit {
            let runnable = try await reclaimExpired(stream: stream, limit: limit - items.count)
            guard !runnable.isEmpty else { continue }
            let outcomes = try await metrics.redis("start") {
                try await broker.start(runnable, workerID: configuration.workerID, stream: stream)
            }
            items += zip(runnable, outcomes).map { ClaimBatch.Item(claim: $0.0, stream: stream, outcome: $0.1) }
        }
        return items
    }

    private func reclaimExpired(stream: String, limit: Int) async throws -> [ClaimedEntry] {
        let cursor = reclaimCursor.withLock { $0[stream] ?? "0-0" }
        let reply: RedisReply
        do {
            reply = try await client.send(["XAUTOCLAIM", stream, QueueKeys.group, configuration.workerID,
                                           configuration.leaseSeconds * 1000, cursor, "COUNT", limit])
        } catch RedisError.server(let message) where message.hasPrefix("NOGROUP") {
            return [] // a level no task was read from yet
        }
        guard let parts = reply.array, parts.count >= 2 else { return [] }
        reclaimCursor.withLock { $0[stream] = parts[0].string ?? "0-0" }
        var runnable: [ClaimedEntry] = []
        for entry in StreamReplies.entries(parts[1]) {
            guard let taskID = entry.fields["task"] else {
                _ = try await client.pipeline([["XACK", stream, QueueKeys.group, entry.id], ["XDEL", stream, entry.id]])
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
            switch try await broker.reclaim(taskID, entryID: entry.id, stream: stream, allowedAttempts: allowed, retrying: retrying,
                                            dead: dead, cancelled: cancelled) {
            case .run:
                log("task \(taskID): lease expired; taking it over", task: taskID)
                runnable.append(ClaimedEntry(entryID: entry.id, taskID: taskID))
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
