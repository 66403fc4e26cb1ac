import Foundation
import OrbiterCore
import OrbiterRedis

/// Where a task is in its life.
public enum TaskStatus: String, Sendable, Hashable, CaseIterable {
    /// In the queue, waiting for a worker (new, handed back by a stopping worker, taken over
    /// from a lost one, promoted after its retry delay, or requeued by `task retry`).
    case pending
    /// A worker holds its lease.
    case running
    case completed, failed, cancelled
    /// Failed with a retryable error; waits in the delayed set until its retry time, then is pending.
    case retrying
    /// Submitted with a delay or a start time (`submit --delay/--at`) that has not come yet: in
    /// the scheduled set, not in any queue stream; then `pending`.
    case scheduled
    /// Parked: waits for a person (an approval or an answer), holding no worker, until a reply
    /// puts it back on the queue or its wait timeout fails it.
    case waiting
    /// Whether the task has ended.
    public var isFinished: Bool { self == .completed || self == .failed || self == .cancelled }
}

/// A task's state as stored: what `handle.status()` and `orbiter task status` show.
public struct TaskResult: Sendable {
    public var taskID: String
    public var status: TaskStatus
    /// `{output, usage, steps}` when completed.
    public var result: JSONValue?
    public var error: String?
    public var createdAt: Date?
    public var startedAt: Date?
    public var completedAt: Date?
    public var workerID: String?
    /// Times a worker started the task.
    public var attempts: Int
    /// Starts after the first (`attempts - 1`), as the original's `retries`.
    public var retries: Int { max(0, attempts - 1) }
    public var metadata: [String: String]
    /// While `waiting`: what the person is asked.
    public var pending: InputRequest?
    /// While `waiting`: since when, and until when it waits before it fails with `InputTimeout`.
    public var waitingSince: Date?
    public var waitingUntil: Date?
    /// The priority it was submitted with (0...9), nil: the default (5).
    public var priority: Int?
    /// When a delayed task may start (set while `scheduled`, kept afterwards).
    public var runAt: Date?
    /// The agent's or swarm's name, as submitted (nil for an unnamed one, or a task stored
    /// before names were kept).
    public var agent: String?

    /// The fields a status read fetches, in the order `init(taskID:fields:payload:)` reads them:
    /// never the payload (script, input and messages: megabytes for a long conversation), and the
    /// result only when asked for (`list` leaves it out).
    static let fields = ["status", "error", "created_at", "started_at", "completed_at", "worker_id", "attempts", "metadata", "pending",
                         "priority", "run_at", "agent", "result"]

    /// `HMGET` of a task's status fields.
    package static func read(_ taskKey: String, withResult: Bool) -> [any RedisArgument] {
        ["HMGET", taskKey] + (withResult ? fields : fields.dropLast()).map { $0 as any RedisArgument }
    }

    /// Builds from the reply to `read`; `nil` when the task does not exist. `payload` reads the
    /// payload, needed only for the metadata of a task stored before metadata had its own field.
    package init?(taskID: String, fields reply: RedisReply, payload: () async throws -> String?) async {
        guard let values = reply.array, values.count >= Self.fields.count - 1, let status = values[0].string else { return nil }
        func field(_ name: String) -> String? {
            guard let i = Self.fields.firstIndex(of: name), i < values.count, let value = values[i].string, !value.isEmpty else { return nil }
            return value
        }
        func date(_ key: String) -> Date? { field(key).flatMap(Double.init).map { Date(timeIntervalSince1970: $0 / 1000) } }
        self.taskID = taskID
        self.status = TaskStatus(rawValue: status) ?? .failed
        result = field("result").flatMap { try? JSONValue.parse($0) }
        error = field("error")
        createdAt = date("created_at")
        startedAt = date("started_at")
        completedAt = date("completed_at")
        workerID = field("worker_id")
        attempts = Int(field("attempts") ?? "") ?? 0
        priority = field("priority").flatMap { Int($0) }.flatMap { TaskPriority.range.contains($0) ? $0 : nil }
        runAt = date("run_at")
        agent = field("agent")
        if let stored = field("pending"), let json = try? JSONValue.parse(stored) {
            pending = try? InputRequest(json: json)
            waitingSince = json["since"]?.doubleValue.map { Date(timeIntervalSince1970: $0 / 1000) }
            waitingUntil = json["until"]?.doubleValue.map { Date(timeIntervalSince1970: $0 / 1000) }
        }
        if let stored = field("metadata") {
            metadata = (try? JSONValue.parse(stored))?.objectValue?.compactMapValues(\.stringValue) ?? [:]
        } else {
            metadata = ((try? await payload()).flatMap { try? TaskPayload(jsonText: $0) })?.metadata ?? [:]
        }
    }

    /// The JSON form printed by `--json`.
    public var json: JSONValue {
        func ts(_ d: Date?) -> JSONValue { d.map { .double($0.timeIntervalSince1970) } ?? .null }
        var d: [String: JSONValue] = [
            "task_id": .string(taskID), "status": .string(status.rawValue), "result": result ?? .null,
            "error": error.map(JSONValue.string) ?? .null, "created_at": ts(createdAt), "started_at": ts(startedAt),
            "completed_at": ts(completedAt), "worker_id": workerID.map(JSONValue.string) ?? .null,
            "attempts": .int(attempts), "retries": .int(retries), "metadata": .object(metadata.mapValues(JSONValue.string)),
        ]
        if let priority { d["priority"] = .int(priority) }
        if let runAt { d["run_at"] = ts(runAt) }
        if let agent { d["agent"] = .string(agent) }
        // A parked task: what it waits for (`pending`: kind, id, tool_name, tool_call_id, arguments, question?).
        if let pending {
            d["pending"] = pending.json
            d["waiting_since"] = ts(waitingSince)
            d["waiting_until"] = ts(waitingUntil)
        }
        return .object(d)
    }
}

/// What `cancel` did.
public enum CancelOutcome: Sendable, Equatable {
    /// It was pending (or parked, waiting for a person) and will never run.
    case cancelled
    /// It is running; its worker has been told and will stop it.
    case cancelling
    /// It had already ended with this status; nothing changed.
    case alreadyFinished(TaskStatus)
    /// No such task.
    case notFound
}
