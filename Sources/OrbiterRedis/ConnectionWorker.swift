import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Owns one `RedisConnection` and the dedicated thread that does all its (blocking) I/O, so hiredis
/// never runs on Swift's cooperative pool.
///
/// Automatic pipelining: each time the thread wakes it takes *every* queued job, appends all their
/// commands, then reads the replies in order, so many concurrent callers share one round trip.
///
/// `@unchecked Sendable` is sound because the mutable state is split in two: `connection` is touched
/// only by the worker thread, and everything else is guarded by `cond`. Other threads only ever
/// `shutdown` the socket (under `cond`, while the thread has marked it busy so it cannot be closed).
final class ConnectionWorker: @unchecked Sendable {
    /// Who is waiting for the replies of a job.
    enum Completion: Sendable {
        /// One command; an error reply is thrown as `RedisError.server`.
        case one(CheckedContinuation<RedisReply, any Error>)
        /// Several commands; error replies stay inline.
        case many(CheckedContinuation<[RedisReply], any Error>)
        /// Nothing to send: just make sure the connection is up.
        case connect(CheckedContinuation<Void, any Error>)

        func resume(_ result: Result<[RedisReply], RedisError>) {
            switch (self, result) {
            case (.one(let c), .success(let replies)):
                if case .error(let m) = replies.first { c.resume(throwing: RedisError.server(m)) }
                else { c.resume(returning: replies.first ?? .null) }
            case (.one(let c), .failure(let e)): c.resume(throwing: e)
            case (.many(let c), .success(let replies)): c.resume(returning: replies)
            case (.many(let c), .failure(let e)): c.resume(throwing: e)
            case (.connect(let c), .success): c.resume()
            case (.connect(let c), .failure(let e)): c.resume(throwing: e)
            }
        }
    }

    /// A subscription's output and its one-shot "all channels confirmed" signal.
    struct Subscription: Sendable {
        typealias Message = (channel: String, message: [UInt8])
        let command: EncodedCommand
        let channelCount: Int
        let output: AsyncThrowingStream<Message, any Error>.Continuation
        let onConfirmed: (@Sendable (Result<Void, RedisError>) -> Void)?
    }

    /// Work for the thread.
    enum Job: Sendable {
        case commands([EncodedCommand], Completion)
        case subscribe(Subscription)

        func fail(_ error: RedisError) {
            switch self {
            case .commands(_, let completion): completion.resume(.failure(error))
            case .subscribe(let s):
                s.onConfirmed?(.failure(error))
                if case .cancelled = error { s.output.finish() } else { s.output.finish(throwing: error) }
            }
        }
    }

    let url: RedisURL
    private let connectTimeout: Duration
    private let readTimeout: Duration?

    // Guarded by `cond`.
    private let cond = NSCondition()
    private var queue: [Job] = []
    private var closed = false
    private var interrupted = false
    private var busyFD: Int32 = -1
    private var healthy = false

    // Touched only on the worker thread.
    private var connection: RedisConnection?

    /// Starts the worker's thread; the connection is opened lazily by the first job.
    init(url: RedisURL, connectTimeout: Duration, readTimeout: Duration?, name: String) {
        self.url = url
        self.connectTimeout = connectTimeout
        self.readTimeout = readTimeout
        let thread = Thread { [self] in self.run() }
        thread.name = name
        thread.start()
    }

    /// Queues a job; fails it at once if the worker is closed or interrupted.
    func submit(_ job: Job) {
        cond.lock()
        if closed || interrupted {
            let error: RedisError = interrupted ? .cancelled : closedError
            cond.unlock()
            job.fail(error)
            return
        }
        queue.append(job)
        cond.signal()
        cond.unlock()
    }

    /// Cancels whatever this worker is doing: queued jobs fail with `.cancelled`, a blocked read is
    /// cut short by shutting the socket down, and the connection is discarded afterwards.
    func interrupt() {
        cond.lock()
        interrupted = true
        let pending = takeQueueAndShutdown()
        cond.unlock()
        for job in pending { job.fail(.cancelled) }
    }

    /// Stops the thread after failing queued jobs; an in-flight read is interrupted too.
    func close() {
        cond.lock()
        closed = true
        let pending = takeQueueAndShutdown()
        cond.signal()
        cond.unlock()
        for job in pending { job.fail(closedError) }
    }

    /// True if the worker can run another job on its open connection (used by the blocking pool).
    var isReusable: Bool {
        cond.lock()
        defer { cond.unlock() }
        return healthy && !interrupted && !closed
    }

    private var closedError: RedisError { .connection("client for Redis at \(url) is closed") }

    /// Must hold `cond`.
    private func takeQueueAndShutdown() -> [Job] {
        if busyFD >= 0 { _ = shutdown(busyFD, Int32(SHUT_RDWR)) }
        let pending = queue
        queue.removeAll()
        return pending
    }

    // MARK: - Worker thread

    private func run() {
        while true {
            cond.lock()
            while queue.isEmpty && !closed { cond.wait() }
            if closed {
                cond.unlock()
                break
            }
            let batch = queue
            queue.removeAll(keepingCapacity: true)
            cond.unlock()
            process(batch)
        }
        connection = nil
    }

