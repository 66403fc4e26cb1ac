import Foundation
import OrbiterCore
import OrbiterLua
import OrbiterRedis
import Synchronization

/// The client side of a queue: submits tasks and reads or changes their state. Every state
/// change is one of the queue's atomic scripts.
public final class TaskBroker: Sendable {
    public let client: RedisClient
    public let keys: QueueKeys
    public let settings: QueueSettings
    /// Bundles this process knows are stored (so they are not sent again on every submit), with
    /// when it last stored one or refreshed its TTL (ms since 1970): within `bundleRefreshMs` of
    /// that, a submit only checks that the bundle is still there (in the task's EXISTS) instead of
    /// refreshing its TTL again.
    let storedBundles = Mutex<[String: Int64]>([:])
    /// Outcomes without usage on their way to Redis, a batch per `finish_many.lua` call.
    let finishes = GroupCommit<FinishOutcome, Bool>(limit: 256, lanes: 2)
    /// Submits that arrive while two are under way go out together, a batch per
    /// `submit_many.lua` call (see `store`).
    let submits = GroupCommit<GroupedSubmit, Result<(id: String, isNew: Bool), any Error>>(limit: TaskBroker.submitManyChunk, lanes: 2)
    /// Whether this broker has added its queue to `QueueKeys.registry`.
    private let registered = Mutex(false)
    /// The connection acknowledged writes go on (see `runAcknowledged`); nil with durability `none`.
    let acknowledgedLane: RedisClient?
    /// Whether the server was checked to support `settings.durability` (`checkDurability`).
    let durabilityChecked = Mutex(false)

    /// Connects lazily to `redisURL` (default `ORBITER_REDIS_URL`, else `redis://127.0.0.1:6379`).
    public init(redisURL: String? = nil, queue: String = "default", settings: QueueSettings = QueueSettings(),
                client: RedisClient? = nil) throws {
        let url = try redisURL.map { try RedisURL($0) } ?? RedisURL.fromEnvironment()
        self.client = client ?? RedisClient(url: url)
        self.keys = try QueueKeys(queue: queue)
        self.settings = settings
        self.acknowledgedLane = settings.durability.level == .none ? nil : RedisClient(url: self.client.url)
    }

