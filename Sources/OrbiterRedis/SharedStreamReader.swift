import Synchronization

/// Many waiters, few blocking connections: the streams someone waits on are spread over
/// `shards` readers by key, and each reader reads all of its streams with a single
/// `XREAD COUNT … BLOCK … STREAMS k1 … kn id1 … idn` on a connection of its own.
///
/// A hundred `result()` or `stream()` waits on one client would otherwise hold a hundred
/// connections (each a socket and a thread); they hold at most `shards`. A waiter that joins a stream the read under way does
/// not cover wakes it with `CLIENT UNBLOCK` (sent on the client's main connection, once per read),
/// so it is read at once.
///
/// Followers (`stream()`) read again as soon as they are served. So that a thousand of them do not
/// each have to rejoin the read (and wake it), a stream stays in the read for `linger` after its
/// last waiter, and what arrives meanwhile waits in the stream's buffer: a follower that comes back
/// is served from it at once, without Redis. While entries keep arriving, reads of many streams
/// start at most every `pace`, so each carries the entries of many streams instead of one read per
/// entry (an `XREAD` over a thousand streams costs Redis about a millisecond, mostly the keys);
/// reads of a few streams go again at once (a waiter for one result does not wait out a pace).
///
/// On a Redis Cluster one `XREAD` cannot span slots: the client's reader hands each key to a
/// reader of its slot (`routingKey`), whose connection and `CLIENT UNBLOCK` go to that slot's node.
public final class SharedStreamReader: Sendable {
    private struct Waiter {
        let after: String
        let deadline: ContinuousClock.Instant
        let continuation: CheckedContinuation<RedisReply, any Error>
    }

    /// A stream the loop reads. A class, changed in place under the lock: as a struct in the
    /// dictionary, each change copied its waiters and buffer (copy-on-write) and each read's plan
    /// copied and stored back every stream — a tenth of a process following a thousand streams.
    private final class Followed {
        /// The loop reads the entries after `from`; `buffer` holds the entries after `base` up to
        /// `from` that no waiter took yet (a waiter after `base` or later is served from it).
        var from: String
        var base: String
        /// The id the `XREAD` under way reads this stream after (set with the read's plan); nil
        /// when that read leaves it out. A waiter whose stream is not read from where it now is
        /// wakes the read; a reply for a stream read from an id it no longer has is dropped.
        var readFrom: String?
        var buffer: [RedisReply] = []
        var waiters: [UInt64: Waiter] = [:]
        /// When its last waiter was served or left: the stream lingers in the read until `linger` later.
        var idleSince: ContinuousClock.Instant

        init(after: String, now: ContinuousClock.Instant) {
            from = after
            base = after
            idleSince = now
        }
    }

    private struct State {
        var streams: [String: Followed] = [:]
        /// Each waiter's stream (to find it when it is cancelled).
        var keyOf: [UInt64: String] = [:]
        var nextID: UInt64 = 0
        /// The read loop exists (it ends when nobody waits and no stream lingers).
        var running = false
        /// While an `XREAD` is under way: its connection's client id (each stream's `readFrom` says
        /// what it reads).
        var blocked: Int64?
        /// Counts the loop's reads, so a waiter can tell whether its wake-up was needed still.
        var generation: UInt64 = 0
        /// The read a `CLIENT UNBLOCK` was sent for (one per read: the first waiter's wakes it for all).
        var woken: UInt64 = 0
        /// The reading connection and its client id, kept between loops (waits one after another
        /// would otherwise open a connection each); closed with the client.
        var connection: (worker: ConnectionWorker, clientID: Int64?)?
    }

    /// The client owns this reader (`RedisClient.streamReader`); the read loop holds it while it runs.
    private weak let client: RedisClient?
    private let state = Mutex(State())
    /// Longest single block, so deadlines and a missed wake-up cost at most this.
    static let maxBlock = Duration.seconds(1)
    /// How long a stream is read on after its last waiter left (a follower back within this finds
    /// what arrived meanwhile).
    static let linger = Duration.milliseconds(200)
    /// Reads that find entries start at least this far apart when they carry `paceFrom` streams or
    /// more (fewer cost Redis little; a pace would only delay their next entries).
    static let pace = Duration.milliseconds(2)
    static let paceFrom = 8
    /// Entries kept for a stream nobody waits on; beyond this the stream is not read until they
    /// are taken (or it stops lingering).
    static let bufferLimit = 1000

