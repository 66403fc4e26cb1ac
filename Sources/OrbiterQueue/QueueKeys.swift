import Foundation
import OrbiterCore

/// The Redis keys of one queue. All share the hash tag `{orbiter:<queue>}`, so every script
/// touches one slot and the design runs on Redis Cluster unchanged.
public struct QueueKeys: Sendable, Hashable {
    /// The queue's name (`default` unless given).
    public let queue: String
    package let prefix: String

    /// The consumer group every worker of the queue reads with.
    public static let group = "workers"

    /// A set of the queues that were submitted to or worked on, so a task id can be found on
    /// another queue than the one asked (outside any queue's hash tag: read on its own).
    public static let registry = "orbiter:queues"

    /// Checks the name: letters, digits, `-`, `_`, `.`, `:` (at most 64).
    public init(queue: String) throws {
        guard !queue.isEmpty, queue.count <= 64,
              queue.unicodeScalars.allSatisfy({ $0.properties.isAlphabetic && $0.isASCII || ("0"..."9").contains($0) || "-_.:".unicodeScalars.contains($0) }) else {
            throw DistributedError.invalidArgument("invalid queue name '\(queue)': use letters, digits, '-', '_', '.', ':' (at most 64)")
        }
        self.queue = queue
        self.prefix = "{orbiter:\(queue)}"
    }

    package var stream: String { prefix + ":queue" }
    package var index: String { prefix + ":index" }
    package var workers: String { prefix + ":workers" }
    package var controlPrefix: String { prefix + ":control:" }
    package var delayed: String { prefix + ":delayed" }
    /// Tasks submitted with a delay or a start time (`scheduled`), scored by when they may start (ms).
    package var scheduled: String { prefix + ":scheduled" }
    /// The queue's concurrency cap across all workers (`queue set-concurrency`); absent: no cap.
    package var concurrency: String { prefix + ":concurrency" }
    /// The queue stream of priority `level` (0...9): the default level's is `stream` itself.
    package func stream(level: Int) -> String { level == TaskPriority.defaultLevel ? stream : stream + ":p\(level)" }
    /// Parked tasks (waiting for a person), scored by their wait deadline (ms since 1970).
    package var waiting: String { prefix + ":waiting" }
    package var dead: String { prefix + ":dead" }
    /// Finished tasks by when their hash goes, and by when their events stream goes (ms since
    /// 1970): the workers' sweep deletes them then (sweep.lua).
    package var expiringTasks: String { prefix + ":expiry:tasks" }
    package var expiringEvents: String { prefix + ":expiry:events" }
    package var taskPrefix: String { prefix + ":task:" }
    /// `{orbiter:Q}:` — for scripts that build keys of the queue themselves.
    package var keyPrefix: String { prefix + ":" }
    /// The per-minute counter of tasks that ended with `status`.
    package func counter(_ status: String, minute: Int64) -> String { prefix + ":count:\(status):\(minute)" }
    /// The per-minute hash of tokens and cost by model of tasks that ended (`queue stats`).
    package func usage(minute: Int64) -> String { prefix + ":usage:\(minute)" }
    /// The idempotency key's slot; `nil` gives the "no key" marker the submit script ignores.
    package func idempotency(_ key: String?) -> String { prefix + ":idem:" + (key.map { ContentHash.sha256Hex($0) } ?? "") }
    package func task(_ id: String) -> String { prefix + ":task:" + id }
    package func events(_ id: String) -> String { prefix + ":events:" + id }
    package func bundle(_ sha: String) -> String { prefix + ":bundle:" + sha }
    package func worker(_ id: String) -> String { prefix + ":worker:" + id }
    package func control(_ workerID: String) -> String { controlPrefix + workerID }
    /// Schedules of the queue by name, scored by their next tick (ms since 1970).
    package var schedules: String { prefix + ":schedules" }
    /// A schedule's definition and last firing.
    package func schedule(_ name: String) -> String { prefix + ":schedule:" + name }
}

/// Task ids are 32 lowercase hex digits; anything else is refused before it reaches Redis.
public enum TaskID {
    /// A new random id: 128 bits from the kernel's CSPRNG, as 32 lowercase hex digits.
    public static func make() -> String {
        RandomBytes.take(16).hexString
    }

    /// Throws `invalidArgument` unless `id` looks like a task id.
    public static func validate(_ id: String) throws {
        guard id.count == 32, id.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }) else {
            throw DistributedError.invalidArgument("invalid task id '\(id.prefix(80))': expected 32 lowercase hex digits")
        }
    }
}
