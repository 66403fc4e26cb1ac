/// The cluster half of `RedisClient`: one auto-pipelined `ConnectionWorker` per master, the slot
/// map (`CLUSTER SLOTS`, asked of a seed first and of any known node after a failover), and the
/// routing of each command by the hash slot of its key (`CommandRouting`).
///
/// - A pipeline is split per node, the parts run concurrently, the replies are put back in order.
///   A command without a key rides with its neighbours (`WAIT` after the write it acknowledges,
///   `SCRIPT LOAD` before the `EVALSHA` it serves), or goes to the first master.
/// - `-MOVED` marks the map stale (refreshed on the next command) and resends to the named node;
///   `-ASK` resends once with `ASKING` there; `-TRYAGAIN` is resent after a pause.
/// - A lost node connection or `-CLUSTERDOWN` marks the map stale and throws `.connection`:
///   callers already resend on a lost connection, and by then the map names the promoted replica.
final class ClusterRouter: Sendable {
    typealias Address = SentinelTarget.Address

    /// The cluster URL (seeds, credentials); node URLs are made from it.
    let url: RedisURL
    private let connectTimeout: Duration
    private let state = Locked(State())
    /// Redirects followed for one command before its last `-MOVED` is returned as it is.
    static let maxRedirects = 5
    /// A stale map is asked for again at most this often (a dead master fails fast on loopback).
    static let minRefreshInterval: Duration = .milliseconds(100)

    private struct State {
        var map: ClusterSlotMap?
        var stale = true
        var lastRefresh: ContinuousClock.Instant?
        var lastError: RedisError?
        /// Callers waiting for the refresh under way; nil when none is.
        var refreshWaiters: [CheckedContinuation<ClusterSlotMap, any Error>]?
        var workers: [Address: ConnectionWorker] = [:]
        /// Nodes whose last exchange lost its connection: asked for the map last (a dead host may
        /// take the whole connect timeout to fail).
        var unreachable: Set<Address> = []
        var closed = false
    }

    init(url: RedisURL, connectTimeout: Duration) {
        self.url = url
        self.connectTimeout = connectTimeout
    }

    /// The URL of one node: the cluster URL's credentials, that node's address.
    func nodeURL(_ node: Address) -> RedisURL {
        var u = url
        u.cluster = nil
        u.host = node.host
        u.port = node.port
        return u
    }

    // MARK: - Commands

    /// Sends `commands` routed by slot; replies in order, error replies inline.
    func pipeline(_ commands: [EncodedCommand]) async throws -> [RedisReply] {
        let map = try await currentMap()
        let targets = try assign(commands, map)
        var order: [Address] = []
        var groups: [Address: [Int]] = [:]
        for (i, node) in targets.enumerated() {
            if groups[node] == nil { order.append(node) }
            groups[node, default: []].append(i)
        }
        var replies: [RedisReply]
        if order.count == 1 {
            replies = try await exchange(order[0], commands)
        } else {
            replies = Array(repeating: .null, count: commands.count)
            try await withThrowingTaskGroup(of: (Address, [RedisReply]).self) { group in
                for node in order {
                    let part = groups[node]!.map { commands[$0] }
                    group.addTask { (node, try await self.exchange(node, part)) }
                }
                for try await (node, part) in group {
                    for (i, reply) in zip(groups[node]!, part) { replies[i] = reply }
                }
            }
        }
        var redirected: [Int: Address] = [:]
        for i in replies.indices where Self.needsFollowUp(replies[i]) {
            let (reply, node) = try await followUp(commands[i], reply: replies[i], sentTo: targets[i])
            replies[i] = reply
            if node != targets[i] { redirected[i] = node }
        }
        if !redirected.isEmpty { try await resendRiders(commands, targets, redirected, &replies) }
        return replies
    }

    /// A keyless command that rode after a redirected write (`WAIT` acknowledges the writes of its
    /// own connection) is sent again after it, on the node that took the write.
    private func resendRiders(_ commands: [EncodedCommand], _ targets: [Address], _ redirected: [Int: Address],
                              _ replies: inout [RedisReply]) async throws {
        for j in commands.indices where commands[j].hashSlot == nil && !commands[j].isScriptCommand {
            guard let i = (0..<j).last(where: { commands[$0].hashSlot != nil }), targets[i] == targets[j],
                  let node = redirected[i] else { continue }
            replies[j] = try await exchange(node, [commands[j]])[0]
        }
    }

    /// The master of `slot` (the first master for a command without a key).
    func node(forSlot slot: Int?) async throws -> Address {
        try node(forSlot: slot, in: try await currentMap())
    }

    /// The node a dedicated connection for `key` should use now, without waiting for a map:
    /// the slot's master when the map is known, else the first seed (pub/sub is cluster-wide).
    func nodeURLNow(forKey key: String?) -> RedisURL {
        let map = state.withLock { $0.map }
        if let map, let node = key.map({ HashSlot.of($0) }).flatMap(map.master(forSlot:)) ?? map.masters.first {
            return nodeURL(node)
        }
        return nodeURL(url.cluster?.seeds.first ?? .init(host: url.host ?? "127.0.0.1", port: url.port))
    }

