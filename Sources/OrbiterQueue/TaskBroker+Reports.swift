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
    public func listPage(status: TaskStatus? = nil, limit: Int = 20, cursor: String? = nil) async throws -> (tasks: [TaskResult], next: String?) {
        if status == .waiting {
            guard cursor == nil else { throw DistributedError.invalidArgument("status=waiting lists the soonest deadlines first and takes no cursor") }
            return (try await listWaiting(limit: limit), nil)
        }
        var offset = 0
        if let cursor {
            try TaskID.validate(cursor)
            guard let rank = try await client.send(["ZREVRANK", keys.index, cursor]).int else {
                throw DistributedError.invalidArgument("cursor task \(cursor) is no longer listed (purged or expired); start again without a cursor")
            }
            offset = Int(rank) + 1
        }
        var results: [TaskResult] = []
        let page = max(limit, 50)
        var last: String?
        var exhausted = false
        while results.count < limit {
            let ids = try await client.send(["ZREVRANGE", keys.index, offset, offset + page - 1]).array?.compactMap(\.string) ?? []
            if ids.isEmpty { exhausted = true; break }
            offset += ids.count
            let replies = try await client.pipeline(ids.map { TaskResult.read(keys.task($0), withResult: false) })
            for (id, fields) in zip(ids, replies) {
                last = id
                guard let task = await TaskResult(taskID: id, fields: fields, payload: {
                    try await self.client.send(["HGET", self.keys.task(id), "payload"]).string
                }) else { continue }
                if let status, task.status != status { continue }
                results.append(task)
                if results.count == limit { break }
            }
            if ids.count < page && results.count < limit { exhausted = true; break }
        }
        return (results, exhausted ? nil : last)
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
