import Synchronization

/// Many waiters, one blocking connection: every stream someone waits on is read by a single
/// `XREAD COUNT … BLOCK … STREAMS k1 … kn id1 … idn` on a connection of its own.
///
/// A hundred `result()` or `stream()` waits on one client would otherwise hold a hundred
/// connections (each a socket and a thread). A waiter that joins while the read blocks wakes it
/// with `CLIENT UNBLOCK` (sent on the client's main connection), so it is read at once.
///
/// On a Redis Cluster one `XREAD` cannot span slots: the client's reader hands each key to a
/// reader of its slot (`routingKey`), whose connection and `CLIENT UNBLOCK` go to that slot's node.
public final class SharedStreamReader: Sendable {
    private struct Waiter {
        let key: String
        let after: String
        let deadline: ContinuousClock.Instant
        let continuation: CheckedContinuation<RedisReply, any Error>
    }

    private struct State {
        var waiters: [UInt64: Waiter] = [:]
        var nextID: UInt64 = 0
        /// The read loop exists (it ends when nobody waits).
        var running = false
        /// While an `XREAD` blocks: its connection's client id and what it reads (key → after).
        var blocked: (clientID: Int64, reading: [String: String])?
        /// Counts the loop's reads, so a waiter can tell whether its wake-up was needed still.
        var generation: UInt64 = 0
        /// The reading connection and its client id, kept between loops (waits one after another
        /// would otherwise open a connection each); closed with the client.
        var connection: (worker: ConnectionWorker, clientID: Int64?)?
    }

    /// The client owns this reader (`RedisClient.streamReader`); the read loop holds it while it runs.
    private weak let client: RedisClient?
    private let state = Mutex(State())
    /// Longest single block, so deadlines and a missed wake-up cost at most this.
    static let maxBlock = Duration.seconds(1)

    /// Cluster only: a key of the one slot this reader reads (nil for the client's own reader).
    private let routingKey: String?
    /// Cluster only: the readers of each slot, made on first use.
    private let slotReaders = Locked<[Int: SharedStreamReader]>([:])

    init(client: RedisClient, routingKey: String? = nil) {
        self.client = client
        self.routingKey = routingKey
    }

