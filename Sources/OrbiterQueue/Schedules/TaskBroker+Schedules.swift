import Foundation
import OrbiterCore
import OrbiterRedis

/// A schedule as `schedule list` shows it: its definition (nil when the stored one is broken:
/// `problem` says why), its next tick and its last firing.
public struct ScheduleInfo: Sendable {
    public var name: String
    public var queue: String
    public var schedule: Schedule?
    /// Why the stored definition cannot fire (a hash written by hand, a missing bundle...).
    public var problem: String?
    public var nextTick: Date?
    public var lastTick: String?
    public var lastTaskID: String?
    public var lastFiredAt: Date?
    public var lastError: String?

    /// Times are seconds since 1970, as everywhere in `--json`.
    public var json: JSONValue {
        var d: [String: JSONValue] = ["name": .string(name), "queue": .string(queue),
                                      "next_tick": nextTick.map { .double($0.timeIntervalSince1970) } ?? .null,
                                      "last_tick": lastTick.map(JSONValue.string) ?? .null,
                                      "last_task": lastTaskID.map(JSONValue.string) ?? .null,
                                      "last_fired_at": lastFiredAt.map { .double($0.timeIntervalSince1970) } ?? .null,
                                      "last_error": lastError.map(JSONValue.string) ?? .null,
                                      "problem": problem.map(JSONValue.string) ?? .null]
        if let s = schedule {
            switch s.timing {
            case .cron(let e): d["cron"] = .string(e.text)
            case .every(let seconds): d["every_seconds"] = .int(Int(seconds))
            }
            d["misfire"] = .string(s.misfire.rawValue)
            d["agent"] = s.template.node["name"] ?? .null
            d["input"] = .string(s.template.input)
            d["timeout"] = .double(s.template.timeout)
            d["metadata"] = .object(s.template.metadata.mapValues(JSONValue.string))
            d["created_at"] = .double(Double(s.createdAtMs) / 1000)
        }
        return .object(d)
    }
}

/// What one schedule sweep did with a due schedule (the worker logs it).
public enum ScheduleFiring: Sendable, Equatable {
    /// Submitted (or, `isNew` false, found submitted already by another worker) the tick's task.
    case fired(name: String, tick: String, taskID: String, isNew: Bool)
    /// The tick passed without a task (misfire policy `skip`, a full queue, a bad tick).
    case skipped(name: String, reason: String)
    /// The stored definition cannot fire; it is looked at again in a minute.
    case broken(name: String, reason: String)
    /// Its definition is gone; the orphaned tick was dropped.
    case removed(name: String)
    /// Submitting the tick's task failed (not a connection error); the tick stays due and the
    /// next sweep tries again.
    case failed(name: String, reason: String)
}

extension TaskBroker {
    /// How long a broken schedule waits before it is looked at again.
    static let brokenRetryMs: Int64 = 60_000

    /// Stores a schedule; its first tick is the first one after `now`. Throws `invalidArgument`
    /// when a schedule of that name exists (unless `replace`) or the timing never fires.
    @discardableResult
    public func addSchedule(_ schedule: Schedule, replace: Bool = false, now: Date = Date()) async throws -> (replaced: Bool, firstTick: Date) {
        guard let first = schedule.timing.next(afterSecond: Int64(now.timeIntervalSince1970.rounded(.down))) else {
            throw DistributedError.invalidArgument("\(schedule.timing) never fires within \(CronExpression.horizonYears) years")
        }
        let fields = schedule.fields(signature: schedule.signature(secret: settings.secret, queue: keys.queue))
        do {
            let reply = try await client.run(QueueScripts.scheduleAdd, keys: [keys.schedules, keys.schedule(schedule.name)],
                                             args: [schedule.name, replace ? "1" : "0", String(first * 1000)] + fields.flatMap { [$0.0, $0.1] })
            await registerQueue()
            return (reply.string == "replaced", Date(timeIntervalSince1970: Double(first)))
        } catch RedisError.server(let message) where message.hasPrefix("EXISTS ") {
            throw DistributedError.invalidArgument("schedule '\(schedule.name)' already exists on queue '\(keys.queue)'; pass --replace to "
                + "replace it, or remove it first (orbiter schedule remove \(schedule.name))")
        }
    }

    /// Deletes a schedule; false when there was none of that name.
    public func removeSchedule(_ name: String) async throws -> Bool {
        try Schedule.validate(name: name)
        return try await client.run(QueueScripts.scheduleRemove, keys: [keys.schedules, keys.schedule(name)], args: [name]).int == 1
    }