    /// Loads the map and checks the cluster serves every slot, so a bad URL or a down cluster
    /// fails at startup with a message naming the URL.
    func connect() async throws {
        let map = try await currentMap(forceRefresh: true)
        if map.coveredSlots < HashSlot.count {
            throw RedisError.connection("the Redis Cluster at \(url) is down: \(HashSlot.count - map.coveredSlots) of \(HashSlot.count) "
                                        + "slots have no master (a failover in progress, or slots never assigned: see CLUSTER INFO)")
        }
        let info = try await exchange(map.masters[0], [EncodedCommand(["CLUSTER", "INFO"])])[0]
        if let text = info.string, let line = text.split(whereSeparator: \.isNewline).first(where: { $0.hasPrefix("cluster_state:") }),
           line.dropFirst("cluster_state:".count).trimmingCharacters(in: .whitespaces) != "ok" {
            throw RedisError.connection("the Redis Cluster at \(url) is down (\(line) on \(map.masters[0])): wait for it to recover or check CLUSTER INFO")
        }
    }

    /// Notes that the map may be wrong (a node was lost, a slot moved): the next command asks again.
    func markStale() { state.withLock { $0.stale = true } }

    /// The error to throw for a reply that says the cluster changed under a command that wrote
    /// nothing (`-CLUSTERDOWN`, `-UNBLOCKED` by a role change, `-MOVED` on a dedicated connection),
    /// so callers resend as after a lost connection; nil for any other reply.
    func changeError(_ message: String, node: Address?) -> RedisError? {
        let changed = message.hasPrefix("CLUSTERDOWN") || message.hasPrefix("MOVED") || message.hasPrefix("ASK ")
            || message.hasPrefix("TRYAGAIN") || message.hasPrefix("READONLY")
            || (message.hasPrefix("UNBLOCKED") && message.contains("instance state changed"))
        guard changed else { return nil }
        markStale()
        return .connection("the Redis Cluster at \(url) changed under a command\(node.map { " sent to \($0)" } ?? "") (\(message)): "
                           + "the slot map is asked for again; resend")
    }

    func close() {
        let workers = state.withLock { s -> [ConnectionWorker] in
            s.closed = true
            defer { s.workers = [:] }
            return Array(s.workers.values)
        }
        for w in workers { w.close() }
        let waiters = state.withLock { s -> [CheckedContinuation<ClusterSlotMap, any Error>] in
            defer { s.refreshWaiters = nil }
            return s.refreshWaiters ?? []
        }
        for w in waiters { w.resume(throwing: closedError) }
    }

    private var closedError: RedisError { .connection("client for Redis at \(url) is closed") }

    // MARK: - Routing

    private func node(forSlot slot: Int?, in map: ClusterSlotMap) throws -> Address {
        guard let slot else {
            guard let first = map.masters.first else { throw noMaster(nil) }
            return first
        }
        guard let node = map.master(forSlot: slot) else { throw noMaster(slot) }
        return node
    }

    private func noMaster(_ slot: Int?) -> RedisError {
        markStale()
        return .connection("the Redis Cluster at \(url) has no master for \(slot.map { "slot \($0)" } ?? "any slot") "
                           + "(a failover in progress, or the cluster is down): resend later")
    }

    /// The node of each command: its slot's master; a keyless one goes with the previous keyed
    /// command (`SCRIPT` with the next one), else the other neighbour, else the first master.
    private func assign(_ commands: [EncodedCommand], _ map: ClusterSlotMap) throws -> [Address] {
        let slots = commands.map(\.hashSlot)
        var keyed: [Address?] = try slots.map { slot in try slot.map { try node(forSlot: $0, in: map) } }
        if keyed.allSatisfy({ $0 != nil }) { return keyed.map { $0! } }
        let fallback = try node(forSlot: nil, in: map)
        let known = keyed
        for i in keyed.indices where keyed[i] == nil {
            let previous = known[..<i].last { $0 != nil } ?? nil
            let next = known[(i + 1)...].first { $0 != nil } ?? nil
            keyed[i] = (commands[i].isScriptCommand ? next ?? previous : previous ?? next) ?? fallback
        }
        return keyed.map { $0! }
    }

    private static func needsFollowUp(_ reply: RedisReply) -> Bool {
        guard case .error(let m) = reply else { return false }
        return m.hasPrefix("MOVED ") || m.hasPrefix("ASK ") || m.hasPrefix("TRYAGAIN") || m.hasPrefix("CLUSTERDOWN")
    }

    /// Follows redirects for one command (a redirected command was not run where it was sent).
    private func followUp(_ command: EncodedCommand, reply first: RedisReply, sentTo origin: Address) async throws -> (RedisReply, Address) {
        var reply = first
        var node = origin
        for _ in 0..<Self.maxRedirects {
            guard case .error(let m) = reply else { return (reply, node) }
            if let redirect = ClusterRedirect(message: m) {
                let target = redirect.node.host.isEmpty ? Address(host: node.host, port: redirect.node.port) : redirect.node
                if redirect.ask {
                    reply = try await exchange(target, [EncodedCommand(["ASKING"]), command]).last ?? .null
                } else {
                    markStale()
                    reply = try await exchange(target, [command])[0]
                }
                node = target
            } else if m.hasPrefix("TRYAGAIN") {
                try await Task.sleep(for: .milliseconds(50))
                reply = try await exchange(node, [command])[0]
            } else if let error = changeError(m, node: node) {
                throw error
            } else {
                return (reply, node)
            }
        }
        return (reply, node)
    }

