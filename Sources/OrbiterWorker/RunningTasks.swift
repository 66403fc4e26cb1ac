import Synchronization

/// Why a running task is being stopped early.
enum StopReason: Sendable {
    /// `shutdown`: the worker is stopping (drain time up); the task goes back on the queue.
    /// `leaseLost`: another worker took the task over (this one stalled past its lease); the run
    /// stops at once and records nothing.
    case requested, timeout, shutdown, leaseLost
}

/// The tasks a worker is running now, with a way to stop each one.
final class RunningTasks: Sendable {
    private struct Entry {
        var entryID: String
        /// The run's lease token (from start.lua).
        var lease: String
        /// When the task's own timeout runs out (nil: no deadline, or already stopped for it).
        var deadline: ContinuousClock.Instant?
        var stop: @Sendable (StopReason) -> Void
    }
    private let entries = Mutex<[String: Entry]>([:])
    /// No deadline is earlier than this, so most sweeps end at one comparison (tasks time out in
    /// minutes, sweeps run every 50 ms, and a worker may hold 10,000 tasks).
    private let earliestDeadline = Mutex<ContinuousClock.Instant?>(nil)

    var ids: [String] { entries.withLock { Array($0.keys).sorted() } }
    var count: Int { entries.withLock { $0.count } }

    /// Task ids with the queue entry ids and lease tokens they hold.
    var leases: [(taskID: String, entryID: String, lease: String)] {
        entries.withLock { $0.map { ($0.key, $0.value.entryID, $0.value.lease) } }
    }

    func add(_ id: String, entryID: String, lease: String, deadline: ContinuousClock.Instant? = nil,
             stop: @escaping @Sendable (StopReason) -> Void) {
        entries.withLock { $0[id] = Entry(entryID: entryID, lease: lease, deadline: deadline, stop: stop) }
        if let deadline {
            earliestDeadline.withLock { earliest in earliest = min(earliest ?? deadline, deadline) }
        }
    }

    /// Stops, with `.timeout`, every task whose deadline has passed (each once). One sweep for
    /// all tasks is far cheaper than a timer and a child task per task.
    func stopOverdue(now: ContinuousClock.Instant = .now) {
        guard let earliest = earliestDeadline.withLock({ $0 }), earliest <= now else { return }
        let overdue = entries.withLock { all -> [@Sendable (StopReason) -> Void] in
            var found: [@Sendable (StopReason) -> Void] = []
            var next: ContinuousClock.Instant?
            for index in all.indices {
                guard let deadline = all.values[index].deadline else { continue }
                if deadline <= now {
                    found.append(all.values[index].stop)
                    all.values[index].deadline = nil
                } else {
                    next = min(next ?? deadline, deadline)
                }
            }
            // Set while the entries are locked: an `add` records its deadline only after inserting
            // its entry, so it either was seen above or lowers this afterwards.
            earliestDeadline.withLock { $0 = next }
            return found
        }
        for stop in overdue { stop(.timeout) }
    }

    /// Forgets a task (only the run holding `lease`, when given: a worker that took over its own
    /// lapsed lease runs the task anew while the old run winds down).
    func remove(_ id: String, lease: String? = nil) {
        entries.withLock { all in
            if lease == nil || all[id]?.lease == lease { all.removeValue(forKey: id) }
        }
    }

    /// Stops one task (only the run holding `lease`, when given); false when it is not running here.
    @discardableResult
    func stop(_ id: String, lease: String? = nil, reason: StopReason) -> Bool {
        guard let entry = entries.withLock({ $0[id] }), lease == nil || entry.lease == lease else { return false }
        entry.stop(reason)
        return true
    }
}

/// Counts a worker's finished tasks, for its heartbeat.
final class WorkerCounters: Sendable {
    private let counts = Mutex<(processed: Int, failed: Int)>((0, 0))
    func finished(failed: Bool) { counts.withLock { $0.processed += 1; if failed { $0.failed += 1 } } }
    var processed: Int { counts.withLock { $0.processed } }
    var failed: Int { counts.withLock { $0.failed } }
}

/// A one-shot flag for "stop claiming", which also cuts short the blocking read in progress.
final class StopSignal: Sendable {
    private struct State {
        var stopped = false
        var nextID = 0
        var onStop: [Int: @Sendable () -> Void] = [:]
    }
    private let state = Mutex(State())

    var isStopped: Bool { state.withLock { $0.stopped } }

    /// Calls `handler` once when the signal fires (at once if it has).
    func onStop(_ handler: @escaping @Sendable () -> Void) {
        let now = state.withLock { s -> Bool in
            guard !s.stopped else { return true }
            s.nextID += 1
            s.onStop[s.nextID] = handler
            return false
        }
        if now { handler() }
    }

    func stop() {
        let handlers = state.withLock { s -> [@Sendable () -> Void] in
            guard !s.stopped else { return [] }
            s.stopped = true
            defer { s.onStop = [:] }
            return Array(s.onStop.values)
        }
        for handler in handlers { handler() }
    }

    /// Runs `body` in a task of its own that is cancelled when the signal fires (or already has),
    /// so a worker told to stop does not sit out its `XREADGROUP BLOCK` timeout.
    func cancelOnStop<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let task = Task { try await body() }
        let id = state.withLock { s -> Int? in
            guard !s.stopped else { return nil }
            s.nextID += 1
            s.onStop[s.nextID] = { task.cancel() }
            return s.nextID
        }
        if id == nil { task.cancel() }
        defer { if let id { _ = state.withLock { $0.onStop.removeValue(forKey: id) } } }
        return try await withTaskCancellationHandler { try await task.value } onCancel: { task.cancel() }
    }
}
