import Synchronization
import Foundation

/// An async Redis client over hiredis' synchronous API.
///
/// Ordinary commands share one connection owned by a dedicated thread that pipelines everything
/// queued at once. Blocking commands and subscriptions get their own connection and thread, so
/// they never stall other callers nor Swift's cooperative pool. A dead connection is dropped and
/// the next command reconnects.
///
/// On a cluster URL (`redis-cluster://`, `?cluster=1`) the same calls are routed by hash slot
/// through `ClusterRouter`: one shared connection per master, blocking and subscribed connections
/// to the node of their key or channel.
public final class RedisClient: Sendable {
    /// The server this client talks to.
    public let url: RedisURL
    /// Bound on TCP/Unix connect and on the AUTH/SELECT handshake, so a down server fails fast.
    let connectTimeout: Duration
    /// Read timeout of the shared connection; `blocking` connections have none.
    static let mainReadTimeout: Duration = .seconds(30)
    /// How many idle blocking connections are kept for reuse.
    static let maxIdleBlocking = 8

    /// The shared connection; nil on a cluster, where `cluster` has one per master.
    private let main: ConnectionWorker?
    private let cluster: ClusterRouter?
    private let state = Locked(State())
    private let reader = Mutex<SharedStreamReader?>(nil)

    struct State {
        var closed = false
        var idleBlocking: [ConnectionWorker] = []
        var busy: [ObjectIdentifier: ConnectionWorker] = [:]
    }

    /// Creates a client; nothing connects until `connect()` or the first command.
    public init(url: RedisURL, connectTimeout: Duration = .seconds(5)) {
        self.url = url
        self.connectTimeout = connectTimeout
        if url.cluster != nil {
            self.main = nil
            self.cluster = ClusterRouter(url: url, connectTimeout: connectTimeout)
        } else {
            self.main = ConnectionWorker(url: url, connectTimeout: connectTimeout,
                                         readTimeout: RedisClient.mainReadTimeout, name: "orbiter-redis-main")
            self.cluster = nil
        }
    }

    /// True on a Redis Cluster URL.
    public var isCluster: Bool { cluster != nil }

    deinit { close() }