    // MARK: - Nodes

    private func worker(for node: Address) throws -> ConnectionWorker {
        try state.withLock { s in
            if s.closed { throw closedError }
            if let w = s.workers[node] { return w }
            let w = ConnectionWorker(url: nodeURL(node), connectTimeout: connectTimeout,
                                     readTimeout: RedisClient.mainReadTimeout, name: "orbiter-redis-node")
            s.workers[node] = w
            return w
        }
    }

    /// One command to `node` on its shared connection, no redirects followed.
    func exchangeOne(_ node: Address, _ command: EncodedCommand) async throws -> RedisReply {
        try await exchange(node, [command])[0]
    }

    /// One round trip to `node` on its shared connection; a lost connection marks the map stale.
    private func exchange(_ node: Address, _ commands: [EncodedCommand]) async throws -> [RedisReply] {
        let worker = try worker(for: node)
        do {
            let replies = try await withCheckedThrowingContinuation { c in worker.submit(.commands(commands, .many(c))) }
            state.withLock { _ = $0.unreachable.remove(node) }
            return replies
        } catch RedisError.connection(let m) {
            state.withLock { s in
                s.stale = true
                s.unreachable.insert(node)
            }
            throw RedisError.connection(m)
        }
    }

    // MARK: - Slot map

    private enum Step {
        case have(ClusterSlotMap)
        case wait
        case refresh
    }

    /// The slot map, asked for again when stale (at most every `minRefreshInterval`); concurrent
    /// callers share one refresh.
    private func currentMap(forceRefresh: Bool = false) async throws -> ClusterSlotMap {
        let step = try state.withLock { s -> Step in
            if s.closed { throw closedError }
            if let map = s.map, !forceRefresh {
                if !s.stale { return .have(map) }
                if let last = s.lastRefresh, ContinuousClock.now - last < Self.minRefreshInterval { return .have(map) }
            }
            if s.refreshWaiters != nil { return .wait }
            s.refreshWaiters = []
            return .refresh
        }
        switch step {
        case .have(let map):
            return map
        case .wait:
            return try await withCheckedThrowingContinuation { c in
                let now = state.withLock { s -> Result<ClusterSlotMap, RedisError>? in
                    if s.refreshWaiters != nil {
                        s.refreshWaiters!.append(c)
                        return nil
                    }
                    if let map = s.map { return .success(map) }
                    return .failure(s.lastError ?? closedError)
                }
                if let now { c.resume(with: now.mapError { $0 }) }
            }
        case .refresh:
            let result = await fetchMap()
            let waiters = state.withLock { s -> [CheckedContinuation<ClusterSlotMap, any Error>] in
                s.lastRefresh = .now
                switch result {
                case .success(let map):
                    s.map = map
                    s.stale = false
                    s.lastError = nil
                case .failure(let e):
                    s.lastError = e
                }
                defer { s.refreshWaiters = nil }
                return s.refreshWaiters ?? []
            }
            for w in waiters { w.resume(with: result.mapError { $0 }) }
            return try result.get()
        }
    }

    /// Asks the known nodes (then the seeds) in turn for `CLUSTER SLOTS`; the first usable answer wins.
    private func fetchMap() async -> Result<ClusterSlotMap, RedisError> {
        let (known, unreachable) = state.withLock { s in ((s.map?.masters ?? []) + (s.map?.nodes ?? []), s.unreachable) }
        var candidates: [Address] = []
        for node in known + (url.cluster?.seeds ?? []) where !candidates.contains(node) { candidates.append(node) }
        candidates = candidates.filter { !unreachable.contains($0) } + candidates.filter { unreachable.contains($0) }
        var failures: [String] = []
        for node in candidates {
            do {
                let reply = try await exchange(node, [EncodedCommand(["CLUSTER", "SLOTS"])])[0]
                if case .error(let m) = reply {
                    if m.localizedCaseInsensitiveContains("cluster support disabled") {
                        failures.append("\(node) is not a cluster node (\(m)): use redis:// without cluster=1 for a single server")
                    } else {
                        failures.append("\(node): \(m)")
                    }
                    continue
                }
                let map = try ClusterSlotMap(slotsReply: reply, askedHost: node.host)
                if map.masters.isEmpty {
                    failures.append("\(node) knows no slots yet (was the cluster created? redis-cli --cluster create ...)")
                    continue
                }
                return .success(map)
            } catch {
                if case .connection(let m)? = error as? RedisError, m.contains("is closed") { return .failure(closedError) }
                failures.append("\(node): \(error)")
            }
        }
        return .failure(.connection("no node of the Redis Cluster at \(url) gave a slot map (\(failures.joined(separator: "; ")))"))
    }
}
