import OrbiterCore
import OrbiterRedis

/// What `reply` did.
public enum ReplyOutcome: Sendable, Equatable {
    /// The task was waiting and is back on the queue with the reply; a worker resumes it.
    case resumed
    /// No such task.
    case notFound
    /// The task is not waiting for a person (it is running, pending, finished...): nothing changed.
    case notWaiting(TaskStatus)
    /// It waits for another kind of reply: approve or reject an approval; answer or reject a question.
    case mismatch(waitsFor: InputRequest.Kind)
}

/// Parked tasks: the person's side (`reply`, listing) and the worker's (`park`, the wait-deadline sweep).
extension TaskBroker {
    /// reply.lua: answers a parked task (`.approved`, `.rejected(reason:)`, `.answer(text)`), which
    /// goes back on the queue; refused, changing nothing, when it is not waiting or the reply does
    /// not fit what it waits for.
    /// With `settings.secret` the reply is signed for the request the task waits for (read first),
    /// and workers with the secret use only replies that check out.
    public func reply(_ taskID: String, _ reply: InputReply) async throws -> ReplyOutcome {
        try TaskID.validate(taskID)
        let (kind, text): (String, String)
        switch reply {
        case .approved: (kind, text) = ("approve", "")
        case .rejected(let reason): (kind, text) = ("reject", reason)
        case .answer(let answer): (kind, text) = ("answer", answer)
        }
        var outcome: RedisReply
        var tries = 0
        repeat {
            tries += 1
            var (requestID, signature) = ("", "")
            if let secret = settings.secret {
                let stored = try await client.send(["HGET", keys.task(taskID), "pending"]).string
                requestID = stored.flatMap { try? JSONValue.parse($0) }?["id"]?.stringValue ?? ""
                if !requestID.isEmpty {
                    signature = TaskSignature.forSecret(secret).signReply(queue: keys.queue, taskID: taskID, requestID: requestID, reply: reply)
                }
            }
            outcome = try await client.run(QueueScripts.reply, keys: [keys.task(taskID), keys.stream, keys.waiting],
                                           args: [taskID, kind, text, requestID, signature])
        } while outcome.string == "moved" && tries < 3 // it parked again for another request meanwhile: sign for that one
        switch outcome.string {
        case "resumed": return .resumed
        case "moved": return .notWaiting(.running)
        case "not_found": return .notFound
        case let s? where s.hasPrefix("not_waiting:"): return .notWaiting(TaskStatus(rawValue: String(s.dropFirst(12))) ?? .failed)
        case let s? where s.hasPrefix("mismatch:"): return .mismatch(waitsFor: InputRequest.Kind(rawValue: String(s.dropFirst(9))) ?? .question)
        default: throw DistributedError.badPayload("unexpected reply to reply: \(outcome)")
        }
    }

    /// Parked tasks, soonest wait deadline first.
    func listWaiting(limit: Int) async throws -> [TaskResult] {
        let ids = try await client.send(["ZRANGE", keys.waiting, 0, limit - 1]).array?.compactMap(\.string) ?? []
        let replies = try await client.pipeline(ids.map { TaskResult.read(keys.task($0), withResult: false) })
        var results: [TaskResult] = []
        for (id, fields) in zip(ids, replies) {
            guard let task = await TaskResult(taskID: id, fields: fields, payload: {
                try await self.client.send(["HGET", self.keys.task(id), "payload"]).string
            }), task.status == .waiting else { continue }
            results.append(task)
        }
        return results
    }

    /// What park.lua did.
    package enum ParkResult: Sendable { case parked, cancel, notOwned }

    /// park.lua: the run stops to wait for `request`; the task holds nothing until a reply, or
    /// until `waitTimeout` seconds have passed (then the sweep fails it).
    package func park(_ taskID: String, request: InputRequest, checkpoint: String, waitTimeout: Double, workerID: String,
                      lease: String, redact: (String) -> String = { $0 }, now: Int64 = TaskBroker.nowMs()) async throws -> ParkResult {
        let deadline = now + Int64(min(waitTimeout, 1e9) * 1000)
        var stored = request.json.objectValue ?? [:]
        stored["since"] = .int(Int(now))
        stored["until"] = .int(Int(deadline))
        let event = StreamEvent.status(.waiting(for: request))
        let reply = try await runAcknowledged(QueueScripts.park, taskID: taskID, what: "park", keys: [keys.task(taskID), keys.stream, keys.events(taskID), keys.waiting],
                                         args: [QueueKeys.group, workerID, lease, taskID, redact(JSONValue.object(stored).jsonString),
                                                checkpoint, String(deadline), redact(event.jsonString),
                                                Int(min(waitTimeout, 1e9)) + settings.taskTTL + settings.eventsTTL])
        switch reply.string {
        case "parked": return .parked
        case "cancel": return .cancel
        default: return .notOwned
        }
    }

    /// Parked tasks whose wait deadline has come (at most `limit`), with the agent each waits in
    /// and how long it was to wait (seconds).
    package func dueWaiting(now: Int64 = TaskBroker.nowMs(), limit: Int = 100) async throws -> [(taskID: String, agentName: String, waited: Double)] {
        let ids = try await client.send(["ZRANGEBYSCORE", keys.waiting, "-inf", now, "LIMIT", 0, limit]).array?.compactMap(\.string) ?? []
        guard !ids.isEmpty else { return [] }
        let pending = try await client.pipeline(ids.map { ["HGET", keys.task($0), "pending"] })
        return zip(ids, pending).map { id, reply in
            let json = reply.string.flatMap { try? JSONValue.parse($0) }
            let waited = ((json?["until"]?.doubleValue ?? 0) - (json?["since"]?.doubleValue ?? 0)) / 1000
            return (id, json?["agent_name"]?.stringValue ?? "", max(0, waited))
        }
    }

    /// expire.lua: a parked task past its deadline fails with `InputTimeout`; false when there was
    /// nothing to do (answered, cancelled, or another worker did it).
    package func expireWait(_ taskID: String, agentName: String, waited: Double, now: Int64 = TaskBroker.nowMs()) async throws -> Bool {
        let error = OrbiterError.inputTimeout(seconds: waited)
        let errorEvent = StreamEvent.error(ErrorEvent(error: error.description, errorType: error.typeName, agentName: agentName))
        let terminal = StreamEvent.status(StatusEvent(status: .error, agentName: agentName, message: error.description))
        let reply = try await client.run(QueueScripts.expire, keys: [keys.task(taskID), keys.events(taskID), keys.waiting, keys.dead,
                                                                     keys.counter("failed", minute: now / 60_000)],
                                         args: [taskID, String(now), error.description, errorEvent.jsonString, terminal.jsonString,
                                                settings.taskTTL, settings.eventsTTL])
        return reply.int == 1
    }
}
