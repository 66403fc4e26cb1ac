import Foundation
import OrbiterCore

/// How long what a queue stores is kept. Defaults: finished tasks 24 h, event streams 1 h,
/// bundles 7 days after their last submit.
public struct QueueSettings: Sendable, Hashable {
    public var taskTTL: Int
    public var eventsTTL: Int
    public var bundleTTL: Int
    /// Submits are refused (`DistributedError.queueFull`) while the queue holds this many tasks
    /// waiting or running; 0 sets no limit. Defaults to `ORBITER_MAX_PENDING`, else 0. Queued tasks
    /// are never trimmed away.
    public var maxPending: Int
    /// Cap of one task's event stream.
    public var maxEventsPerTask: Int
    /// Signs submitted tasks and makes workers refuse unsigned, tampered, replayed or expired
    /// ones, and authenticates checkpoints (HMAC-SHA256; see `TaskSignature`). Defaults to
    /// `ORBITER_SECRET`.
    public var secret: String?
    /// Seconds a signed task may wait for a worker: its signature expires this long after submit
    /// plus the task's timeout. Default 86,400 (a day), or `ORBITER_SIGNATURE_WINDOW`.
    public var signatureWindow: Int
    /// The acknowledgement submit, finish and park ask for after their write (`WAIT`/`WAITAOF`);
    /// default `.none`. The CLI reads `--durability` / `ORBITER_DURABILITY`.
    public var durability: Durability = .none

    public init(taskTTL: Int = 86_400, eventsTTL: Int = 3_600, bundleTTL: Int = 7 * 86_400,
                maxPending: Int = ProcessInfo.processInfo.environment["ORBITER_MAX_PENDING"].flatMap { Int($0) } ?? 0, maxEventsPerTask: Int = 100_000,
                secret: String? = ProcessInfo.processInfo.environment["ORBITER_SECRET"].flatMap { $0.isEmpty ? nil : $0 },
                signatureWindow: Int = ProcessInfo.processInfo.environment["ORBITER_SIGNATURE_WINDOW"].flatMap { Int($0) }
                    ?? QueueSettings.defaultSignatureWindow) {
        self.taskTTL = taskTTL
        self.eventsTTL = eventsTTL
        self.bundleTTL = bundleTTL
        self.maxPending = maxPending
        self.maxEventsPerTask = maxEventsPerTask
        self.secret = secret
        self.signatureWindow = max(0, signatureWindow)
    }

    /// A day: long enough for any queue backlog and retries, short enough that a leaked signed
    /// task is not good forever.
    public static let defaultSignatureWindow = 86_400

    /// The task's signature under `secret` (see `TaskSignature`), or "" without a secret. It
    /// expires `signatureWindow` seconds plus the task's timeout after the payload's `createdAt`.
    package func signature(taskID: String, queue: String, payload: TaskPayload, payloadText: String) -> String {
        guard let secret else { return "" }
        let created = TaskSignature.milliseconds(payload.createdAt)
        let expires = created + TaskSignature.milliseconds(min(payload.timeout, 1e9)) + Int64(signatureWindow) * 1000
        return TaskSignature.forSecret(secret).sign(queue: queue, taskID: taskID,
                                                  claims: .init(createdAtMs: created, expiresAtMs: expires, bundle: payload.bundle ?? ""),
                                                  payload: payloadText)
    }
}
