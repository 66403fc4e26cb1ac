import Foundation
import OrbiterCore
import OrbiterLua
import OrbiterRedis

/// What `orbiter queue stats --json`, `orbiter task list` and the HTTP API report, computed once
/// here so every front end shows the same shapes.
extension TaskBroker {
    /// `queue stats --json`: the queue's counts with the last hour's tokens and cost per model.
    public func statsReport() async throws -> JSONValue {
        var json = try await stats().json.objectValue ?? [:]
        json["models_last_hour"] = .array(try await modelUsage().map(\.json))
        return .object(json)
    }

    /// A page of `list`: tasks newest first after the task `cursor` (the last id of the previous
    /// page), and the cursor of the next page (nil: no more). Stable while tasks are added: the
    /// cursor is a task, not an offset. Throws `invalidArgument` when the cursor task is gone.
    /// The creation-time bounds are ranges of the time index; status and agent are checked per
    /// task, and at most `maxScanned` index entries are read per page, so a filter that matches
    /// little returns a short (even empty) page with a cursor instead of reading every task.
    public func listPage(_ filter: TaskListFilter = TaskListFilter(), limit: Int = 20, cursor: String? = nil) async throws -> (tasks: [TaskResult], next: String?) {
        if filter.status == .waiting {
            guard cursor == nil else { throw DistributedError.invalidArgument("status=waiting lists the soonest deadlines first and takes no cursor") }
            return (try await listWaiting(limit: limit).filter(filter.matches), nil)
        }
        var offset = 0
        if let before = filter.createdBefore {
            // Entries created at or after `before` come first in the newest-first order: skip them.
            offset = Int(try await client.send(["ZCOUNT", keys.index, String(Self.milliseconds(before)), "+inf"]).int ?? 0)
        }
        if let cursor {
            try TaskID.validate(cursor)
            guard let rank = try await client.send(["ZREVRANK", keys.index, cursor]).int else {
                throw DistributedError.invalidArgument("cursor task \(cursor) is no longer listed (purged or expired); start again without a cursor")
            }
            offset = max(offset, Int(rank) + 1)
        }
        let afterMs = filter.createdAfter.map(Self.milliseconds)
        var results: [TaskResult] = []
        let page = filter.agent == nil && filter.status == nil ? max(limit, 50) : max(limit, 200)
        var last: String?
        var exhausted = false
        var scanned = 0
        scan: while results.count < limit && scanned < Self.maxScanned {
            let reply = try await client.send(["ZREVRANGE", keys.index, offset, offset + page - 1, "WITHSCORES"]).array ?? []
            var ids: [String] = []
            var atEnd = reply.count / 2 < page // the range ends within this reply
            var index = 0
            while index + 1 < reply.count {
                if let id = reply[index].string, let score = reply[index + 1].string.flatMap(Double.init) {
                    if let afterMs, score < Double(afterMs) { atEnd = true; break }
                    ids.append(id)
                }
                index += 2
            }
            if ids.isEmpty { exhausted = true; break }
            offset += ids.count
            scanned += ids.count
            let replies = try await client.pipeline(ids.map { TaskResult.read(keys.task($0), withResult: false) })
            for (id, fields) in zip(ids, replies) {
                last = id
                guard let task = await TaskResult(taskID: id, fields: fields, payload: {
                    try await self.client.send(["HGET", self.keys.task(id), "payload"]).string
                }) else { continue }
                guard filter.matches(task) else { continue }
                results.append(task)
                if results.count == limit {
                    exhausted = atEnd && id == ids.last
                    break scan
                }
            }
            if atEnd { exhausted = true; break }
        }
        return (results, exhausted ? nil : last)
    }

    /// Index entries one `listPage` call reads at most.
    public static let maxScanned = 10_000

    /// Milliseconds since 1970, held within ±9e15 (years ±285,000): an age such as `1e300s`
    /// means "any time", not a crash.
    static func milliseconds(_ date: Date) -> Int64 {
        let ms = date.timeIntervalSince1970 * 1000
        guard ms.isFinite else { return ms > 0 ? 9_000_000_000_000_000 : -9_000_000_000_000_000 }
        return Int64(min(9e15, max(-9e15, ms)).rounded())
    }

    /// The script bundle stored under `sha` on this queue; throws `badPayload` when it is not
    /// stored (expired, or never submitted) or does not hash to `sha`.
    public func storedBundle(_ sha: String) async throws -> ScriptBundle {
        guard let text = try await client.send(["GET", keys.bundle(sha)]).string else {
            throw DistributedError.badPayload("script bundle \(sha) is not stored in Redis (expired or never submitted)")
        }
        do {
            return try ScriptBundle(jsonText: text, expectedSHA256: sha)
        } catch {
            throw DistributedError.badPayload("\(error)")
        }
    }
}

/// Which tasks a list shows (`task list`, `GET /v1/tasks`, the dashboard); nil fields match all.
public struct TaskListFilter: Sendable, Equatable {
    public var status: TaskStatus?
    /// The agent's or swarm's name, exactly as submitted.
    public var agent: String?
    /// Only tasks created at or after this time (`--newer-than`).
    public var createdAfter: Date?
    /// Only tasks created before this time (`--older-than`).
    public var createdBefore: Date?

    public init(status: TaskStatus? = nil, agent: String? = nil, createdAfter: Date? = nil, createdBefore: Date? = nil) {
        self.status = status
        self.agent = agent.map(TaskPayload.listedAgentName)
        self.createdAfter = createdAfter
        self.createdBefore = createdBefore
    }

    /// Ages as `parseAge` reads them (`1h`, `7d`), counted back from `now`.
    public init(status: TaskStatus? = nil, agent: String? = nil, newerThan: Double? = nil, olderThan: Double? = nil, now: Date = Date()) {
        self.init(status: status, agent: agent, createdAfter: newerThan.map { now.addingTimeInterval(-$0) },
                  createdBefore: olderThan.map { now.addingTimeInterval(-$0) })
    }

    public func matches(_ task: TaskResult) -> Bool {
        if let status, task.status != status { return false }
        if let agent, task.agent != agent { return false }
        if let createdAfter, let created = task.createdAt, created < createdAfter { return false }
        if let createdBefore, let created = task.createdAt, created >= createdBefore { return false }
        return true
    }
}
