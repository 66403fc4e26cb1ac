import OrbiterRedis

/// What one `claim.lua` call gave a worker.
package struct ClaimBatch: Sendable {
    /// A started (or dropped) entry, with where it came from.
    package struct Item: Sendable {
        package var claim: ClaimedEntry
        /// The level stream the entry is in.
        package var stream: String
        package var outcome: StartOutcome

        package init(claim: ClaimedEntry, stream: String, outcome: StartOutcome) {
            self.claim = claim
            self.stream = stream
            self.outcome = outcome
        }
    }

    /// Why and how long the worker should wait before it claims again.
    package struct Wait: Sendable {
        /// True when the queue's concurrency cap is reached (room comes back when a task ends
        /// anywhere, which no stream shows: look again soon).
        package var capped: Bool
        /// The earliest time a delayed retry or scheduled task is due (ms since 1970), if any.
        package var nextDueMs: Int64?
        /// Streams and the ids to `XREAD` them from: any entry after these wakes the worker.
        package var positions: [(stream: String, id: String)]
    }

    package var items: [Item]
    /// nil: a full batch was taken; claim again as soon as there are free slots.
    package var wait: Wait?
    /// Every level stream of the queue, highest priority first.
    package var streams: [String]
}

extension TaskBroker {
    /// claim.lua: promotes due tasks, reads up to `limit` entries from the level streams (highest
    /// priority first, with the starvation guard, under the queue's concurrency cap) and starts
    /// them, in one round trip.
    package func claim(limit: Int, workerID: String, starvationAgeMs: Int64, promoteLimit: Int = 100,
                       now: Int64 = TaskBroker.nowMs()) async throws -> ClaimBatch {
        let reply = try await client.run(QueueScripts.claim, keys: [keys.stream, keys.delayed, keys.scheduled, keys.concurrency],
                                         args: [QueueKeys.group, workerID, String(now), RandomBytes.take(8).hexString, limit,
                                                keys.taskPrefix, String(starvationAgeMs), promoteLimit])
        guard let parts = reply.array, parts.count == 3 else { throw DistributedError.badPayload("claim: unexpected reply \(reply)") }
        let items = (parts[0].array ?? []).compactMap { item -> ClaimBatch.Item? in
            guard let fields = item.array, fields.count >= 4, let stream = fields[0].string, let entry = fields[1].string,
                  let task = fields[2].string else { return nil }
            return ClaimBatch.Item(claim: ClaimedEntry(entryID: entry, taskID: task), stream: stream,
                                   outcome: StartOutcome(reply: Array(fields.dropFirst(3))))
        }
        var wait: ClaimBatch.Wait?
        if let w = parts[1].array, w.count >= 2 {
            var positions: [(String, String)] = []
            var i = 2
            while i + 1 < w.count {
                if let s = w[i].string, let id = w[i + 1].string { positions.append((s, id)) }
                i += 2
            }
            let due = w[1].int ?? w[1].string.flatMap { Int64($0) } ?? -1
            wait = ClaimBatch.Wait(capped: w[0].string == "capped", nextDueMs: due >= 0 ? due : nil, positions: positions)
        }
        return ClaimBatch(items: items, wait: wait, streams: (parts[2].array ?? []).compactMap(\.string))
    }

    /// Sets (a positive number) or removes (nil) the queue's cap on running tasks across all its
    /// workers; claim.lua enforces it on every claim.
    public func setConcurrency(_ cap: Int?) async throws {
        if let cap {
            guard cap >= 1 else {
                throw DistributedError.invalidArgument("the concurrency cap must be at least 1, got \(cap) (use none to remove the cap)")
            }
            _ = try await client.send(["SET", keys.concurrency, cap])
        } else {
            _ = try await client.send(["DEL", keys.concurrency])
        }
    }
}