    /// The entries of stream `key` after id `after`, as an `XREAD` reply for that one stream, once
    /// there are any; `.null` when `block` passes first. Cancelling the caller ends its wait.
    public func read(key: String, after: String, block: Duration) async throws -> RedisReply {
        if routingKey == nil, let client, client.isCluster {
            let slot = HashSlot.of(key)
            let reader = slotReaders.withLock { readers in
                if let reader = readers[slot] { return reader }
                let made = SharedStreamReader(client: client, routingKey: key)
                readers[slot] = made
                return made
            }
            return try await reader.read(key: key, after: after, block: block)
        }
        let id = state.withLock { s -> UInt64 in
            s.nextID += 1
            return s.nextID
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<RedisReply, any Error>) in
                let (startLoop, wake) = state.withLock { s -> (Bool, (Int64, UInt64)?) in
                    s.waiters[id] = Waiter(key: key, after: after, deadline: .now + block, continuation: continuation)
                    if !s.running {
                        s.running = true
                        return (true, nil)
                    }
                    // A read under way that does not cover this waiter must start over.
                    if let blocked = s.blocked, blocked.reading[key].map({ Self.compare($0, after) > 0 }) ?? true {
                        return (false, (blocked.clientID, s.generation))
                    }
                    return (false, nil)
                }
                if startLoop {
                    Task { await self.loop() } // owned by this reader: it ends when nobody waits
                } else if let (clientID, generation) = wake {
                    Task { await self.wake(clientID, generation: generation) }
                }
            }
        } onCancel: {
            let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.continuation.resume(throwing: CancellationError())
        }
    }

    /// `CLIENT UNBLOCK` for the read of `generation`; retried briefly when the read had not begun
    /// blocking yet (an unblock then finds nothing to wake).
    private func wake(_ clientID: Int64, generation: UInt64) async {
        guard let client else { return }
        for _ in 0..<50 {
            let unblocked = (try? await client.send(["CLIENT", "UNBLOCK", clientID], routedBy: routingKey).int) ?? 0
            if unblocked == 1 { return }
            let stillBlocked = state.withLock { $0.blocked?.clientID == clientID && $0.generation == generation }
            if !stillBlocked { return }
            try? await Task.sleep(for: .milliseconds(1))
        }
    }

    private func loop() async {
        guard let client else {
            let orphans = state.withLock { s -> [Waiter] in
                s.running = false
                defer { s.waiters = [:] }
                return Array(s.waiters.values)
            }
            for waiter in orphans { waiter.continuation.resume(throwing: RedisError.connection("the Redis client was released")) }
            return
        }
        let kept = state.withLock { s in
            defer { s.connection = nil }
            return s.connection
        }
        var worker = kept?.worker
        var clientID = kept?.clientID
        while true {
            // Who waits for what now; waits whose time is up end with `.null`.
            let now = ContinuousClock.now
            let (reading, expired, block) = state.withLock { s -> ([String: String], [Waiter], Duration?) in
                let expired = s.waiters.filter { $0.value.deadline <= now }
                for id in expired.keys { s.waiters[id] = nil }
                guard !s.waiters.isEmpty else {
                    // Done for now; the connection waits for the next loop (set with `running`, so
                    // a loop starting right after finds it).
                    s.running = false
                    if let worker { s.connection = (worker, clientID) }
                    return ([:], Array(expired.values), nil)
                }
                var reading: [String: String] = [:]
                for waiter in s.waiters.values {
                    reading[waiter.key] = reading[waiter.key].map { Self.compare($0, waiter.after) <= 0 ? $0 : waiter.after } ?? waiter.after
                }
                let soonest = s.waiters.values.map(\.deadline).min()!
                return (reading, Array(expired.values), min(Self.maxBlock, max(.milliseconds(1), soonest - now)))
            }
            for waiter in expired { waiter.continuation.resume(returning: .null) }
            guard let block else { return }
            do {
                if worker == nil {
                    if let routingKey {
                        worker = try await client.makeDedicatedWorker(name: "orbiter-redis-xread", routedBy: routingKey)
                    } else {
                        worker = try client.makeDedicatedWorker(name: "orbiter-redis-xread")
                    }
                    clientID = nil
                }
                if clientID == nil { clientID = try await Self.send(["CLIENT", "ID"], on: worker!).int }
                let keys = Array(reading.keys)
                state.withLock { s in
                    s.generation += 1
                    s.blocked = clientID.map { ($0, reading) }
                }
                let reply = try await Self.send(["XREAD", "COUNT", 1000, "BLOCK", max(1, Int(block.inMillisecondsRounded))]
                                           + ["STREAMS"] + keys + keys.map { reading[$0]! }, on: worker!)
                // A waiter served here usually reads again at once (a `stream()` following a task):
                // give it the chance to join before the next read starts, instead of waking it.
                if deliver(reply) { await Task.yield() }
            } catch {
                let error = client.dedicatedFailure(error)
                // The connection is gone (or the client closed): every waiter hears it and decides.
                let failed = state.withLock { s -> [Waiter] in
                    s.blocked = nil
                    defer { s.waiters = [:] }
                    return Array(s.waiters.values)
                }
                for waiter in failed { waiter.continuation.resume(throwing: error) }
                if let worker { client.retireDedicatedWorker(worker) }
                worker = nil
                // The next waiter starts a loop afresh.
                let restart = state.withLock { s -> Bool in
                    if s.waiters.isEmpty { s.running = false; return false }
                    return true
                }
                if !restart { return }
            }
        }
    }

    private static func send(_ args: [any RedisArgument], on worker: ConnectionWorker) async throws -> RedisReply {
        let command = EncodedCommand(args)
        return try await withCheckedThrowingContinuation { c in worker.submit(.commands([command], .one(c))) }
    }

    /// Hands each waiter the entries of its stream that come after its id; whether any got some.
    @discardableResult
    private func deliver(_ reply: RedisReply) -> Bool {
        var byKey: [String: [RedisReply]] = [:]
        for stream in reply.array ?? [] {
            guard let parts = stream.array, parts.count == 2, let key = parts[0].string else { continue }
            byKey[key] = parts[1].array ?? []
        }
        let ready = state.withLock { s -> [(Waiter, RedisReply)] in
            s.blocked = nil
            var ready: [(Waiter, RedisReply)] = []
            for (id, waiter) in s.waiters {
                let entries = (byKey[waiter.key] ?? []).filter { entry in
                    entry.array?.first?.string.map { Self.compare($0, waiter.after) > 0 } ?? false
                }
                guard !entries.isEmpty else { continue }
                s.waiters[id] = nil
                ready.append((waiter, .array([.array([.bulk(Array(waiter.key.utf8)), .array(entries)])])))
            }
            return ready
        }
        for (waiter, reply) in ready { waiter.continuation.resume(returning: reply) }
        return !ready.isEmpty
    }

    /// Orders stream ids (`<ms>-<seq>`, or `0`): negative, zero or positive like `a - b`.
    static func compare(_ a: String, _ b: String) -> Int {
        func parts(_ id: String) -> (UInt64, UInt64) {
            let halves = id.split(separator: "-", maxSplits: 1)
            return (UInt64(halves.first ?? "0") ?? 0, halves.count > 1 ? UInt64(halves[1]) ?? 0 : 0)
        }
        let (x, y) = (parts(a), parts(b))
        return x == y ? 0 : (x < y ? -1 : 1)
    }
}

extension Duration {
    /// Whole milliseconds, rounded up (a block of 0.4 ms waits 1 ms, not forever).
    var inMillisecondsRounded: Int64 {
        let (s, atto) = components
        return s * 1000 + (atto + 999_999_999_999_999) / 1_000_000_000_000_000
    }
}
