import Foundation
import Synchronization

/// The Redis keys of one queue. All share the hash tag `{orbiter:<queue>}`, so every script
/// touches one slot and the design runs on Redis Cluster unchanged.
public struct QueueKeys: Sendable, Hashable {
    /// The queue's name (`default` unless given).
    public let queue: String
    let prefix: String

    /// The consumer group every worker of the queue reads with.
    public static let group = "workers"

    /// Checks the name: letters, digits, `-`, `_`, `.`, `:` (at most 64).
    public init(queue: String) throws {
        guard !queue.isEmpty, queue.count <= 64,
              queue.unicodeScalars.allSatisfy({ $0.properties.isAlphabetic && $0.isASCII || ("0"..."9").contains($0) || "-_.:".unicodeScalars.contains($0) }) else {
            throw DistributedError.invalidArgument("invalid queue name '\(queue)': use letters, digits, '-', '_', '.', ':' (at most 64)")
        }
        self.queue = queue
        self.prefix = "{orbiter:\(queue)}"
    }

    var stream: String { prefix + ":queue" }
    var index: String { prefix + ":index" }
    var workers: String { prefix + ":workers" }
    var controlPrefix: String { prefix + ":control:" }
    var delayed: String { prefix + ":delayed" }
    var dead: String { prefix + ":dead" }
    var taskPrefix: String { prefix + ":task:" }
    /// `{orbiter:Q}:` — for scripts that build keys of the queue themselves.
    var keyPrefix: String { prefix + ":" }
    /// The per-minute counter of tasks that ended with `status`.
    func counter(_ status: String, minute: Int64) -> String { prefix + ":count:\(status):\(minute)" }
    /// The idempotency key's slot; `nil` gives the "no key" marker the submit script ignores.
    func idempotency(_ key: String?) -> String { prefix + ":idem:" + (key.map { SHA256.hex($0) } ?? "") }
    func task(_ id: String) -> String { prefix + ":task:" + id }
    func events(_ id: String) -> String { prefix + ":events:" + id }
    func bundle(_ sha: String) -> String { prefix + ":bundle:" + sha }
    func worker(_ id: String) -> String { prefix + ":worker:" + id }
    func control(_ workerID: String) -> String { controlPrefix + workerID }
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

import OrbiterCore

/// Random bytes from the kernel's CSPRNG (`/dev/urandom`), read 4 KiB at a time: every submit
/// makes a task id and a span id, and a `getrandom` call per 8 bytes showed up in client profiles.
enum RandomBytes {
    private static let pool = Mutex<(bytes: [UInt8], used: Int)>(([], 0))

    static func take(_ count: Int) -> [UInt8] {
        pool.withLock { pool in
            if pool.used + count > pool.bytes.count {
                pool.bytes = refill(atLeast: count)
                pool.used = 0
            }
            defer { pool.used += count }
            return Array(pool.bytes[pool.used..<pool.used + count])
        }
    }

    private static func refill(atLeast count: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: max(4096, count))
        let fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC)
        if fd >= 0 {
            defer { close(fd) }
            var filled = 0
            while filled < bytes.count {
                let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + filled, $0.count - filled) }
                if n > 0 { filled += n } else if n < 0 && errno == EINTR { continue } else { break }
            }
            if filled == bytes.count { return bytes }
        }
        // No /dev/urandom (a chroot?): the system generator, 8 bytes a call.
        var generator = SystemRandomNumberGenerator()
        for i in stride(from: 0, to: bytes.count, by: 8) {
            var word = generator.next() as UInt64
            for j in i..<min(i + 8, bytes.count) { bytes[j] = UInt8(truncatingIfNeeded: word); word >>= 8 }
        }
        return bytes
    }
}
