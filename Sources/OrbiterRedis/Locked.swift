import Foundation

/// A value guarded by a pthread mutex (`NSLock`).
///
/// Used instead of `Synchronization.Mutex` because ThreadSanitizer cannot see the futex-based
/// `Mutex` on Linux and reported false races; with `NSLock` the sanitizer runs clean.
/// `@unchecked Sendable` is sound: `value` is only reached through `withLock`.
final class Locked<State>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: State

    init(_ value: State) { self.value = value }

    /// Runs `body` with exclusive access to the value.
    func withLock<R>(_ body: (inout State) throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}
