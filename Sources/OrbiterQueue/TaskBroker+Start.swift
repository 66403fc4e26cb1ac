import OrbiterRedis

/// A queue entry a worker has claimed (read from the consumer group, or taken over).
package struct ClaimedEntry: Sendable {
    /// The queue stream entry id (the lease).
    package var entryID: String
    package var taskID: String

    package init(entryID: String, taskID: String) {
        self.entryID = entryID
        self.taskID = taskID
    }
}

/// What `start.lua` made of one claimed entry.
package enum StartOutcome: Sendable, Equatable {
    /// Run it: the stored payload text, this attempt's number (1 = first), the payload's HMAC
    /// signature ("" when unsigned), the last checkpoint's JSON ("" when none), this run's lease
    /// token (its checkpoints, events and outcome are accepted only with it) and the reply a person
    /// gave a parked task (`{"request", "reply"}` JSON, "" when none).
    case run(payload: String, attempt: Int, signature: String, checkpoint: String, lease: String, reply: String = "")
    /// Not runnable any more (cancelled, finished or deleted while it waited); the entry is gone.
    case drop(reason: String)

    /// Reads one item of start.lua's (or claim.lua's) reply: lib.lua's `start_entry`.
    init(reply parts: [RedisReply]) {
        guard parts.first?.string == "run", parts.count >= 6 else {
            self = .drop(reason: parts.count > 1 ? parts[1].string ?? "?" : "?")
            return
        }
        self = .run(payload: parts[1].string ?? "", attempt: Int(parts[2].int ?? 1), signature: parts[3].string ?? "",
                    checkpoint: parts[4].string ?? "", lease: parts[5].string ?? "", reply: parts.count > 6 ? parts[6].string ?? "" : "")
    }
}

extension TaskBroker {
    /// Starts a batch of claimed entries of `stream` (default: the default level's) in one atomic
    /// call (one round trip for all).
    package func start(_ claims: [ClaimedEntry], workerID: String, stream: String? = nil,
                       now: Int64 = TaskBroker.nowMs()) async throws -> [StartOutcome] {
        guard !claims.isEmpty else { return [] }
        let reply = try await client.run(QueueScripts.start, keys: [stream ?? keys.stream] + claims.map { keys.task($0.taskID) },
                                         args: [QueueKeys.group, workerID, String(now), RandomBytes.take(8).hexString]
                                            + claims.map { $0.entryID as any RedisArgument })
        guard let items = reply.array, items.count == claims.count else {
            throw DistributedError.badPayload("start: unexpected reply \(reply)")
        }
        return items.map { StartOutcome(reply: $0.array ?? []) }
    }
}