    /// Cluster only: a key of the one slot this reader reads (nil for the client's own reader).
    private let routingKey: String?
    /// The client's reader hands each key to a part: the reader of its slot on a Cluster, of its
    /// shard otherwise; the parts read.
    private let isPart: Bool
    /// The parts, made on first use (by slot, or by shard).
    private let parts = Locked<[Int: SharedStreamReader]>([:])
    /// Readers (connections) the streams of one client are spread over, so one reader's reply is
    /// parsed and handed out while another's `XREAD` runs: with a thousand followed streams one
    /// reader spent most of each round on the client side, and every follower waited for it.
    static let shards = 4

    init(client: RedisClient, routingKey: String? = nil, isPart: Bool = false) {
        self.client = client
        self.routingKey = routingKey
        self.isPart = isPart
    }

    /// The shard of a key (FNV-1a of all its bytes: the keys of one queue share their hash tag).
    static func shard(of key: String) -> Int {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in key.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return Int(hash % UInt64(shards))
    }

    /// Stops reading stream `key` now when nobody waits on it, instead of `linger` later: for a
    /// caller that has read the stream's last entry (a task's terminal event), so the reads that
    /// follow do not carry streams nothing more will come to (a client waiting for results one
    /// after another had every read carry the last 200 ms of finished tasks' streams).
    public func forget(key: String) {
        if let part = part(of: key, create: false) {
            part.forget(key: key)
            return
        }
        state.withLock { s in
            if let stream = s.streams[key], stream.waiters.isEmpty { s.streams[key] = nil }
        }
    }

    /// Whether stream `key` is read (waited on, or lingering after its last waiter).
    func isFollowing(key: String) -> Bool {
        if !isPart { return part(of: key, create: false)?.isFollowing(key: key) ?? false }
        return state.withLock { $0.streams[key] != nil }
    }

    /// The part that reads `key` (nil for a part itself, or when none was made and `create` is false).
    private func part(of key: String, create: Bool) -> SharedStreamReader? {
        guard !isPart, let client else { return nil }
        let (part, routing) = client.isCluster ? (HashSlot.of(key), key) : (Self.shard(of: key), nil)
        return parts.withLock { readers in
            if let reader = readers[part] { return reader }
            guard create else { return nil }
            let made = SharedStreamReader(client: client, routingKey: routing, isPart: true)
            readers[part] = made
            return made
        }
    }

