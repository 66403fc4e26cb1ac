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
    /// Signs submitted payloads and makes workers refuse unsigned or tampered ones
    /// (HMAC-SHA256). Defaults to `ORBITER_SECRET`.
    public var secret: String?

    public init(taskTTL: Int = 86_400, eventsTTL: Int = 3_600, bundleTTL: Int = 7 * 86_400,
                maxPending: Int = ProcessInfo.processInfo.environment["ORBITER_MAX_PENDING"].flatMap { Int($0) } ?? 0, maxEventsPerTask: Int = 100_000,
                secret: String? = ProcessInfo.processInfo.environment["ORBITER_SECRET"].flatMap { $0.isEmpty ? nil : $0 }) {
        self.taskTTL = taskTTL
        self.eventsTTL = eventsTTL
        self.bundleTTL = bundleTTL
        self.maxPending = maxPending
        self.maxEventsPerTask = maxEventsPerTask
        self.secret = secret
    }

    /// The payload's signature under `secret` (hex), or "" without a secret.
    func signature(of payload: String) -> String {
        guard let secret else { return "" }
        return SHA256.hmac(key: Array(secret.utf8), message: Array(payload.utf8)).hexString
    }
}
