import Synchronization
import Foundation

/// An async Redis client over hiredis' synchronous API.
///
/// Ordinary commands share one connection owned by a dedicated thread that pipelines everything
/// queued at once. Blocking commands and subscriptions get their own connection and thread, so
/// they never stall other callers nor Swift's cooperative pool. A dead connection is dropped and
/// the next command reconnects.
public final class RedisClient: Sendable {
    /// The server this client talks to.
    public let url: RedisURL
    /// Bound on TCP/Unix connect and on the AUTH/SELECT handshake, so a down server fails fast.
    let connectTimeout: Duration
    /// Read timeout of the shared connection; `blocking` connections have none.
    static let mainReadTimeout: Duration = .seconds(30)
    /// How many idle blocking connections are kept for reuse.
    static let maxIdleBlocking = 8

    private let main: ConnectionWorker
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
        self.main = ConnectionWorker(url: url, connectTimeout: connectTimeout,
                                     readTimeout: RedisClient.mainReadTimeout, name: "orbiter-redis-main")
    }

    deinit { close() }

    /// Connects, authenticates and selects the database now, so configuration errors surface at
    /// startup rather than on first use. Throws `.connection` naming the (masked) URL.
    public func connect() async throws {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
            main.submit(.commands([], .connect(c)))
        }
    }

    /// Sends one command on the shared, pipelined connection. An error reply throws `.server`.
    /// Commands that may block for long (`BLPOP`, `XREAD BLOCK`...) belong in `blocking`: this
    /// connection has a 30 s read timeout and would hold up every other caller meanwhile.
    public func send(_ args: [any RedisArgument]) async throws -> RedisReply {
        let command = EncodedCommand(args)
        return try await withCheckedThrowingContinuation { c in
            main.submit(.commands([command], .one(c)))
        }
    }

    /// Sends several commands in one round trip and returns their replies in order; error replies
    /// stay inline as `.error` so one failing command does not hide the others' results.
    public func pipeline(_ commands: [[any RedisArgument]]) async throws -> [RedisReply] {
        if commands.isEmpty { return [] }
        let encoded = commands.map(EncodedCommand.init)
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
        let worker = try checkoutBlocking()
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
        main.close()
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
    func makeDedicatedWorker(name: String) throws -> ConnectionWorker {
        let closed = state.withLock { $0.closed }
        if closed { throw RedisError.connection("client for Redis at \(url) is closed") }
        let worker = ConnectionWorker(url: url, connectTimeout: connectTimeout, readTimeout: nil, name: name)
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

    private func checkoutBlocking() throws -> ConnectionWorker {
        let idle = try state.withLock { s -> ConnectionWorker? in
            if s.closed { throw RedisError.connection("client for Redis at \(url) is closed") }
            guard let w = s.idleBlocking.popLast() else { return nil }
            s.busy[ObjectIdentifier(w)] = w
            return w
        }
        return try idle ?? makeDedicatedWorker(name: "orbiter-redis-blocking")
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
