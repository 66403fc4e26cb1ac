import Synchronization

/// Slots that are each filled once, awaited by one task: the answers to requests in flight.
///
/// A slot may be filled before its task starts waiting (an answer can arrive while the request is
/// still being sent), and cancelling the waiting task fills it with `CancellationError` at once,
/// from the cancellation handler, without a task of its own.
final class Mailbox<Value: Sendable>: Sendable {
    private enum Slot {
        case open(label: String, waiter: CheckedContinuation<Value, any Error>?)
        case filled(Result<Value, any Error>)
    }

    private struct State {
        var slots: [Int: Slot] = [:]
        /// Set once the mailbox is closed: every later `open` fails with it.
        var closedBy: (@Sendable (String) -> any Error)?
    }

    private let state = Mutex(State())

    init() {}

    /// Opens slot `key`, described by `label` (e.g. "tools/call 'get_time'") for `fillAll`.
    func open(_ key: Int, label: String) throws {
        try state.withLock { state in
            if let closedBy = state.closedBy { throw closedBy(label) }
            state.slots[key] = .open(label: label, waiter: nil)
        }
    }

    /// Waits for slot `key` and removes it. Throws its error, or `CancellationError` when the task is cancelled.
    func wait(_ key: Int) async throws -> Value {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Value, any Error>) in
                let ready: Result<Value, any Error>? = state.withLock { state in
                    switch state.slots[key] {
                    case .filled(let result):
                        state.slots[key] = nil
                        return result
                    case .open(let label, _):
                        state.slots[key] = .open(label: label, waiter: continuation)
                        return nil
                    case nil:
                        return .failure(CancellationError())
                    }
                }
                if let ready { continuation.resume(with: ready) }
            }
        } onCancel: {
            fill(key, with: .failure(CancellationError()))
        }
    }

    /// Fills slot `key` unless it is already filled or gone; returns whether it was open.
    @discardableResult
    func fill(_ key: Int, with result: Result<Value, any Error>) -> Bool {
        let waiter: CheckedContinuation<Value, any Error>?? = state.withLock { state in
            guard case .open(_, let waiter) = state.slots[key] else { return .none }
            if waiter != nil { state.slots[key] = nil } else { state.slots[key] = .filled(result) }
            return .some(waiter)
        }
        switch waiter {
        case .none: return false
        case .some(let continuation):
            continuation?.resume(with: result)
            return true
        }
    }

    /// Forgets slot `key` (its task stopped waiting for another reason).
    func remove(_ key: Int) {
        _ = state.withLock { $0.slots.removeValue(forKey: key) }
    }

    /// Fills every open slot with the error `error(label)` makes; with `closing`, every later
    /// `open` fails with the error that one makes.
    func fillAll(with error: @Sendable (String) -> any Error, closing: (@Sendable (String) -> any Error)? = nil) {
        let open: [(key: Int, label: String)] = state.withLock { state in
            if let closing { state.closedBy = closing }
            return state.slots.compactMap { key, slot in
                if case .open(let label, _) = slot { return (key, label) } else { return nil }
            }
        }
        for (key, label) in open { fill(key, with: .failure(error(label))) }
    }
}

/// A gate that opens once; tasks wait for it (cancellable), e.g. "stop this server now".
final class Latch: Sendable {
    private let mailbox = Mailbox<Void>()
    private let waiters = Mutex((next: 0, opened: false))

    init() {}

    /// Opens the latch: every waiter, present and future, goes on.
    func open() {
        waiters.withLock { $0.opened = true }
        mailbox.fillAll(with: { _ in LatchOpened() }, closing: { _ in LatchOpened() })
    }

    var isOpen: Bool { waiters.withLock { $0.opened } }

    /// Returns once the latch is open, or the task is cancelled.
    func wait() async {
        let key = waiters.withLock { state -> Int in state.next += 1; return state.next }
        do {
            try mailbox.open(key, label: "")
            _ = try await mailbox.wait(key)
        } catch {}
    }

    /// Returns once `a` or `b` is open (or the task is cancelled).
    static func first(_ a: Latch, _ b: Latch) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await a.wait() }
            group.addTask { await b.wait() }
            await group.next()
            group.cancelAll()
        }
    }

    private struct LatchOpened: Error {}
}
