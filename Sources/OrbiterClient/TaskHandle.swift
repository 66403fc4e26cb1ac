import Foundation
import OrbiterCore
import OrbiterQueue
import OrbiterRedis

/// A submitted task: wait for its result, stream its events, read its status, cancel it.
public struct TaskHandle: Sendable {
    public let taskID: String
    let broker: TaskBroker
    /// Submitted by this process just now: it exists, so `result()` need not read its state first.
    let isFresh: Bool

    /// A handle for an existing task id (e.g. one printed by `orbiter submit`).
    public init(taskID: String, redisURL: String? = nil, queue: String = "default") throws {
        try TaskID.validate(taskID)
        self.taskID = taskID
        self.broker = try TaskBroker(redisURL: redisURL, queue: queue)
        self.isFresh = false
    }

    init(taskID: String, broker: TaskBroker, isFresh: Bool = false) {
        self.taskID = taskID
        self.broker = broker
        self.isFresh = isFresh
    }

    /// Whether the submit that returned this handle stored a new task (false: an earlier task with
    /// the same idempotency key, or a handle for an existing id).
    public var wasCreated: Bool { isFresh }

    /// The queue this task is on (the handle for an id: `TaskBroker.handle(for:)`).
    public var queue: String { broker.keys.queue }

    /// The task's stored state; `nil` when it does not exist (or expired).
    public func status() async throws -> TaskResult? {
        try await broker.status(taskID)
    }

    /// Waits for the end and returns the result dict (`output`, `usage`, `steps`). Throws
    /// "Task <id> failed: <error>", "cancelled", or `waitTimedOut`. Waits by blocking on the
    /// task's event stream, not by polling; the terminal entry carries the outcome, so a task
    /// submitted here costs no read besides the wait.
    ///
    /// Like `stream()`, it rides out a Redis restart: while Redis is unreachable it retries with
    /// backoff, then reads the task's state again; it throws `RedisError.connection` only when
    /// Redis stays away for `outageLimit`.
    public func result(timeout: Duration? = nil, outageLimit: Duration = .seconds(60)) async throws -> JSONValue {
        let deadline = timeout.map { ContinuousClock.now + $0 }
        let timedOut = DistributedError.waitTimedOut(id: taskID, seconds: timeout.map {
            $0.inSeconds } ?? 0)
        var readState = !isFresh
        var outage = OutageBackoff(limit: outageLimit)
        while true {
            do {
                if readState {
                    guard let state = try await status() else { throw DistributedError.taskNotFound(taskID) }
                    outage.reset()
                    switch state.status {
                    case .completed: return state.result ?? ["output": ""]
                    case .failed: throw DistributedError.taskFailed(id: taskID, error: state.error ?? "unknown error")
                    case .cancelled: throw DistributedError.taskCancelled(taskID)
                    case .pending, .running, .retrying, .waiting, .scheduled: break
                    }
                }
                readState = true
                if let terminal = try await waitForTerminalEntry(deadline: deadline, timedOut: timedOut),
                   let value = try outcome(of: terminal) {
                    return value
                }
            } catch RedisError.connection(let message) {
                if let deadline, ContinuousClock.now >= deadline { throw timedOut }
                try await outage.wait(orThrow: "Redis unreachable for \(outageLimit) while waiting for task \(taskID) (\(message))")
            }
        }
    }

    /// The result (or the failure) recorded in a terminal entry by `finish`; nil when the entry
    /// does not carry it (a large result, or a task failed by a takeover), so the caller reads the hash.
    private func outcome(of fields: [String: String]) throws -> JSONValue? {
        switch fields["outcome"].flatMap(TaskStatus.init(rawValue:)) {
        case .completed?: return fields["result"].flatMap { try? JSONValue.parse($0) }
        case .failed?: throw DistributedError.taskFailed(id: taskID, error: fields["error"].flatMap { $0.isEmpty ? nil : $0 } ?? "unknown error")
        case .cancelled?: throw DistributedError.taskCancelled(taskID)
        default: return nil
        }
    }