    package static func nowMs() -> Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded()) }

    /// Stores and queues a task; returns its id. With an `idempotencyKey` seen within the task TTL,
    /// returns that earlier task's id instead and stores nothing — when the earlier task has the
    /// same work (`TaskPayload.workDigest`: agent, bundle, input, messages); a key reused for other
    /// work throws `idempotencyConflict`, and an empty key `invalidArgument`. The id is chosen here before
    /// anything is sent (or given as `taskID`), so a submit whose reply was lost is sent again with
    /// the same id and never makes a second task. Throws `queueFull` when the queue holds
    /// `settings.maxPending` tasks.
    public func submit(_ payload: TaskPayload, bundle: ScriptBundle?, idempotencyKey: String? = nil, taskID: String? = nil) async throws -> String {
        try await store(payload, bundle: bundle, idempotencyKey: idempotencyKey, taskID: taskID).id
    }

    /// The latest start time a task may be given: a year ahead (a later one is a mistake, e.g.
    /// milliseconds given as seconds).
    public static let maxScheduleAhead = 366.0 * 86_400

    /// Refuses a priority outside 0...9 and a start time that is not a finite time within
    /// `maxScheduleAhead` (one in the past is fine: the task is queued at once).
    package static func checkPlacement(_ payload: TaskPayload) throws {
        if let priority = payload.priority { try TaskPriority.validate(priority) }
        if let runAt = payload.runAt {
            guard runAt.isFinite, runAt >= 0 else { throw DistributedError.invalidArgument("the start time (run at) must be a finite time, got \(runAt)") }
            let ahead = runAt - Date().timeIntervalSince1970
            guard ahead <= maxScheduleAhead else {
                throw DistributedError.invalidArgument("the start time is \(Int(ahead / 86_400)) days ahead; at most 366 days are allowed")
            }
        }
    }

    /// A submit whose reply was lost is sent again this many times (same id), a moment apart.
    package static let lostReplyRetries = 3

    /// `submit`, also saying whether the task is new (false: an earlier one with the same key).
    package func store(_ payload: TaskPayload, bundle: ScriptBundle?, idempotencyKey: String?, taskID chosen: String? = nil) async throws -> (id: String, isNew: Bool) {
        if let chosen { try TaskID.validate(chosen) }
        try Self.checkPlacement(payload)
        if let idempotencyKey, idempotencyKey.allSatisfy(\.isWhitespace) {
            throw DistributedError.invalidArgument("the idempotency key is empty; give a key that names the work (e.g. order-42), or none")
        }
        try await checkDurability()
        await registerQueue()
        guard chosen == nil else { return try await storeOne(payload, bundle: bundle, idempotencyKey: idempotencyKey, taskID: chosen!) }
        // Many submits at once from this process (a web server's requests, `distributed()` in a
        // task group): those that arrive while two calls are under way share the next one.
        let item = GroupedSubmit(task: NewTask(payload: payload, idempotencyKey: idempotencyKey), bundle: bundle)
        return try await submits.run(item) { [self] batch in await storeGrouped(batch) }.get()
    }

    /// `store` of one task in one `submit.lua` call, with the id `taskID`.
    func storeOne(_ payload: TaskPayload, bundle: ScriptBundle?, idempotencyKey: String?, taskID: String) async throws -> (id: String, isNew: Bool) {
        let payloadText = payload.json.jsonString
        let sha = bundle?.sha256 ?? ""
        let refreshed = storedBundles.withLock { $0[sha] }
        var sendBundle = bundle != nil && refreshed == nil
        var probeBundle = !sendBundle && refreshed.map { Self.nowMs() - $0 < bundleRefreshMs } ?? false
        var resends = 0
        while true {
            do {
                let sentAt = Self.nowMs()
                let reply = try await runAcknowledged(
                    QueueScripts.submit, taskID: taskID, what: "submit",
                    keys: [keys.task(taskID), keys.stream, keys.index, keys.bundle(sha.isEmpty ? "none" : sha), keys.idempotency(idempotencyKey),
                           keys.scheduled],
                    args: [taskID, payloadText, sendBundle ? bundle!.jsonString : "", String(Self.nowMs()), sha,
                           settings.bundleTTL, settings.maxPending, settings.signature(taskID: taskID, queue: keys.queue, payload: payload, payloadText: payloadText), settings.taskTTL,
                           idempotencyKey == nil ? "" : payload.workDigest,
                           JSONValue.object(payload.metadata.mapValues(JSONValue.string)).jsonString,
                           payload.priority.map(String.init) ?? "", payload.runAt.map { String(Int64(($0 * 1000).rounded())) } ?? "",
                           payload.agentName ?? "", probeBundle ? "1" : ""])
                if !sha.isEmpty && !probeBundle { noteBundleRefreshed(sha, at: sentAt) }
                guard let parts = reply.array, parts.count == 2, let id = parts[1].string else {
                    throw DistributedError.badPayload("unexpected reply to submit: \(reply)")
                }
                // "existing" with our own id: an earlier send of this submit was stored (its reply was lost).
                return (id, parts[0].string == "new" || id == taskID)
            } catch RedisError.server(let message) where message.hasPrefix("NOBUNDLE") && !sendBundle {
                sendBundle = true
                probeBundle = false
            } catch RedisError.server(let message) where submitRefusal(message, idempotencyKey: idempotencyKey) != nil {
                throw submitRefusal(message, idempotencyKey: idempotencyKey)!
            } catch RedisError.connection where resends < Self.lostReplyRetries && !Task.isCancelled {
                // The submit may or may not have been stored: send it again with the same id.
                resends += 1
                try await Task.sleep(for: .milliseconds(50 << resends))
            }
        }
    }

    /// How long after storing a bundle or refreshing its TTL a submit only checks that it is
    /// there: a minute, or a tenth of the TTL when that is shorter, so a bundle always outlives
    /// a submit by at least 90 % of its TTL.
    var bundleRefreshMs: Int64 { min(60_000, Int64(settings.bundleTTL) * 100) }

    /// Records that this client stored bundle `sha` or refreshed its TTL at `ms`.
    func noteBundleRefreshed(_ sha: String, at ms: Int64) {
        storedBundles.withLock { $0[sha] = max($0[sha] ?? 0, ms) }
    }

    /// The error a submit's refusal by the script stands for (`FULL ...`, `IDEMPOTENCY <task id>`),
    /// or nil for another message.
    func submitRefusal(_ message: String, idempotencyKey: String?) -> DistributedError? {
        if message.hasPrefix("IDEMPOTENCY ") {
            return .idempotencyConflict(key: idempotencyKey ?? "", taskID: String(message.dropFirst(12)))
        }
        if message.hasPrefix("FULL ") { return .queueFull(queue: keys.queue, message: String(message.dropFirst(5))) }
        return nil
    }

    /// Adds this queue to `QueueKeys.registry` (once per broker), so `otherQueue(holding:)`
    /// finds its tasks from elsewhere. Best effort: it only serves that hint.
    package func registerQueue() async {
        guard !registered.withLock({ $0 }) else { return }
        if (try? await client.send(["SADD", QueueKeys.registry, keys.queue])) != nil { registered.withLock { $0 = true } }
    }

    /// Another known queue (one submitted to or worked on) that holds a task with this id, for a
    /// "not found" that can say where the task is; nil when none does.
    public func otherQueue(holding taskID: String) async throws -> String? {
        try TaskID.validate(taskID)
        let others = (try await client.send(["SMEMBERS", QueueKeys.registry]).array ?? []).compactMap(\.string)
            .filter { $0 != keys.queue }.sorted().compactMap { try? QueueKeys(queue: $0) }
        guard !others.isEmpty else { return nil }
        let found = try await client.pipeline(others.map { ["EXISTS", $0.task(taskID)] })
        return zip(others, found).first { $0.1.int == 1 }?.0.queue
    }

    /// Runs a failed or cancelled task again from the start (its old events are dropped).
    public func requeue(_ taskID: String) async throws -> String {
        try TaskID.validate(taskID)
        let reply = try await client.run(QueueScripts.requeue, keys: [keys.task(taskID), keys.stream, keys.events(taskID), keys.index,
                                                                    keys.expiringTasks, keys.expiringEvents],
                                         args: [taskID, String(Self.nowMs())])
        // A task running again is no longer a dead letter (best effort: the list is only a report).
        if reply.string == "requeued" { try? await dropDeadLetters(of: [taskID]) }
        return reply.string ?? "?"
    }

    /// Failed tasks with their reasons, newest first.
    public func deadLetters(limit: Int = 20) async throws -> [DeadLetter] {
        let reply = try await client.send(["XREVRANGE", keys.dead, "+", "-", "COUNT", limit])
        return StreamReplies.entries(reply).map { entry in
            DeadLetter(id: entry.id, taskID: entry.fields["task"] ?? "", reason: entry.fields["reason"] ?? "",
                       attempts: Int(entry.fields["attempts"] ?? "") ?? 0,
                       at: Date(timeIntervalSince1970: (Double(entry.fields["at"] ?? "") ?? 0) / 1000))
        }
    }

    /// Deletes finished tasks with `status` created more than `olderThan` seconds ago, with their
    /// events and their dead-letter entries (`deadLetters`, the `dead` count of `stats`); returns
    /// how many.
    public func purge(status: TaskStatus, olderThan: Double) async throws -> Int {
        guard status.isFinished else {
            throw DistributedError.invalidArgument("only finished tasks can be purged (completed, failed, cancelled), not \(status.rawValue)")
        }
        guard olderThan.isFinite, olderThan >= 0 else {
            throw DistributedError.invalidArgument("the age must be a finite, non-negative number of seconds, got \(olderThan)")
        }
        // Ages beyond ~30,000 years purge nothing older than the epoch either; capped so the
        // milliseconds fit an Int64 (an age of 1e20 days crashed here).
        let cutoff = Self.nowMs() - Int64(min(olderThan, 1e12) * 1000)
        var purged: Set<String> = []
        var offset = 0
        while true {
            let ids = try await client.send(["ZRANGEBYSCORE", keys.index, "-inf", cutoff, "LIMIT", offset, 500]).array?.compactMap(\.string) ?? []
            if ids.isEmpty { break }
            let statuses = try await client.pipeline(ids.map { ["HGET", keys.task($0), "status"] })
            // Index entries whose task expired go too (they are not counted).
            var doomed: [String] = []
            for (id, s) in zip(ids, statuses) {
                if s.string == status.rawValue { purged.insert(id) }
                if s.string == status.rawValue || s.isNull { doomed.append(id) }
            }
            offset += ids.count - doomed.count
            if !doomed.isEmpty {
                _ = try await client.pipeline(doomed.flatMap { id -> [[any RedisArgument]] in
                    [["DEL", keys.task(id), keys.events(id)], ["ZREM", keys.index, id]]
                })
            }
            if ids.count < 500 { break }
        }
        try await dropDeadLetters(of: purged)
        return purged.count
    }

    /// Removes the dead-letter entries of these (purged) tasks.
    private func dropDeadLetters(of taskIDs: Set<String>) async throws {
        guard !taskIDs.isEmpty else { return }
        var start = "-"
        let page = 1000
        while true {
            let entries = StreamReplies.entries(try await client.send(["XRANGE", keys.dead, start, "+", "COUNT", page]))
            let doomed = entries.filter { taskIDs.contains($0.fields["task"] ?? "") }.map(\.id)
            if !doomed.isEmpty { _ = try await client.send((["XDEL", keys.dead] + doomed).map { $0 as any RedisArgument }) }
            guard entries.count == page, let last = entries.last else { return }
            start = "(" + last.id
        }
    }

    /// The task's stored state, or `nil` when there is no such task.
    public func status(_ taskID: String) async throws -> TaskResult? {
        try TaskID.validate(taskID)
        return try await TaskResult(taskID: taskID, fields: client.send(TaskResult.read(keys.task(taskID), withResult: true)),
                                    payload: { try await self.client.send(["HGET", self.keys.task(taskID), "payload"]).string })
    }

    /// Cancels a task: pending and parked ones at once, running ones through their worker.
    public func cancel(_ taskID: String) async throws -> CancelOutcome {
        try TaskID.validate(taskID)
        let terminal = StreamEvent.status(StatusEvent(status: .cancelled, agentName: "", message: "cancelled before it started"))
        let parked = StreamEvent.status(StatusEvent(status: .cancelled, agentName: "", message: "cancelled while waiting for input"))
        let reply = try await client.run(QueueScripts.cancel, keys: [keys.task(taskID), keys.stream, keys.events(taskID), keys.waiting, keys.scheduled],
                                         args: [QueueKeys.group, terminal.jsonString, String(Self.nowMs()), settings.taskTTL,
                                                settings.eventsTTL, keys.controlPrefix, taskID, parked.jsonString])
        switch reply.string {
        case "cancelled": return .cancelled
        case "cancelling": return .cancelling
        case "not_found": return .notFound
        case let s? where s.hasPrefix("already:"): return .alreadyFinished(TaskStatus(rawValue: String(s.dropFirst(8))) ?? .failed)
        default: throw DistributedError.badPayload("unexpected reply to cancel: \(reply)")
        }
    }

    /// Tasks newest first, optionally only those with `status` (parked tasks: soonest wait
    /// deadline first, read from the waiting set).
    public func list(status: TaskStatus? = nil, limit: Int = 20) async throws -> [TaskResult] {
        try await listPage(TaskListFilter(status: status), limit: limit).tasks
    }

    /// A consistent snapshot of the queue, from one atomic read.
    public func stats() async throws -> QueueStats {
        let reply = try await client.run(QueueScripts.stats, keys: [keys.stream, keys.delayed, keys.dead, keys.workers, keys.waiting,
                                                                    keys.scheduled, keys.concurrency],
                                         args: [QueueKeys.group, String(Self.nowMs()), keys.keyPrefix])
        let items = reply.array ?? []
        let v = items.prefix(11).map { Int($0.int ?? 0) }
        guard v.count == 11 else { throw DistributedError.badPayload("unexpected reply to stats: \(reply)") }
        return QueueStats(queue: keys.queue, pending: v[0], running: v[1], delayed: v[2], dead: v[3], completedLastHour: v[4],
                          failedLastHour: v[5], oldestPendingSeconds: v[6] < 0 ? nil : Double(v[6]) / 1000,
                          workersAlive: v[7], workersKnown: v[8], waiting: v[9], scheduled: v[10],
                          concurrencyCap: items.count > 11 ? items[11].string.flatMap { Int($0) } : nil,
                          perMinute: items.count > 14 ? MinuteCounts(firstMinute: items[12].int ?? 0,
                                                                     completed: items[13].array?.map { Int($0.int ?? 0) } ?? [],
                                                                     failed: items[14].array?.map { Int($0.int ?? 0) } ?? []) : nil)
    }

    /// Workers that sent a heartbeat in the last day, with whether they are alive.
    public func workers() async throws -> [WorkerInfo] {
        let ids = try await client.send(["ZREVRANGE", keys.workers, 0, -1, "WITHSCORES"]).array ?? []
        var pairs: [(String, Double)] = []
        var i = 0
        while i + 1 < ids.count {
            if let id = ids[i].string, let score = ids[i + 1].string.flatMap(Double.init) { pairs.append((id, score)) }
            i += 2
        }
        let hashes = try await client.pipeline(pairs.map { ["HGETALL", keys.worker($0.0)] })
        return zip(pairs, hashes).map { WorkerInfo(id: $0.0.0, lastSeenMs: $0.0.1, hash: $0.1) }
    }
}

