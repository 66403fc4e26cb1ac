import CoreMetrics
import Foundation
import Logging
import OrbiterCore
import OrbiterQueue
import OrbiterLua
import OrbiterRedis
import Synchronization

/// Publishes a task's events to its stream in order. The run's own terminal status events are
/// left out: `finish` appends the one authoritative terminal event atomically with the outcome.
///
/// Events are appended by `append.lua` under the run's lease token with their numbers in the run,
/// so an append retried after a lost reply is stored once, and a run that lost its lease (another
/// worker took the task over) cannot mix its events into the new owner's: the first refused append
/// calls `onLeaseLost`, which cancels the run. The worker's `EventAppender` sends them, together
/// with the other runs' events.
///
/// A run does not wait for each event to be stored, only when more than `maxAhead` are on their
/// way (so a run that publishes faster than Redis stores is held back). The events still waiting
/// when the run ends ride in its `finish` call (`handOff`), which appends them before the terminal
/// event in the same atomic step: a short task's events cost no append of their own. Every other
/// transition that writes to the stream (retry, hand back, park) waits for them first (`flush`).
final class EventPublisher: Sendable {
    private let appender: EventAppender
    private let taskID: String
    /// The run's lease token (from start.lua): its events, checkpoints and outcome count only with it.
    let lease: String
    private let onLeaseLost: @Sendable () -> Void
    /// Events leave the worker: granted secret values are redacted from them.
    private let secrets: SecretStore
    private struct State {
        /// The number of the last event given out, and of the last one stored (or given up on).
        var seq = 0
        var committed = 0
        /// Events not yet handed to the appender, in order (the first is number `seq - pending.count + 1`).
        var pending: [String] = []
        /// The appender has this publisher in its list (its pending events go with its next call).
        var scheduled = false
        var waiters: [(seq: Int, continuation: CheckedContinuation<Void, Never>)] = []
        var lost = false
        /// Events after this number were handed to the run's finish (`handOff`): nobody stores them here.
        var storedLimit = Int.max
        var sawError = false
        var finalStatus: String?
    }
    private let state = Mutex(State())
    /// Events a run may have on their way to Redis before `publish` waits for them.
    let maxAhead: Int

    init(appender: EventAppender, taskID: String, lease: String, secrets: SecretStore = .none, maxAhead: Int = 64,
         onLeaseLost: @escaping @Sendable () -> Void) {
        self.maxAhead = maxAhead
        self.secrets = secrets
        self.appender = appender
        self.taskID = taskID
        self.lease = lease
        self.onLeaseLost = onLeaseLost
    }

    /// Whether an `error` event was published (so the worker does not report it twice).
    var sawError: Bool { state.withLock { $0.sawError } }
    /// The outcome recorded, for the log line.
    var finalStatus: String? {
        get { state.withLock { $0.finalStatus } }
        set { state.withLock { $0.finalStatus = newValue } }
    }

    /// Queues the event for its stream and returns; it waits only while more than `maxAhead` of the
    /// run's events are not stored yet. Events are numbered in the order they arrive (a swarm's
    /// parallel agents publish concurrently; a number never overtakes a smaller one); those that
    /// arrive while an append is under way go out together in the next one.
    func publish(_ event: StreamEvent) async {
        if event.isTerminal { return }
        let json = secrets.redact(event.jsonString)
        let (mine, schedule) = state.withLock { s -> (Int?, Bool) in
            if case .error = event { s.sawError = true }
            guard !s.lost, s.storedLimit == .max else { return (nil, false) }
            s.seq += 1
            s.pending.append(json)
            defer { s.scheduled = true }
            return (s.seq, !s.scheduled)
        }
        guard let mine else { return }
        if schedule { appender.schedule(self) }
        await stored(through: mine - maxAhead)
    }

    /// Returns once every event published so far is stored (or the lease is lost): before a
    /// transition that appends to the stream itself.
    func flush() async {
        await stored(through: state.withLock { $0.seq })
    }

    /// For the run's `finish`: the events not yet handed to the appender, now leaving with the
    /// finish instead (nil when none, when the lease is lost, or when handed off before). Returns
    /// once the events the appender already took are stored, so the finish appends after them.
    /// The run publishes nothing after it.
    func handOff() async -> TaskBroker.RunEvents? {
        let (events, before) = state.withLock { s -> (TaskBroker.RunEvents?, Int) in
            guard s.storedLimit == .max else { return (nil, 0) }
            defer { s.pending = [] }
            s.storedLimit = s.seq - s.pending.count
            guard !s.pending.isEmpty, !s.lost else { return (nil, s.storedLimit) }
            return (TaskBroker.RunEvents(taskID: taskID, lease: lease, firstSeq: s.storedLimit + 1, events: s.pending), s.storedLimit)
        }
        await stored(through: before)
        return events
    }

    /// Waits until the events up to number `last` are stored (or the lease is lost).
    private func stored(through last: Int) async {
        guard last > 0, !state.withLock({ $0.committed >= min(last, $0.storedLimit) || $0.lost }) else { return }
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let done = state.withLock { s -> Bool in
                let last = min(last, s.storedLimit)
                if s.committed >= last || s.lost { return true }
                s.waiters.append((last, c))
                return false
            }
            if done { c.resume() }
        }
    }

    /// How many events wait for the appender (to size its calls).
    var pendingCount: Int { state.withLock { $0.pending.count } }

    /// For the appender: the events waiting, now leaving (nil when none or the lease is lost).
    func take() -> TaskBroker.RunEvents? {
        state.withLock { s in
            s.scheduled = false
            defer { s.pending = [] }
            guard !s.pending.isEmpty, !s.lost else { return nil }
            return TaskBroker.RunEvents(taskID: taskID, lease: lease, firstSeq: s.seq - s.pending.count + 1, events: s.pending)
        }
    }

    /// For the appender: the events up to number `last` are stored, or refused (`stored` false:
    /// the lease is lost, and the run is cancelled).
    func settle(through last: Int, stored: Bool) {
        let (ready, lostNow) = state.withLock { s -> ([CheckedContinuation<Void, Never>], Bool) in
            s.committed = max(s.committed, last)
            let lostNow = !stored && !s.lost
            if !stored { s.lost = true }
            let (committed, lost) = (s.committed, s.lost)
            var ready: [CheckedContinuation<Void, Never>] = []
            s.waiters.removeAll { waiter in
                guard waiter.seq <= committed || lost else { return false }
                ready.append(waiter.continuation)
                return true
            }
            return (ready, lostNow)
        }
        for c in ready { c.resume() }
        if lostNow { onLeaseLost() }
    }
}
