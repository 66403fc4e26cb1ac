import Foundation
import OrbiterCore
import OrbiterRedis

/// Where a task is in its life.
public enum TaskStatus: String, Sendable, Hashable, CaseIterable {
    case pending, running, completed, failed, cancelled, retrying
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

    /// Builds from an `HGETALL` reply; `nil` for an empty one (no such task).
    package init?(taskID: String, hash: RedisReply) {
        guard let items = hash.array, !items.isEmpty else { return nil }
        var fields: [String: String] = [:]
        var i = 0
        while i + 1 < items.count {
            if let k = items[i].string { fields[k] = items[i + 1].string ?? "" }
            i += 2
        }
        self.taskID = taskID
        status = TaskStatus(rawValue: fields["status"] ?? "") ?? .failed
        result = fields["result"].flatMap { $0.isEmpty ? nil : try? JSONValue.parse($0) }
        error = fields["error"].flatMap { $0.isEmpty ? nil : $0 }
        func date(_ key: String) -> Date? { fields[key].flatMap(Double.init).map { Date(timeIntervalSince1970: $0 / 1000) } }
        createdAt = date("created_at")
        startedAt = date("started_at")
        completedAt = date("completed_at")
        workerID = fields["worker_id"].flatMap { $0.isEmpty ? nil : $0 }
        attempts = Int(fields["attempts"] ?? "") ?? 0
        metadata = (try? TaskPayload(jsonText: fields["payload"] ?? ""))?.metadata ?? [:]
    }

    /// The JSON form printed by `--json`.
    public var json: JSONValue {
        func ts(_ d: Date?) -> JSONValue { d.map { .double($0.timeIntervalSince1970) } ?? .null }
        return .object([
            "task_id": .string(taskID), "status": .string(status.rawValue), "result": result ?? .null,
            "error": error.map(JSONValue.string) ?? .null, "created_at": ts(createdAt), "started_at": ts(startedAt),
            "completed_at": ts(completedAt), "worker_id": workerID.map(JSONValue.string) ?? .null,
            "attempts": .int(attempts), "retries": .int(retries), "metadata": .object(metadata.mapValues(JSONValue.string)),
        ])
    }
}

/// What `cancel` did.
public enum CancelOutcome: Sendable, Equatable {
    /// It was pending and will never run.
    case cancelled
    /// It is running; its worker has been told and will stop it.
    case cancelling
    /// It had already ended with this status; nothing changed.
    case alreadyFinished(TaskStatus)
    /// No such task.
    case notFound
}
