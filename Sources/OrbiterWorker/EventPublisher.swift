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
        var sawError = false
        var finalStatus: String?
    }
    private let state = Mutex(State())

    init(appender: EventAppender, taskID: String, lease: String, secrets: SecretStore = .none, onLeaseLost: @escaping @Sendable () -> Void) {
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

    /// Appends the event and returns once it is stored (or refused). Events are numbered in the
    /// order they arrive (a swarm's parallel agents publish concurrently; a number never
    /// overtakes a smaller one); those that arrive while an append is under way go out together
    /// in the next one.
    func publish(_ event: StreamEvent) async {
        if event.isTerminal { return }
        let json = secrets.redact(event.jsonString)
        let (mine, schedule) = state.withLock { s -> (Int?, Bool) in
            if case .error = event { s.sawError = true }
            guard !s.lost else { return (nil, false) }
            s.seq += 1
            s.pending.append(json)
            defer { s.scheduled = true }
            return (s.seq, !s.scheduled)
        }
        guard let mine else { return }
        if schedule { appender.schedule(self) }
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let done = state.withLock { s -> Bool in
                if s.committed >= mine || s.lost { return true }
                s.waiters.append((mine, c))
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
