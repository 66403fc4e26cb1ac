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
/// Events are appended by `append.lua` (in batches of what queued up meanwhile) under the run's
/// lease token with their numbers in the run, so an append retried after a lost reply is stored once, and a run that lost its lease (another
/// worker took the task over) cannot mix its events into the new owner's: the first refused append
/// calls `onLeaseLost`, which cancels the run.
final class EventPublisher: Sendable {
    private let broker: TaskBroker
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
        /// Numbered events not yet sent, in order.
        var pending: [(seq: Int, json: String)] = []
        /// An append is under way: its sender also sends what queues up meanwhile.
        var sending = false
        var waiters: [(seq: Int, continuation: CheckedContinuation<Void, Never>)] = []
        var lost = false
        var sawError = false
        var finalStatus: String?
    }
    private let state = Mutex(State())

    init(broker: TaskBroker, taskID: String, lease: String, secrets: SecretStore = .none, onLeaseLost: @escaping @Sendable () -> Void) {
        self.secrets = secrets
        self.broker = broker
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
    /// overtakes a smaller one). While one append is under way, the events that arrive queue up
    /// and go out together in the next one: a run streaming many small events pays one round trip
    /// and one script call per batch, not per event.
    func publish(_ event: StreamEvent) async {
        if event.isTerminal { return }
        let json = secrets.redact(event.jsonString)
        let (mine, leads) = state.withLock { s -> (Int?, Bool) in
            if case .error = event { s.sawError = true }
            guard !s.lost else { return (nil, false) }
            s.seq += 1
            s.pending.append((s.seq, json))
            if s.sending { return (s.seq, false) }
            s.sending = true
            return (s.seq, true)
        }
        guard let mine else { return }
        if leads {
            await sendPending()
            return
        }
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let done = state.withLock { s -> Bool in
                if s.committed >= mine || s.lost { return true }
                s.waiters.append((mine, c))
                return false
            }
            if done { c.resume() }
        }
    }

    /// Sends what is pending, batch after batch, until nothing is; then lets the next publisher lead.
    private func sendPending() async {
        while true {
            guard let batch = state.withLock({ s -> [(seq: Int, json: String)]? in
                if s.pending.isEmpty || s.lost {
                    s.sending = false
                    s.pending = []
                    return nil
                }
                defer { s.pending = [] }
                return s.pending
            }) else { return }
            let stored = await append(batch)
            let ready = state.withLock { s -> [CheckedContinuation<Void, Never>] in
                s.committed = batch.last!.seq
                if !stored { s.lost = true }
                let (done, waiting) = s.waiters.reduce(into: ([CheckedContinuation<Void, Never>](), [(seq: Int, continuation: CheckedContinuation<Void, Never>)]())) {
                    if $1.seq <= s.committed || s.lost { $0.0.append($1.continuation) } else { $0.1.append($1) }
                }
                s.waiters = waiting
                return done
            }
            for c in ready { c.resume() }
            if !stored { onLeaseLost() }
        }
    }

    /// One `append.lua` call; false when the lease is lost. While Redis is unreachable the run
    /// waits here (up to two minutes) rather than lose events; streams stay complete and in order.
    /// The retry sends the same numbers, so an append whose reply was lost is not stored twice.
    private func append(_ batch: [(seq: Int, json: String)]) async -> Bool {
        var backoff = Backoff(initial: .milliseconds(50), maximum: .seconds(2))
        let giveUp = ContinuousClock.now + .seconds(120)
        while true {
            do {
                return try await broker.append(taskID, lease: lease, firstSeq: batch[0].seq, events: batch.map(\.json))
            } catch RedisError.connection where ContinuousClock.now < giveUp && !Task.isCancelled {
                try? await backoff.wait()
            } catch {
                return true // given up: the run goes on without these events
            }
        }
    }
}