    /// The entries of stream `key` after id `after`, as an `XREAD` reply for that one stream, once
    /// there are any; `.null` when `block` passes first. Cancelling the caller ends its wait.
    public func read(key: String, after: String, block: Duration) async throws -> RedisReply {
        if let reader = part(of: key, create: true) {
            return try await reader.read(key: key, after: after, block: block)
        }
        let id = state.withLock { s -> UInt64 in
            s.nextID += 1
            return s.nextID
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<RedisReply, any Error>) in
                let now = ContinuousClock.now
                let (served, startLoop, wake) = state.withLock { s -> (RedisReply?, Bool, (Int64, UInt64)?) in
                    let stream: Followed
                    if let known = s.streams[key] {
                        stream = known
                    } else {
                        stream = Followed(after: after, now: now)
                        s.streams[key] = stream
                    }
                    if Self.compare(after, stream.base) < 0 {
                        // Older than what is kept: read it again from Redis.
                        stream.from = after
                        stream.base = after
                        stream.buffer = []
                    } else if let entries = Self.take(stream, after: after) {
                        stream.idleSince = now
                        return (Self.reply(key, entries), false, nil)
                    }
                    stream.waiters[id] = Waiter(after: after, deadline: now + block, continuation: continuation)
                    s.keyOf[id] = key
                    if !s.running {
                        s.running = true
                        return (nil, true, nil)
                    }
                    // A read under way that does not cover this waiter must start over.
                    if let blocked = s.blocked, s.woken != s.generation, stream.readFrom != stream.from {
                        s.woken = s.generation
                        return (nil, false, (blocked, s.generation))
                    }
                    return (nil, false, nil)
                }
                if let served {
                    continuation.resume(returning: served)
                } else if startLoop {
                    Task { await self.loop() } // owned by this reader: it ends when nobody waits
                } else if let (clientID, generation) = wake {
                    Task { await self.wake(clientID, generation: generation) }
                }
            }
        } onCancel: {
            let waiter = state.withLock { s -> Waiter? in
                guard let key = s.keyOf.removeValue(forKey: id) else { return nil }
                guard let stream = s.streams[key] else { return nil }
                let waiter = stream.waiters.removeValue(forKey: id)
                if stream.waiters.isEmpty { stream.idleSince = .now }
                return waiter
            }
            waiter?.continuation.resume(throwing: CancellationError())
        }
    }

    /// The buffered entries after `after` (nil when none), for a waiter arriving at a stream nobody
    /// else waits on: the buffer is emptied, since the one served comes back after the last of them.
    private static func take(_ stream: Followed, after: String) -> [RedisReply]? {
        guard Self.compare(after, stream.from) < 0, let start = firstAfter(stream.buffer, after) else { return nil }
        defer {
            stream.buffer = []
            stream.base = stream.from
        }
        return Array(stream.buffer[start...])
    }

    /// Hands the stream's waiters the buffered entries after their ids; the buffer is emptied,
    /// since those served come back after its last entry, and those not served wait after it.
    private static func serveWaiters(_ stream: Followed, key: String, keyOf: inout [UInt64: String]) -> [(Waiter, RedisReply)] {
        var ready: [(Waiter, RedisReply)] = []
        for (id, waiter) in stream.waiters {
            guard let start = firstAfter(stream.buffer, waiter.after) else { continue }
            stream.waiters[id] = nil
            keyOf[id] = nil
            ready.append((waiter, reply(key, Array(stream.buffer[start...]))))
        }
        stream.buffer = []
        stream.base = stream.from
        return ready
    }

    /// The index of the first entry after id `after` in `entries` (in id order).
    private static func firstAfter(_ entries: [RedisReply], _ after: String) -> Int? {
        entries.firstIndex { entry in entry.array?.first?.string.map { compare($0, after) > 0 } ?? false }
    }

    private static func reply(_ key: String, _ entries: [RedisReply]) -> RedisReply {
        .array([.array([.bulk(Array(key.utf8)), .array(entries)])])
    }

    /// `CLIENT UNBLOCK` for the read of `generation`; retried briefly when the read had not begun
    /// blocking yet (an unblock then finds nothing to wake).
    private func wake(_ clientID: Int64, generation: UInt64) async {
        guard let client else { return }
        for _ in 0..<50 {
            let unblocked = (try? await client.send(["CLIENT", "UNBLOCK", clientID], routedBy: routingKey).int) ?? 0
            if unblocked == 1 { return }
            let stillBlocked = state.withLock { $0.blocked == clientID && $0.generation == generation }
            if !stillBlocked { return }
            try? await Task.sleep(for: .milliseconds(1))
        }
    }

    /// What to read next: expired waiters taken out (to end with `.null`), streams that stopped
    /// lingering dropped; nil block when nothing is left to read (the loop ends). A read is marked
    /// as under way in the same step (`blocked`, `readFrom`), so a waiter that comes after the plan
    /// either finds its stream read from where it is or wakes the read.
    private func plan(now: ContinuousClock.Instant, keep worker: ConnectionWorker?, clientID: Int64?)
        -> (reading: [(key: String, from: String)], expired: [Waiter], block: Duration?) {
        state.withLock { s in
            var expired: [Waiter] = []
            var reading: [(key: String, from: String)] = []
            var soonest = now + Self.maxBlock
            var done: [String] = []
            reading.reserveCapacity(s.streams.count)
            for (key, stream) in s.streams {
                if !stream.waiters.isEmpty {
                    for (id, waiter) in stream.waiters where waiter.deadline <= now {
                        expired.append(waiter)
                        stream.waiters[id] = nil
                        s.keyOf[id] = nil
                    }
                    if stream.waiters.isEmpty { stream.idleSince = now }
                }
                if stream.waiters.isEmpty {
                    if stream.idleSince + Self.linger <= now {
                        done.append(key)
                        continue
                    }
                    soonest = min(soonest, stream.idleSince + Self.linger)
                } else {
                    for waiter in stream.waiters.values { soonest = min(soonest, waiter.deadline) }
                }
                stream.readFrom = stream.buffer.count < Self.bufferLimit ? stream.from : nil
                if let from = stream.readFrom { reading.append((key, from)) }
            }
            for key in done { s.streams[key] = nil }
            guard !s.streams.isEmpty else {
                // Done for now; the connection waits for the next loop (set with `running`, so
                // a loop starting right after finds it).
                s.running = false
                if let worker { s.connection = (worker, clientID) }
                return ([], expired, nil)
            }
            if !reading.isEmpty {
                s.generation += 1
                s.blocked = clientID
            }
            return (reading, expired, max(.milliseconds(1), soonest - now))
        }
    }

    private func loop() async {
        guard let client else {
            let orphans = state.withLock { s -> [Waiter] in
                s.running = false
                defer { s.streams = [:]; s.keyOf = [:] }
                return s.streams.values.flatMap { $0.waiters.values }
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
        var lastRead: ContinuousClock.Instant?
        while true {
            // Waiters that arrive meanwhile join this read without a wake-up.
            if let lastRead, lastRead + Self.pace > .now { try? await Task.sleep(until: lastRead + Self.pace) }
            do {
                // The connection before the plan: a waiter that comes while it is made is in the
                // plan, and one after the plan finds the read marked as under way (see `plan`).
                if worker == nil {
                    if let routingKey {
                        worker = try await client.makeDedicatedWorker(name: "orbiter-redis-xread", routedBy: routingKey)
                    } else {
                        worker = try client.makeDedicatedWorker(name: "orbiter-redis-xread")
                    }
                    clientID = nil
                }
                if clientID == nil { clientID = try await Self.send(["CLIENT", "ID"], on: worker!).int }
                let (reading, expired, block) = plan(now: .now, keep: worker, clientID: clientID)
                for waiter in expired { waiter.continuation.resume(returning: .null) }
                guard let block else { return }
                if reading.isEmpty {
                    // Only full buffers of streams nobody waits on: wait for them to be taken or dropped.
                    try? await Task.sleep(for: min(block, Self.pace))
                    continue
                }
                var args: [any RedisArgument] = ["XREAD", "COUNT", Self.bufferLimit, "BLOCK", max(1, Int(block.inMillisecondsRounded)), "STREAMS"]
                args.reserveCapacity(6 + 2 * reading.count)
                for (key, _) in reading { args.append(key) }
                for (_, from) in reading { args.append(from) }
                let started = ContinuousClock.now
                let reply = try await Self.send(args, on: worker!)
                // A read of many streams that found entries is followed by the next after `pace`;
                // one that waited (or was woken), or read a few streams, goes again at once.
                lastRead = reply.isNull || reading.count < Self.paceFrom ? nil : started
                deliver(reply)
            } catch {
                let error = client.dedicatedFailure(error)
                // The connection is gone (or the client closed): every waiter hears it and decides.
                let failed = state.withLock { s -> [Waiter] in
                    s.blocked = nil
                    defer { s.streams = [:]; s.keyOf = [:] }
                    return s.streams.values.flatMap { $0.waiters.values }
                }
                for waiter in failed { waiter.continuation.resume(throwing: error) }
                if let worker { client.retireDedicatedWorker(worker) }
                worker = nil
                lastRead = nil
                // The next waiter starts a loop afresh.
                let restart = state.withLock { s -> Bool in
                    if s.streams.isEmpty { s.running = false; return false }
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

    /// Adds each stream's new entries to its buffer and hands its waiters what comes after their ids.
    private func deliver(_ reply: RedisReply) {
        let now = ContinuousClock.now
        let ready = state.withLock { s -> [(Waiter, RedisReply)] in
            s.blocked = nil
            var ready: [(Waiter, RedisReply)] = []
            for stream in reply.array ?? [] {
                guard let parts = stream.array, parts.count == 2, let key = parts[0].string,
                      let entries = parts[1].array, let lastID = entries.last?.array?.first?.string,
                      let followed = s.streams[key],
                      // Read from where the stream is now (it was not reset to an older id meanwhile).
                      followed.readFrom == followed.from else { continue }
                followed.buffer += entries
                followed.from = lastID
                if !followed.waiters.isEmpty {
                    ready += Self.serveWaiters(followed, key: key, keyOf: &s.keyOf)
                    followed.idleSince = now
                }
            }
            return ready
        }
        for (waiter, reply) in ready { waiter.continuation.resume(returning: reply) }
    }

    /// Orders stream ids (`<ms>-<seq>`, or `0`): negative, zero or positive like `a - b`.
    static func compare(_ a: String, _ b: String) -> Int {
        let (x, y) = (parts(a), parts(b))
        return x == y ? 0 : (x < y ? -1 : 1)
    }

    /// An id's two numbers, read straight from its bytes (this runs for every entry delivered).
    private static func parts(_ id: String) -> (UInt64, UInt64) {
        var ms: UInt64 = 0, seq: UInt64 = 0, sawDash = false
        for byte in id.utf8 {
            if byte == UInt8(ascii: "-"), !sawDash { sawDash = true; continue }
            guard byte >= 0x30, byte <= 0x39 else { return sawDash ? (ms, seq) : (ms, 0) }
            if sawDash { seq = seq &* 10 &+ UInt64(byte - 0x30) } else { ms = ms &* 10 &+ UInt64(byte - 0x30) }
        }
        return (ms, seq)
    }
}

extension Duration {
    /// Whole milliseconds, rounded up (a block of 0.4 ms waits 1 ms, not forever).
    var inMillisecondsRounded: Int64 {
        let (s, atto) = components
        return s * 1000 + (atto + 999_999_999_999_999) / 1_000_000_000_000_000
    }
}