    /// Opens (or reopens) the connection and marks its socket busy; nil with an error if that fails.
    private func acquireConnection() -> Result<RedisConnection, RedisError> {
        if let c = connection, c.isDead || c.isReadableWhileIdle { connection = nil }
        if connection == nil {
            do {
                connection = try RedisConnection.open(url, connectTimeout: connectTimeout, readTimeout: readTimeout)
            } catch {
                return .failure(error as? RedisError ?? .connection("\(error)"))
            }
        }
        let conn = connection!
        cond.lock()
        defer { cond.unlock() }
        if interrupted || closed {
            healthy = false
            return .failure(interrupted ? .cancelled : closedError)
        }
        busyFD = conn.fd
        return .success(conn)
    }

    /// Ends the busy period; drops the connection if it died or was interrupted. Returns the error
    /// to report instead of an I/O error caused by `interrupt`/`close`.
    private func releaseConnection() -> RedisError? {
        cond.lock()
        busyFD = -1
        let override: RedisError? = interrupted ? .cancelled : (closed ? closedError : nil)
        if override != nil || connection?.isDead != false { connection = nil }
        healthy = connection != nil
        cond.unlock()
        return override
    }

    private func process(_ batch: [Job]) {
        var commandJobs: [(commands: [EncodedCommand], completion: Completion)] = []
        for job in batch {
            switch job {
            case .commands(let commands, let completion): commandJobs.append((commands, completion))
            case .subscribe(let s): runSubscription(s)
            }
        }
        if commandJobs.isEmpty { return }

        let conn: RedisConnection
        switch acquireConnection() {
        case .failure(let error):
            _ = releaseConnection()
            for job in commandJobs { job.completion.resume(.failure(error)) }
            return
        case .success(let c): conn = c
        }

        var failure: RedisError?
        do {
            for job in commandJobs { for command in job.commands { try conn.append(command) } }
        } catch {
            failure = error as? RedisError
        }
        var results: [Result<[RedisReply], RedisError>] = []
        results.reserveCapacity(commandJobs.count)
        for job in commandJobs {
            if let failure {
                results.append(.failure(failure))
                continue
            }
            var replies: [RedisReply] = []
            replies.reserveCapacity(job.commands.count)
            do {
                for _ in job.commands { replies.append(try conn.readReply()) }
                if url.sentinel != nil, let failover = failoverError(replies, conn) {
                    results.append(.failure(failover))
                    continue
                }
                results.append(.success(replies))
            } catch {
                let e = error as? RedisError ?? .connection("\(error)")
                failure = e
                results.append(.failure(e))
            }
        }
        // Book-keeping before resuming anyone, so a resumed caller sees the final `isReusable`.
        if let override = releaseConnection() {
            results = results.map { if case .failure = $0 { .failure(override) } else { $0 } }
        }
        for (job, result) in zip(commandJobs, results) { job.completion.resume(result) }
    }

    /// Sentinel URLs only: a reply saying the master was demoted (`-READONLY`, `-UNBLOCKED`) fails its
    /// job as a lost connection, so callers apply their usual resend rules, and marks the connection
    /// for dropping, so the next job asks the sentinels for the new master.
    private func failoverError(_ replies: [RedisReply], _ conn: RedisConnection) -> RedisError? {
        guard let reply = replies.first(where: SentinelResolver.isFailoverReply), case .error(let m) = reply else { return nil }
        conn.discard()
        return .connection("Redis at \(conn.url) is no longer the master of '\(url.sentinel?.masterName ?? "")' (\(m)): "
                           + "a failover is in progress; the next command asks the sentinels for the new master")
    }

    private func runSubscription(_ s: Subscription) {
        let conn: RedisConnection
        switch acquireConnection() {
        case .failure(let error):
            _ = releaseConnection()
            Job.subscribe(s).fail(error)
            return
        case .success(let c): conn = c
        }
        var confirmed = 0
        var failure: RedisError
        do {
            try conn.append(s.command)
            while true {
                let reply = try conn.readReply()
                if case .error(let m) = reply { throw RedisError.server(m) }
                guard let parts = reply.array, parts.count >= 3, let kind = parts[0].string else {
                    throw RedisError.protocolError("unexpected reply on a subscribed connection: \(reply)")
                }
                switch kind {
                case "message":
                    guard case .bulk(let payload) = parts[2] else { continue }
                    if case .terminated = s.output.yield((channel: parts[1].string ?? "", message: payload)) {
                        throw RedisError.cancelled
                    }
                case "subscribe":
                    confirmed += 1
                    if confirmed == s.channelCount { s.onConfirmed?(.success(())) }
                default:
                    continue
                }
            }
        } catch {
            failure = error as? RedisError ?? .connection("\(error)")
        }
        if releaseConnection() != nil { failure = .cancelled }
        // Subscribed connections cannot go back to normal use: always start afresh.
        connection = nil
        if confirmed < s.channelCount { s.onConfirmed?(.failure(failure)) }
        if case .cancelled = failure { s.output.finish() } else { s.output.finish(throwing: failure) }
    }
}