/// What `orbiter queue stats` shows.
public struct QueueStats: Sendable, Equatable {
    public var queue: String
    public var pending: Int
    public var running: Int
    public var delayed: Int
    public var dead: Int
    public var completedLastHour: Int
    public var failedLastHour: Int
    public var oldestPendingSeconds: Double?
    public var workersAlive: Int
    public var workersKnown: Int
    /// Parked tasks, waiting for a person.
    public var waiting: Int = 0
    /// Tasks submitted with a delay or a start time that is not due yet.
    public var scheduled: Int = 0
    /// The queue's cap on running tasks across all workers (`queue set-concurrency`), nil: none.
    public var concurrencyCap: Int?
    /// Tasks that ended in each of the last 60 minutes: the dashboard's throughput chart.
    public var perMinute: MinuteCounts?

    public var json: JSONValue {
        ["queue": .string(queue), "pending": .int(pending), "running": .int(running), "delayed": .int(delayed), "dead": .int(dead),
         "waiting": .int(waiting), "scheduled": .int(scheduled), "concurrency_cap": concurrencyCap.map(JSONValue.int) ?? .null,
         "completed_last_hour": .int(completedLastHour), "failed_last_hour": .int(failedLastHour),
         "oldest_pending_s": oldestPendingSeconds.map(JSONValue.double) ?? .null,
         "workers_alive": .int(workersAlive), "workers_known": .int(workersKnown),
         "per_minute": perMinute?.json ?? MinuteCounts(firstMinute: 0, completed: [], failed: []).json]
    }
}

