import OrbiterRedis

/// Acknowledged writes: submit, finish and park send their script and then `WAIT`/`WAITAOF` in
/// one pipelined round trip on a connection of their own (`acknowledgedLane`). `WAIT` counts the
/// writes of the connection it is sent on, so it must follow the write there; and while it blocks,
/// it blocks that whole connection, which must not be the shared one carrying heartbeats, lease
/// renewals and claims. Concurrent acknowledged writes still pipeline on the lane.
extension TaskBroker {
    /// Refuses a durability level this server cannot give (once per broker): `aof` needs Redis
    /// 7.2+ (`WAITAOF`). Workers call it at start, submits on their first acknowledged write.
    public func checkDurability() async throws {
        guard settings.durability.level == .aof, !durabilityChecked.withLock({ $0 }) else { return }
        let info = try await client.send(["INFO", "server"]).string ?? ""
        let version = info.split(whereSeparator: \.isNewline).first { $0.hasPrefix("redis_version:") }
            .map { String($0.dropFirst("redis_version:".count)).trimmingCharacters(in: .whitespaces) } ?? ""
        if !Self.supportsWaitAOF(version: version) {
            throw DistributedError.durabilityUnsupported(
                "--durability aof needs Redis 7.2 or newer (WAITAOF); the server at \(client.url) is Redis \(version.isEmpty ? "of unknown version" : version). "
                    + "Use --durability replica (WAIT, needs a replica), or upgrade Redis")
        }
        durabilityChecked.withLock { $0 = true }
    }

    /// Whether `version` ("7.0.15") is 7.2 or newer.
    static func supportsWaitAOF(version: String) -> Bool {
        let parts = version.split(separator: ".").map { Int($0) ?? 0 }
        guard parts.count >= 2 else { return false }
        return parts[0] > 7 || (parts[0] == 7 && parts[1] >= 2)
    }

    /// Runs a write script; with durability `replica` or `aof` follows it on the lane with the
    /// acknowledgement and throws `notAcknowledged` when it did not come within the timeout (the
    /// write was made on the master all the same).
    func runAcknowledged(_ script: RedisScript, taskID: String, what: String, keys: [String],
                         args: [any RedisArgument]) async throws -> RedisReply {
        guard let lane = acknowledgedLane, let wait = settings.durability.command else {
            return try await client.run(script, keys: keys, args: args)
        }
        try await checkDurability()
        var evalsha: [any RedisArgument] = ["EVALSHA", script.sha1, keys.count]
        evalsha += keys.map { $0 as any RedisArgument }
        evalsha += args
        let waitCommand = wait.map { $0 as any RedisArgument }
        var replies = try await lane.pipeline([evalsha, waitCommand])
        if case .error(let m) = replies.first, m.hasPrefix("NOSCRIPT") {
            replies = Array(try await lane.pipeline([["SCRIPT", "LOAD", script.source], evalsha, waitCommand]).dropFirst())
        }
        guard replies.count == 2 else { throw RedisError.protocolError("expected 2 replies to \(what), got \(replies.count)") }
        if case .error(let m) = replies[0] { throw RedisError.server(m) }
        try acknowledgement(replies[1], taskID: taskID, what: what)
        return replies[0]
    }

    /// Checks the reply of `WAIT` (replicas reached) or `WAITAOF` ([local fsyncs, replica fsyncs]).
    private func acknowledgement(_ reply: RedisReply, taskID: String, what: String) throws {
        let durability = settings.durability
        if case .error(let m) = reply {
            throw DistributedError.notAcknowledged(taskID: taskID, what: what,
                                                   detail: "\(durability.level == .aof ? "WAITAOF" : "WAIT") failed: \(m)")
        }
        switch durability.level {
        case .none: return
        case .replica:
            let reached = reply.int ?? 0
            if reached >= 1 { return }
            throw DistributedError.notAcknowledged(taskID: taskID, what: what,
                                                   detail: "no replica acknowledged it within \(durability.timeoutMs) ms (WAIT 1 \(durability.timeoutMs) answered \(reached))")
        case .aof:
            let local = reply.array?.first?.int ?? 0
            if local >= 1 { return }
            throw DistributedError.notAcknowledged(taskID: taskID, what: what,
                                                   detail: "the master did not fsync it to its AOF within \(durability.timeoutMs) ms (WAITAOF 1 0 \(durability.timeoutMs) answered \(local) local)")
        }
    }
}
