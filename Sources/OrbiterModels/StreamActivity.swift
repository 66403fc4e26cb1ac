import Synchronization

/// When the last byte of a response arrived, for the idle-read watchdog.
///
/// Shared between the task reading the body and the watchdog task, hence the lock.
final class StreamActivity: Sendable {
    private let last = Mutex<ContinuousClock.Instant?>(nil)
    private let complete = Atomic(false)

    /// Records that bytes (or the response head) arrived; the first call arms the watchdog.
    func touch() { last.withLock { $0 = .now } }

    /// Records that the reply is whole; only the tail of the body is still being read.
    func markComplete() { complete.store(true, ordering: .relaxed) }

    /// Whether `markComplete` was called (the watchdog then waits at most a second).
    var isComplete: Bool { complete.load(ordering: .relaxed) }

    /// How long the stream has been silent, or nil before the response head arrived.
    func silence() -> Duration? { last.withLock { $0.map { .now - $0 } } }
}