/// Counts per minute, oldest first, from the queue's per-minute counters (kept 2 hours).
public struct MinuteCounts: Sendable, Equatable {
    /// Minutes since 1970 of the first count.
    public var firstMinute: Int64
    public var completed: [Int]
    public var failed: [Int]

    public var json: JSONValue {
        ["since": .double(Double(firstMinute) * 60), "completed": .array(completed.map(JSONValue.int)), "failed": .array(failed.map(JSONValue.int))]
    }
}

/// A failed task recorded in the dead-letter stream.
public struct DeadLetter: Sendable {
    public var id: String
    public var taskID: String
    public var reason: String
    public var attempts: Int
    public var at: Date

    public var json: JSONValue {
        ["task_id": .string(taskID), "reason": .string(reason), "attempts": .int(attempts), "at": .double(at.timeIntervalSince1970), "id": .string(id)]
    }
}

/// A worker as its last heartbeat describes it (kept a day, so a dead worker keeps its counts).
public struct WorkerInfo: Sendable {
    public var id: String
    public var fields: [String: String]
    public var lastHeartbeat: Date
    /// False when the worker stopped, or its last heartbeat is older than its heartbeat TTL.
    public var alive: Bool

    /// `stopped` (it stopped cleanly), `dead` (its heartbeat lapsed), else what it reported
    /// (`running`, `draining`).
    public var state: String {
        if fields["status"] == "stopped" { return "stopped" }
        return alive ? fields["status"] ?? "running" : "dead"
    }

