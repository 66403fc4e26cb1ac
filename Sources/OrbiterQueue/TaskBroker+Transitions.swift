import OrbiterCore
import OrbiterRedis

/// The worker's side of the task lifecycle: one typed call per transition script, so KEYS and
/// ARGV are built in one place, in the order each script's header lists them.
extension TaskBroker {
    /// finish.lua: the run ends `completed`, `failed` or `cancelled` with its one terminal event.
    /// Returns false when the task is no longer running under `lease` (nothing was written).
    /// `usage`: the run's tokens and cost by model, added to the minute's usage counters (`queue stats`).
    /// `events`: the run's events still waiting when it ended, appended before the terminal event
    /// in the same step (each once, as `append` would: numbers already stored are skipped).
    package func finish(_ taskID: String, status: TaskStatus, result: String, error: String, terminal: StatusEvent,
                        workerID: String, lease: String, resultInEvent: Bool, now: Int64 = TaskBroker.nowMs(),
                        usage: [ModelUsage] = [], events: RunEvents? = nil) async throws -> Bool {
        let counted = ModelUsage.bounded(usage)
        let event = StreamEvent.status(terminal).jsonString
        let waiting = events?.events ?? []
        let firstSeq = events?.firstSeq ?? 1
        if counted.isEmpty {
            // Without usage to count: in a batch with the outcomes that arrive meanwhile (finish_many.lua).
            let outcome = FinishOutcome(taskID: taskID, workerID: workerID, lease: lease, status: status.rawValue, result: result,
                                        error: error, event: event, at: now, resultInEvent: resultInEvent,
                                        firstSeq: firstSeq, events: waiting)
            return try await finishes.run(outcome) { [self] batch in try await finishMany(batch) }
        }
        var keyList = [keys.task(taskID), keys.stream, keys.events(taskID), keys.dead, keys.counter(status.rawValue, minute: now / 60_000),
                       keys.expiringTasks, keys.expiringEvents]
        var args: [any RedisArgument] = [QueueKeys.group, workerID, status.rawValue, result, error,
                                         event, String(now), settings.taskTTL,
                                         settings.eventsTTL, taskID, resultInEvent ? "1" : "", lease,
                                         settings.maxEventsPerTask, firstSeq, waiting.count]
        for event in waiting { args.append(event) }
        keyList.append(keys.usage(minute: now / 60_000))
        for u in counted { args += [u.model, String(u.inputTokens), String(u.outputTokens), u.cost.map { String($0) } ?? ""] }
        let reply = try await runAcknowledged(QueueScripts.finish, taskID: taskID, what: "finish", keys: keyList, args: args)
        return reply.int != 0
    }

    /// One outcome for `finish_many.lua` (its ARGV per task).
    struct FinishOutcome: Sendable {
        var taskID, workerID, lease, status, result, error, event: String
        var at: Int64
        var resultInEvent: Bool
        /// The run's events still waiting when it ended (numbered from `firstSeq` within the run).
        var firstSeq: Int
        var events: [String]
    }

    /// One finish of `finish`'s batches (`finish_many.lua`): one flag per outcome, in order.
    private func finishMany(_ batch: [FinishOutcome]) async throws -> [Bool] {
        var keyList = [keys.stream, keys.dead, keys.expiringTasks, keys.expiringEvents]
        var args: [any RedisArgument] = [QueueKeys.group, settings.taskTTL, settings.eventsTTL, settings.maxEventsPerTask]
        keyList.reserveCapacity(4 + 3 * batch.count)
        args.reserveCapacity(4 + batch.reduce(0) { $0 + 11 + $1.events.count })
        for o in batch {
            keyList += [keys.task(o.taskID), keys.events(o.taskID), keys.counter(o.status, minute: o.at / 60_000)]
            args += [o.taskID, o.workerID, o.lease, o.status, o.result, o.error, o.event, String(o.at), o.resultInEvent ? "1" : "",
                     o.firstSeq, o.events.count]
            for event in o.events { args.append(event) }
        }
        // A batch of one names its task in a durability error; a bigger one its first.
        let reply = try await runAcknowledged(QueueScripts.finishMany, taskID: batch[0].taskID, what: "finish", keys: keyList, args: args)
        guard let flags = reply.array, flags.count == batch.count else {
            throw DistributedError.badPayload("finish_many: unexpected reply \(reply)")
        }
        return flags.map { $0.int != 0 }
    }

    /// retry.lua: a retryable failure waits in the delayed set until `runAt` (ms since 1970).
    package func scheduleRetry(_ taskID: String, runAt: Int64, error: String, event: StreamEvent, workerID: String,
                               lease: String) async throws {
        _ = try await client.run(QueueScripts.retry, keys: [keys.task(taskID), keys.stream, keys.events(taskID), keys.delayed],
                                 args: [QueueKeys.group, workerID, String(runAt), error, event.jsonString, taskID, lease])
    }

    /// What handback.lua did with a task its stopping worker gave back.
    package enum HandBackResult: Sendable { case requeued, cancel, notOwned }

    /// handback.lua: a task still running when its worker's drain time ran out goes back on the queue.
    package func handBack(_ taskID: String, event: StreamEvent, workerID: String, lease: String) async throws -> HandBackResult {
        let reply = try await client.run(QueueScripts.handback, keys: [keys.task(taskID), keys.stream, keys.events(taskID)],
                                         args: [QueueKeys.group, workerID, lease, taskID, event.jsonString])
        switch reply.string {
        case "requeued": return .requeued
        case "cancel": return .cancel
        default: return .notOwned
        }
    }

    /// What reclaim.lua decided for a task whose lease lapsed.
    package enum ReclaimResult: Sendable { case run, dead, cancelled, skip }

