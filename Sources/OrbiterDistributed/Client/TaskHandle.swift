import Foundation
import OrbiterCore
import OrbiterRedis

/// A submitted task: wait for its result, stream its events, read its status, cancel it.
public struct TaskHandle: Sendable {
    public let taskID: String
    let broker: TaskBroker

    /// A handle for an existing task id (e.g. one printed by `orbiter submit`).
    public init(taskID: String, redisURL: String? = nil, queue: String = "default") throws {
        try TaskID.validate(taskID)
        self.taskID = taskID
        self.broker = try TaskBroker(redisURL: redisURL, queue: queue)
    }

    init(taskID: String, broker: TaskBroker) {
        self.taskID = taskID
        self.broker = broker
    }

    /// The queue this task is on (the handle for an id: `TaskBroker.handle(for:)`).
    public var queue: String { broker.keys.queue }

    /// The task's stored state; `nil` when it does not exist (or expired).
    public func status() async throws -> TaskResult? {
        try await broker.status(taskID)
    }

    /// Waits for the end and returns the result dict (`output`, `usage`, `steps`). Throws
    /// "Task <id> failed: <error>", "cancelled", or `waitTimedOut`. Waits by blocking on the
    /// task's event stream, not by polling.
    public func result(timeout: Duration? = nil) async throws -> JSONValue {
        let deadline = timeout.map { ContinuousClock.now + $0 }
        while true {
            guard let state = try await status() else { throw DistributedError.taskNotFound(taskID) }
            switch state.status {
            case .completed: return state.result ?? ["output": ""]
            case .failed: throw DistributedError.taskFailed(id: taskID, error: state.error ?? "unknown error")
            case .cancelled: throw DistributedError.taskCancelled(taskID)
            case .pending, .running, .retrying: break
            }
            try await waitForTerminalEvent(deadline: deadline)
        }
    }

    private func waitForTerminalEvent(deadline: ContinuousClock.Instant?) async throws {
        let key = broker.keys.events(taskID)
        var last = "0"
        while true {
            var blockMs = 5000
            if let deadline {
                let left = deadline - ContinuousClock.now
                let ms = Int(left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000)
                guard ms > 0 else {
                    throw DistributedError.waitTimedOut(id: taskID, seconds: Double(ms) / 1000)
                }
                blockMs = min(blockMs, ms)
            }
            let reply = try await broker.client.blocking(["XREAD", "COUNT", 1000, "BLOCK", blockMs, "STREAMS", key, last])
            let entries = StreamReplies.firstStream(reply)
            if let end = entries.last { last = end.id }
            if StreamReplies.events(entries).contains(where: { $0.event.isTerminal }) { return }
            if entries.isEmpty {
                // Nothing for a while: re-check the state (covers an expired stream), then wait again.
                guard let state = try await status() else { throw DistributedError.taskNotFound(taskID) }
                if state.status.isFinished { return }
                if let deadline, ContinuousClock.now >= deadline {
                    throw DistributedError.waitTimedOut(id: taskID, seconds: 0)
                }
            }
        }
    }

    /// Live events, from the first one (however late this is called) to the terminal `status`.
    /// The same `StreamEvent` types as `run.stream`; without `detailed` the stream still ends
    /// with the terminal `status` event, so consumers know it is over.
    public func stream(from: String = "0") -> AsyncThrowingStream<StreamEvent, any Error> {
        let events = EventSubscriber(broker: broker).stream(taskID, from: from)
        return AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    for try await stored in events { continuation.yield(stored.event) }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    /// Cancels the task: a pending one never runs; a running one is stopped by its worker;
    /// a finished one is left as it is (the outcome says which).
    @discardableResult
    public func cancel() async throws -> CancelOutcome {
        try await broker.cancel(taskID)
    }
}