    package init(id: String, lastSeenMs: Double, hash: RedisReply) {
        self.id = id
        var fields: [String: String] = [:]
        let items = hash.array ?? []
        var i = 0
        while i + 1 < items.count {
            if let k = items[i].string { fields[k] = items[i + 1].string ?? "" }
            i += 2
        }
        self.fields = fields
        lastHeartbeat = Date(timeIntervalSince1970: lastSeenMs / 1000)
        let ttl = Double(fields["heartbeat_ttl"] ?? "") ?? 30
        alive = !fields.isEmpty && fields["status"] != "stopped" && Date().timeIntervalSince(lastHeartbeat) <= ttl
    }

    /// When the worker started (its heartbeats carry it in milliseconds).
    public var startedAt: Date? {
        fields["started_at"].flatMap(Double.init).map { Date(timeIntervalSince1970: $0 / 1000) }
    }

    /// Times are seconds since 1970 (`last_heartbeat`, `started_at`), as everywhere in `--json`.
    public var json: JSONValue {
        var d: [String: JSONValue] = ["worker_id": .string(id), "alive": .bool(alive), "state": .string(state),
                                      "last_heartbeat": .double(lastHeartbeat.timeIntervalSince1970)]
        for (k, v) in fields where !["last_heartbeat", "started_at", "instance"].contains(k) {
            d[k] = Int(v).map(JSONValue.int) ?? (try? JSONValue.parse(v)).flatMap { $0.arrayValue != nil ? $0 : nil } ?? .string(v)
        }
        d["started_at"] = startedAt.map { .double($0.timeIntervalSince1970) } ?? .null
        return .object(d)
    }
}