    /// Every queue this Redis has seen (`QueueKeys.registry`: submitted to, worked on, scheduled on), sorted.
    public func knownQueues() async throws -> [String] {
        (try await client.send(["SMEMBERS", QueueKeys.registry]).array ?? []).compactMap(\.string).sorted()
    }

    /// The queue's schedules, soonest next tick first.
    public func schedules() async throws -> [ScheduleInfo] {
        let pairs = Self.scorePairs(try await client.send(["ZRANGE", keys.schedules, 0, -1, "WITHSCORES"]))
        let hashes = try await client.pipeline(pairs.map { ["HGETALL", keys.schedule($0.member)] })
        return zip(pairs, hashes).map { info(name: $0.0.member, score: $0.0.score, fields: Self.fields($0.1)) }
    }

    /// One schedule, or nil when there is none of that name.
    public func schedule(named name: String) async throws -> ScheduleInfo? {
        try Schedule.validate(name: name)
        let replies = try await client.pipeline([["ZSCORE", keys.schedules, name], ["HGETALL", keys.schedule(name)]])
        let fields = Self.fields(replies[1])
        guard !fields.isEmpty else { return nil }
        return info(name: name, score: replies[0].string ?? "", fields: fields)
    }

    /// Submits the schedule's task now, apart from its ticks (metadata `schedule_tick` is
    /// `manual`); returns the task id. Its next tick is unchanged.
    public func runSchedule(_ name: String) async throws -> String {
        guard let found = try await schedule(named: name) else {
            throw DistributedError.invalidArgument("no schedule '\(name)' on queue '\(keys.queue)' (orbiter schedule list shows them)")
        }
        guard let schedule = found.schedule else {
            throw DistributedError.badPayload(found.problem ?? "schedule '\(name)' cannot be read")
        }
        return try await store(schedule.payload(tick: nil), bundle: schedule.bundle, idempotencyKey: nil).id
    }

    private func info(name: String, score: String, fields: [String: String]) -> ScheduleInfo {
        var info = ScheduleInfo(name: name, queue: keys.queue)
        do {
            let schedule = try Schedule(name: name, fields: fields)
            try schedule.verify(fields["signature"] ?? "", secret: settings.secret, queue: keys.queue)
            info.schedule = schedule
        } catch {
            info.problem = fields.isEmpty ? "schedule '\(name)': its definition is missing" : "\(error)"
        }
        info.nextTick = Double(score).flatMap { $0.isFinite ? Date(timeIntervalSince1970: $0 / 1000) : nil }
        info.lastTick = fields["last_tick"].flatMap { $0.isEmpty ? nil : $0 }
        info.lastTaskID = fields["last_task"].flatMap { $0.isEmpty ? nil : $0 }
        info.lastFiredAt = fields["last_fired_at"].flatMap(Double.init).map { Date(timeIntervalSince1970: $0 / 1000) }
        info.lastError = fields["last_error"].flatMap { $0.isEmpty ? nil : $0 }
        return info
    }

    // MARK: Firing

    /// One pass over the queue's due schedules (at most `limit`), as every worker makes it about
    /// once a second: each due tick becomes one task through the ordinary submit transition, with
    /// the idempotency key `schedule:<name>:<tick ms>` — workers racing on a tick, or one retrying
    /// after another died between submit and advance, make one task — and the schedule moves on
    /// with `schedule_advance.lua` (compare-and-set from that tick). Returns what it did and when
    /// the next tick is due (ms since 1970; nil without schedules), so the caller can sleep until
    /// then. One read when nothing is due.
    public func fireDueSchedules(now nowMs: Int64 = Int64((Date().timeIntervalSince1970 * 1000).rounded()), limit: Int = 10) async throws -> (firings: [ScheduleFiring], nextDueMs: Int64?) {
        let pairs = Self.scorePairs(try await client.send(["ZRANGE", keys.schedules, 0, limit - 1, "WITHSCORES"]))
        var firings: [ScheduleFiring] = []
        var nextDue: Int64?
        for (name, score) in pairs {
            guard let value = Double(score), value <= Double(nowMs) else {
                if let value = Double(score), value.isFinite { nextDue = min(nextDue ?? Int64(value), Int64(value)) }
                continue
            }
            do {
                firings.append(try await fire(name, score: score, nowMs: nowMs))
            } catch let error as RedisError {
                throw error
            } catch let error as CancellationError {
                throw error
            } catch {
                // One schedule's trouble does not hold up the others behind it.
                firings.append(.failed(name: name, reason: "\(error)"))
            }
        }
        // Every schedule read was due: there may be more behind them.
        if pairs.count == limit, firings.count == limit { nextDue = nowMs }
        return (firings, nextDue)
    }