    /// reclaim.lua: takes over the task of queue entry `entryID` (already XAUTOCLAIMed by the caller).
    /// `stream`: the level stream the entry is in (default: the default level's).
    package func reclaim(_ taskID: String, entryID: String, stream: String? = nil, allowedAttempts: Int, retrying: StreamEvent,
                         dead: StreamEvent, cancelled: StreamEvent) async throws -> ReclaimResult {
        let reply = try await client.run(QueueScripts.reclaim, keys: [keys.task(taskID), stream ?? keys.stream, keys.events(taskID), keys.dead],
                                         args: [QueueKeys.group, entryID, String(TaskBroker.nowMs()), allowedAttempts, retrying.jsonString,
                                                dead.jsonString, settings.taskTTL, settings.eventsTTL, taskID, cancelled.jsonString])
        switch reply.string {
        case "run": return .run
        case "dead": return .dead
        case "cancelled": return .cancelled
        default: return .skip
        }
    }

    /// renew.lua: renews this worker's leases; returns the positions (0-based) of those it lost.
    package func renew(_ leases: [(taskID: String, entryID: String, lease: String)], workerID: String) async throws -> [Int] {
        let reply = try await client.run(QueueScripts.renew, keys: [keys.stream] + leases.map { keys.task($0.taskID) },
                                         args: [QueueKeys.group, workerID] + leases.map { $0.entryID as any RedisArgument }
                                             + leases.map { $0.lease as any RedisArgument })
        return (reply.array ?? []).compactMap(\.int).filter { $0 >= 1 && Int($0) <= leases.count }.map { Int($0) - 1 }
    }

    /// heartbeat.lua: `mode` "start" (refused with `INUSE …` while a live worker holds the id),
    /// "beat" or "stop"; `fields` are stored on the worker's hash.
    package func heartbeat(workerID: String, ttl: Int, instance: String, mode: String,
                           fields: [(String, any RedisArgument)]) async throws {
        var args: [any RedisArgument] = [workerID, String(TaskBroker.nowMs()), ttl, instance, mode]
        for (name, value) in fields { args += [name, value] }
        _ = try await client.run(QueueScripts.heartbeat, keys: [keys.worker(workerID), keys.workers], args: args)
    }

    /// promote.lua: delayed retries and scheduled tasks whose time has come go on the queue (at most `limit` of each).
    package func promoteDelayed(limit: Int = 100, now: Int64 = TaskBroker.nowMs()) async throws {
        _ = try await client.run(QueueScripts.promote, keys: [keys.delayed, keys.stream, keys.scheduled], args: [String(now), limit, keys.taskPrefix])
    }

    /// release.lua: entries this worker claimed but never started go back on the queue; returns how many.
    package func release(_ claims: [ClaimedEntry], stream: String? = nil) async throws -> Int {
        let reply = try await client.run(QueueScripts.release, keys: [stream ?? keys.stream] + claims.map { keys.task($0.taskID) },
                                         args: [QueueKeys.group as any RedisArgument] + claims.map { $0.entryID as any RedisArgument }
                                             + claims.map { $0.taskID as any RedisArgument })
        return Int(reply.int ?? 0)
    }

    /// checkpoint.lua: stores the state to resume from; false once the run lost its lease.
    package func checkpoint(_ taskID: String, lease: String, state: String) async throws -> Bool {
        try await client.run(QueueScripts.checkpoint, keys: [keys.task(taskID)], args: [lease, state]).int != 0
    }

    /// One run's events for `append`: numbers `firstSeq`, `firstSeq + 1`... within the run.
    package struct RunEvents: Sendable {
        package var taskID: String
        package var lease: String
        package var firstSeq: Int
        package var events: [String]
        package var lastSeq: Int { firstSeq + events.count - 1 }

        package init(taskID: String, lease: String, firstSeq: Int, events: [String]) {
            self.taskID = taskID
            self.lease = lease
            self.firstSeq = firstSeq
            self.events = events
        }
    }

    /// append.lua: appends several runs' numbered events in one call; per run, false when it lost
    /// its lease (the others are appended all the same).
    package func append(_ runs: [RunEvents]) async throws -> [Bool] {
        var keyList: [String] = []
        keyList.reserveCapacity(2 * runs.count)
        var args: [any RedisArgument] = [settings.maxEventsPerTask, settings.eventsTTL + settings.taskTTL]
        args.reserveCapacity(2 + runs.reduce(0) { $0 + 3 + $1.events.count })
        for run in runs {
            keyList.append(keys.task(run.taskID))
            keyList.append(keys.events(run.taskID))
            args.append(run.lease)
            args.append(run.firstSeq)
            args.append(run.events.count)
            for event in run.events { args.append(event) }
        }
        let reply = try await client.run(QueueScripts.append, keys: keyList, args: args)
        guard let results = reply.array, results.count == runs.count else {
            throw RedisError.protocolError("append.lua answered \(reply) for \(runs.count) runs")
        }
        return results.map { $0.int != 0 }
    }
}

extension TaskBroker {
    /// The most members of each retention set one `sweep` call handles (a call deletes up to
    /// twice as many keys, with UNLINK, so Redis frees them in the background).
    package static let sweepLimit = 500

    /// sweep.lua: deletes the hashes and events streams of finished tasks whose retention is
    /// over (the task TTL, the events TTL after they ended). Returns how many were due; call
    /// again while that is `2 × sweepLimit`.
    package func sweepFinished(now: Int64 = TaskBroker.nowMs(), limit: Int = TaskBroker.sweepLimit) async throws -> Int {
        try await client.run(QueueScripts.sweep, keys: [keys.expiringTasks, keys.expiringEvents], args: [String(now), limit]).int.map(Int.init) ?? 0
    }
}