    /// Blocks on the event stream until its terminal entry (returned with its fields), or until a
    /// quiet spell shows the task finished without one (nil).
    /// `timedOut` is thrown once `deadline` passes (it names the whole wait).
    private func waitForTerminalEntry(deadline: ContinuousClock.Instant?, timedOut: DistributedError) async throws -> [String: String]? {
        let key = broker.keys.events(taskID)
        // This wait reads the stream last: no need to keep it in the client's shared read.
        defer { broker.client.streamReader.forget(key: key) }
        var last = "0"
        while true {
            var blockMs = 5000
            if let deadline {
                let left = deadline - ContinuousClock.now
                let ms = Int(left.inMilliseconds)
                guard ms > 0 else { throw timedOut }
                blockMs = min(blockMs, ms)
            }
            let reply = try await broker.client.streamReader.read(key: key, after: last, block: .milliseconds(blockMs))
            let entries = StreamReplies.firstStream(reply)
            if let end = entries.last { last = end.id }
            for (entry, stored) in zip(entries, StreamReplies.events(entries)) where stored.event.isTerminal {
                return entry.fields
            }
            if entries.isEmpty {
                // Nothing for a while: re-check the state (covers an expired stream), then wait again.
                guard let state = try await status() else { throw DistributedError.taskNotFound(taskID) }
                if state.status.isFinished { return nil }
                if let deadline, ContinuousClock.now >= deadline { throw timedOut }
            }
        }
    }

    /// Live events, from the first one (however late this is called) to the terminal `status`.
    /// The same `StreamEvent` types as `run.stream`; without `detailed` the stream still ends
    /// with the terminal `status` event, so consumers know it is over.
    public func stream(from: String = "0", outageLimit: Duration = .seconds(60)) -> AsyncThrowingStream<StreamEvent, any Error> {
        EventSubscriber(broker: broker).follow(taskID, from: from, outageLimit: outageLimit) { $0.event }
    }

    /// Approves the tool call a parked task waits for; the task resumes on a worker and the call
    /// runs. Throws `DistributedError.notWaitingForInput` (nothing changed) when the task is not
    /// waiting, `replyDoesNotFit` when it waits for an answer, `taskNotFound`.
    public func approve() async throws {
        try await send(.approved)
    }

    /// Rejects the tool call a parked task waits for (the model sees the failed result
    /// `rejected: <reason>`), or declines its question (`orbiter.ask` raises `rejected: <reason>`).
    public func reject(reason: String = "rejected by a person") async throws {
        try await send(.rejected(reason: reason))
    }

    /// Answers the question a parked task asks (what `orbiter.ask` returns in its tool).
    public func reply(_ text: String) async throws {
        try await send(.answer(text))
    }

    /// What the task waits for, when it is parked (`nil` otherwise).
    public func pendingInput() async throws -> InputRequest? {
        try await status().flatMap { $0.status == .waiting ? $0.pending : nil }
    }

    private func send(_ reply: InputReply) async throws {
        switch try await broker.reply(taskID, reply) {
        case .resumed: return
        case .notFound: throw DistributedError.taskNotFound(taskID)
        case .notWaiting(let status): throw DistributedError.notWaitingForInput(id: taskID, status: status)
        case .mismatch(let kind): throw DistributedError.replyDoesNotFit(id: taskID, waitsFor: kind)
        }
    }

    /// Cancels the task: a pending or parked one never runs (again); a running one is stopped by
    /// its worker; a finished one is left as it is (the outcome says which).
    @discardableResult
    public func cancel() async throws -> CancelOutcome {
        try await broker.cancel(taskID)
    }
}

/// Backoff while Redis is unreachable: 100 ms doubling to 2 s, until `limit` has passed since the
/// outage began.
struct OutageBackoff {
    let limit: Duration
    private var since: ContinuousClock.Instant?
    private var backoff = Backoff(initial: .milliseconds(100), maximum: .seconds(2))

    init(limit: Duration) { self.limit = limit }

    /// A successful round trip: the next failure starts a new outage.
    mutating func reset() {
        since = nil
        backoff.reset()
    }

    /// Sleeps before the next try, or throws `RedisError.connection(message)` once the outage is too long.
    mutating func wait(orThrow message: @autoclosure () -> String) async throws {
        let start = since ?? ContinuousClock.now
        since = start
        guard ContinuousClock.now - start < limit else { throw RedisError.connection(message()) }
        try await backoff.wait()
    }
}

extension TaskBroker {
    /// A handle for a task id on this queue, sharing this broker's connection.
    public func handle(for taskID: String) throws -> TaskHandle {
        try TaskID.validate(taskID)
        return TaskHandle(taskID: taskID, broker: self)
    }
}
