import OrbiterCore
import OrbiterLua
import OrbiterRedis

extension TaskBroker {
    /// One task of `storeMany`: its payload and idempotency key.
    package struct NewTask: Sendable {
        package var payload: TaskPayload
        package var idempotencyKey: String?
        package init(payload: TaskPayload, idempotencyKey: String? = nil) {
            self.payload = payload
            self.idempotencyKey = idempotencyKey
        }
    }

    /// One submit waiting for `store`'s group commit.
    struct GroupedSubmit: Sendable {
        var task: NewTask
        var bundle: ScriptBundle?
    }

    /// One call of `store`'s group commit: a submit alone goes through `submit.lua` (as ever),
    /// several through `submit_many.lua`, one call per bundle. Each submit gets its own result;
    /// a call that failed as a whole is the error of each of its submits.
    func storeGrouped(_ batch: [GroupedSubmit]) async -> [Result<(id: String, isNew: Bool), any Error>] {
        if batch.count == 1 {
            let one = batch[0]
            do {
                return [.success(try await storeOne(one.task.payload, bundle: one.bundle, idempotencyKey: one.task.idempotencyKey,
                                                    taskID: TaskID.make()))]
            } catch {
                return [.failure(error)]
            }
        }
        var results = [Result<(id: String, isNew: Bool), any Error>?](repeating: nil, count: batch.count)
        var groups: [String: [Int]] = [:], order: [String] = []
        for (i, item) in batch.enumerated() {
            let sha = item.bundle?.sha256 ?? ""
            if groups[sha] == nil { order.append(sha) }
            groups[sha, default: []].append(i)
        }
        for sha in order {
            let indices = groups[sha]!
            do {
                let stored = try await storeChunk(ArraySlice(indices.map { batch[$0].task }), bundle: batch[indices[0]].bundle)
                for (i, result) in zip(indices, stored) { results[i] = result.mapError { $0 } }
            } catch {
                for i in indices { results[i] = .failure(error) }
            }
        }
        return results.map { $0! }
    }

    /// The most tasks one `submit_many.lua` call carries (7 values and 2 keys each).
    package static let submitManyChunk = 256

    /// Stores and queues a batch with `submit_many.lua`, `submitManyChunk` tasks per call: per
    /// task what `store` does for one (idempotency, `maxPending`, signing), the script call and
    /// the bundle's check paid once per call. Returns one result per task, in order: its id and
    /// whether it is new, or why it was refused (`queueFull`, `idempotencyConflict`). Errors that
    /// concern the whole call (a bad argument, Redis lost past the resends) are thrown. Ids are
    /// chosen before anything is sent, so a call whose reply was lost is sent again with the same
    /// ids and never makes second tasks.
    package func storeMany(_ tasks: [NewTask], bundle: ScriptBundle?) async throws -> [Result<(id: String, isNew: Bool), DistributedError>] {
        for task in tasks {
            try Self.checkPlacement(task.payload)
            if let key = task.idempotencyKey, key.allSatisfy(\.isWhitespace) {
                throw DistributedError.invalidArgument("the idempotency key is empty; give a key that names the work (e.g. order-42), or none")
            }
        }
        try await checkDurability()
        await registerQueue()
        var results: [Result<(id: String, isNew: Bool), DistributedError>] = []
        results.reserveCapacity(tasks.count)
        var start = 0
        while start < tasks.count {
            let end = min(start + Self.submitManyChunk, tasks.count)
            results += try await storeChunk(tasks[start..<end], bundle: bundle)
            start = end
        }
        return results
    }

    func storeChunk(_ tasks: ArraySlice<NewTask>, bundle: ScriptBundle?) async throws -> [Result<(id: String, isNew: Bool), DistributedError>] {
        let ids = tasks.map { _ in TaskID.make() }
        let sha = bundle?.sha256 ?? ""
        var keyList = [keys.stream, keys.index, keys.bundle(sha.isEmpty ? "none" : sha), keys.scheduled]
        var taskArgs: [any RedisArgument] = []
        keyList.reserveCapacity(4 + 2 * tasks.count)
        taskArgs.reserveCapacity(8 * tasks.count)
        for (id, task) in zip(ids, tasks) {
            let payload = task.payload
            let payloadText = payload.json.jsonString
            keyList += [keys.task(id), keys.idempotency(task.idempotencyKey)]
            taskArgs += [id, payloadText, settings.signature(taskID: id, queue: keys.queue, payload: payload, payloadText: payloadText),
                         task.idempotencyKey == nil ? "" : payload.workDigest,
                         JSONValue.object(payload.metadata.mapValues(JSONValue.string)).jsonString,
                         payload.priority.map(String.init) ?? "", payload.runAt.map { String(Int64(($0 * 1000).rounded())) } ?? "",
                         payload.agentName ?? ""]
        }
        var sendBundle = bundle != nil && storedBundles.withLock { $0[sha] } == nil
        var resends = 0
        while true {
            do {
                let sentAt = Self.nowMs()
                let reply = try await runAcknowledged(
                    QueueScripts.submitMany, taskID: ids[0], what: "submit", keys: keyList,
                    args: [String(sentAt), sha, sendBundle ? bundle!.jsonString : "", settings.bundleTTL, settings.maxPending,
                           settings.taskTTL] + taskArgs)
                if !sha.isEmpty { noteBundleRefreshed(sha, at: sentAt) }
                guard let items = reply.array, items.count == ids.count else {
                    throw DistributedError.badPayload("unexpected reply to submit_many: \(reply)")
                }
                return ids.indices.map { i in
                    let id = ids[i], item = items[i], parts = item.array ?? []
                    let verdict = parts.first?.string ?? "", value = parts.count > 1 ? parts[1].string ?? "" : ""
                    switch verdict {
                    // "existing" with our own id: an earlier send of this call stored it (its reply was lost).
                    case "new", "existing": return .success((value, verdict == "new" || value == id))
                    default:
                        return .failure(submitRefusal(value, idempotencyKey: tasks[tasks.startIndex + i].idempotencyKey)
                                        ?? .badPayload("unexpected reply to submit_many: \(item)"))
                    }
                }
            } catch RedisError.server(let message) where message.hasPrefix("NOBUNDLE") && !sendBundle {
                sendBundle = true
            } catch RedisError.connection where resends < Self.lostReplyRetries && !Task.isCancelled {
                // The batch may or may not have been stored: send it again with the same ids.
                resends += 1
                try await Task.sleep(for: .milliseconds(50 << resends))
            }
        }
    }
}