    private func fire(_ name: String, score: String, nowMs: Int64) async throws -> ScheduleFiring {
        let fields = Self.fields(try await client.send(["HGETALL", keys.schedule(name)]))
        guard !fields.isEmpty else {
            try await advance(name, from: score, to: nil, tick: "", taskID: "", nowMs: nowMs, error: "")
            return .removed(name: name)
        }
        let schedule: Schedule
        do {
            schedule = try Schedule(name: name, fields: fields)
            try schedule.verify(fields["signature"] ?? "", secret: settings.secret, queue: keys.queue)
        } catch {
            let reason = "\(error)"
            try await advance(name, from: score, to: nowMs + Self.brokenRetryMs, tick: "", taskID: "", nowMs: nowMs, error: reason)
            return .broken(name: name, reason: reason)
        }
        let nowSecond = CronExpression.floorDiv(nowMs, 1000)
        // A score that is no time at all (written by hand): the schedule restarts from now, firing nothing.
        guard let tickValue = Double(score), tickValue.isFinite, tickValue >= 0, tickValue < 1e15 else {
            let reason = "its next tick '\(score)' is not a time; continuing from now"
            try await advance(name, from: score, to: schedule.timing.next(afterSecond: nowSecond).map { $0 * 1000 }, tick: "", taskID: "",
                              nowMs: nowMs, error: reason)
            return .skipped(name: name, reason: reason)
        }
        let tickMs = Int64(tickValue), tickSecond = CronExpression.floorDiv(tickMs, 1000)
        let following = schedule.timing.next(afterSecond: tickSecond)
        let fromNow = schedule.timing.next(afterSecond: max(tickSecond, nowSecond))
        let fires = schedule.misfire != .skip || following.map { $0 * 1000 > nowMs } ?? true
        let next = schedule.misfire == .all ? following : fromNow
        let tick = Schedule.tickText(tickMs)
        guard fires else {
            let reason = "tick \(tick) missed (misfire skip)"
            try await advance(name, from: score, to: next.map { $0 * 1000 }, tick: "", taskID: "", nowMs: nowMs, error: reason)
            return .skipped(name: name, reason: reason)
        }
        let taskID: String, isNew: Bool
        do {
            let stored = try await store(schedule.payload(tick: tickMs), bundle: schedule.bundle,
                                         idempotencyKey: Schedule.idempotencyKey(name: name, tick: tickMs))
            taskID = stored.id
            isNew = stored.isNew
        } catch DistributedError.idempotencyConflict(_, let earlier) {
            // The tick fired already, under an earlier definition of this name.
            taskID = earlier
            isNew = false
        } catch DistributedError.queueFull(_, let message) {
            let reason = "tick \(tick) skipped: the queue is full (\(message))"
            try await advance(name, from: score, to: next.map { $0 * 1000 }, tick: "", taskID: "", nowMs: nowMs, error: reason)
            return .skipped(name: name, reason: reason)
        }
        try await advance(name, from: score, to: next.map { $0 * 1000 }, tick: tick, taskID: taskID, nowMs: nowMs, error: "")
        return .fired(name: name, tick: tick, taskID: taskID, isNew: isNew)
    }

    private func advance(_ name: String, from score: String, to next: Int64?, tick: String, taskID: String, nowMs: Int64, error: String) async throws {
        _ = try await client.run(QueueScripts.scheduleAdvance, keys: [keys.schedules, keys.schedule(name)],
                                 args: [name, score, next.map(String.init) ?? "", tick, taskID, String(nowMs), String(error.prefix(1000))])
    }

    /// `[member, score, member, score...]` as pairs.
    static func scorePairs(_ reply: RedisReply) -> [(member: String, score: String)] {
        let items = reply.array ?? []
        return stride(from: 0, to: items.count - 1, by: 2).compactMap { i in
            guard let member = items[i].string, let score = items[i + 1].string else { return nil }
            return (member, score)
        }
    }

    /// An `HGETALL` reply as a dictionary.
    static func fields(_ reply: RedisReply) -> [String: String] {
        let items = reply.array ?? []
        var fields: [String: String] = [:]
        for i in stride(from: 0, to: items.count - 1, by: 2) {
            if let k = items[i].string { fields[k] = items[i + 1].string ?? "" }
        }
        return fields
    }
}