    /// Connects, authenticates and selects the database now, so configuration errors surface at
    /// startup rather than on first use. Throws `.connection` naming the (masked) URL.
    public func connect() async throws {
        guard let main else { return try await cluster!.connect() }
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
            main.submit(.commands([], .connect(c)))
        }
    }

    /// Sends one command on the shared, pipelined connection. An error reply throws `.server`.
    /// Commands that may block for long (`BLPOP`, `XREAD BLOCK`...) belong in `blocking`: this
    /// connection has a 30 s read timeout and would hold up every other caller meanwhile.
    public func send(_ args: [any RedisArgument]) async throws -> RedisReply {
        let command = EncodedCommand(args)
        guard let main else {
            let reply = try await cluster!.pipeline([command])[0]
            if case .error(let m) = reply { throw RedisError.server(m) }
            return reply
        }
        return try await withCheckedThrowingContinuation { c in
            main.submit(.commands([command], .one(c)))
        }
    }

    /// Sends several commands in one round trip and returns their replies in order; error replies
    /// stay inline as `.error` so one failing command does not hide the others' results.
    public func pipeline(_ commands: [[any RedisArgument]]) async throws -> [RedisReply] {
        if commands.isEmpty { return [] }
        let encoded = commands.map(EncodedCommand.init)
        guard let main else { return try await cluster!.pipeline(encoded) }
        return try await withCheckedThrowingContinuation { c in
            main.submit(.commands(encoded, .many(c)))
        }
    }

    /// Runs a Lua script by SHA (`EVALSHA`); if the server does not know it (`NOSCRIPT`, e.g. after a
    /// restart or `SCRIPT FLUSH`) loads it and retries in one more round trip.
    public func run(_ script: RedisScript, keys: [String], args: [any RedisArgument]) async throws -> RedisReply {
        var evalsha: [any RedisArgument] = ["EVALSHA", script.sha1, keys.count]
        evalsha.append(contentsOf: keys.map { $0 as any RedisArgument })
        evalsha.append(contentsOf: args)
        do {
            return try await send(evalsha)
        } catch RedisError.server(let message) where message.hasPrefix("NOSCRIPT") {
            let replies = try await pipeline([["SCRIPT", "LOAD", script.source], evalsha])
            guard replies.count == 2 else { throw RedisError.protocolError("expected 2 replies, got \(replies.count)") }
            if case .error(let m) = replies[0] { throw RedisError.server("cannot load script \(script.name): \(m)") }
            if case .error(let m) = replies[1] { throw RedisError.server(m) }
            return replies[1]
        }
    }

    /// Runs a command that may block for long (`BLPOP`, `XREAD BLOCK`, `XREADGROUP BLOCK`...) on a
    /// dedicated pooled connection with no read timeout. Cancelling the calling task interrupts it at
    /// once (`.cancelled`) and discards that connection. An error reply throws `.server`.
    public func blocking(_ args: [any RedisArgument]) async throws -> RedisReply {
        if Task.isCancelled { throw RedisError.cancelled }
        let command = EncodedCommand(args)
        guard let cluster else { return try await blocking(command, on: nil) }
        let node = try await cluster.node(forSlot: command.hashSlot)
        do {
            return try await blocking(command, on: cluster.nodeURL(node))
        } catch RedisError.server(let m) {
            throw cluster.changeError(m, node: node) ?? RedisError.server(m)
        } catch RedisError.connection(let m) {
            cluster.markStale()
            throw RedisError.connection(m)
        }
    }

    /// `blocking` on a pooled connection to `nodeURL` (the client's URL when nil).
    private func blocking(_ command: EncodedCommand, on nodeURL: RedisURL?) async throws -> RedisReply {
        let worker = try checkoutBlocking(nodeURL ?? url)
        defer { checkinBlocking(worker) }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { c in
                worker.submit(.commands([command], .one(c)))
            }
        } onCancel: {
            worker.interrupt()
        }
    }

    /// Closes every connection: queued and in-flight commands fail, subscriptions end. Idempotent.
    public func close() {
        let workers = state.withLock { s -> [ConnectionWorker] in
            s.closed = true
            let all = s.idleBlocking + Array(s.busy.values)
            s.idleBlocking = []
            s.busy = [:]
            return all
        }
        main?.close()
        cluster?.close()
        for w in workers { w.close() }
    }

    /// The one blocking `XREAD` all of this client's stream waits share (made on first use).
    public var streamReader: SharedStreamReader {
        reader.withLock { reader in
            if let reader { return reader }
            let made = SharedStreamReader(client: self)
            reader = made
            return made
        }
    }

    // MARK: - Dedicated connections

    /// Registers a new dedicated worker (blocking or subscription), or throws if the client is closed.
    /// On a cluster it connects to the node of `key` (see `ClusterRouter.nodeURLNow`).
    func makeDedicatedWorker(name: String, routedBy key: String? = nil) throws -> ConnectionWorker {
        try makeDedicatedWorker(name: name, nodeURL: cluster?.nodeURLNow(forKey: key) ?? url)
    }

    /// A dedicated worker for the node of `key`, once the slot map is loaded (cluster only).
    func makeDedicatedWorker(name: String, routedBy key: String) async throws -> ConnectionWorker {
        guard let cluster else { return try makeDedicatedWorker(name: name, nodeURL: url) }
        return try makeDedicatedWorker(name: name, nodeURL: cluster.nodeURL(try await cluster.node(forSlot: HashSlot.of(key))))
    }

    private func makeDedicatedWorker(name: String, nodeURL: RedisURL) throws -> ConnectionWorker {
        let closed = state.withLock { $0.closed }
        if closed { throw RedisError.connection("client for Redis at \(url) is closed") }
        let worker = ConnectionWorker(url: nodeURL, connectTimeout: connectTimeout, readTimeout: nil, name: name)
        let registered = state.withLock { s -> Bool in
            if s.closed { return false }
            s.busy[ObjectIdentifier(worker)] = worker
            return true
        }
        if !registered {
            worker.close()
            throw RedisError.connection("client for Redis at \(url) is closed")
        }
        return worker
    }

    /// Forgets and stops a dedicated worker.
    func retireDedicatedWorker(_ worker: ConnectionWorker) {
        _ = state.withLock { $0.busy.removeValue(forKey: ObjectIdentifier(worker)) }
        worker.close()
    }

    private func checkoutBlocking(_ nodeURL: RedisURL) throws -> ConnectionWorker {
        let idle = try state.withLock { s -> ConnectionWorker? in
            if s.closed { throw RedisError.connection("client for Redis at \(url) is closed") }
            guard let i = s.idleBlocking.lastIndex(where: { $0.url == nodeURL }) else { return nil }
            let w = s.idleBlocking.remove(at: i)
            s.busy[ObjectIdentifier(w)] = w
            return w
        }
        return try idle ?? makeDedicatedWorker(name: "orbiter-redis-blocking", nodeURL: nodeURL)
    }

    /// On a cluster: the error to throw for a failure on a dedicated connection to the node of
    /// `key` (a redirect or a role change becomes a lost connection and the map is refreshed).
    func dedicatedFailure(_ error: any Error) -> any Error {
        guard let cluster else { return error }
        switch error as? RedisError {
        case .server(let m): return cluster.changeError(m, node: nil) ?? error
        case .connection:
            cluster.markStale()
            return error
        default: return error
        }
    }

    /// `send` to the node of `key` on a cluster (for keyless commands tied to a node, e.g.
    /// `CLIENT UNBLOCK` of a connection reading that key); plain `send` otherwise.
    func send(_ args: [any RedisArgument], routedBy key: String?) async throws -> RedisReply {
        guard let cluster, let key else { return try await send(args) }
        let node = try await cluster.node(forSlot: HashSlot.of(key))
        let reply = try await cluster.exchangeOne(node, EncodedCommand(args))
        if case .error(let m) = reply { throw RedisError.server(m) }
        return reply
    }

    private func checkinBlocking(_ worker: ConnectionWorker) {
        let reusable = worker.isReusable
        let kept = state.withLock { s -> Bool in
            s.busy.removeValue(forKey: ObjectIdentifier(worker))
            guard reusable, !s.closed, s.idleBlocking.count < RedisClient.maxIdleBlocking else { return false }
            s.idleBlocking.append(worker)
            return true
        }
        if !kept { worker.close() }
    }
}
