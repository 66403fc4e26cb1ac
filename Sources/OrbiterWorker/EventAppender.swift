import OrbiterCore
import OrbiterQueue
import OrbiterRedis
import Synchronization

/// Sends the events of all of a worker's runs to Redis, many runs' events in one `append.lua` call.
///
/// A run streaming a model's text publishes a delta every few tens of milliseconds, a thousand
/// runs tens of thousands a second. One call per run's batch cost each event a script call in
/// Redis (28 µs, most of it the call itself) and a trip through the connection; here one call
/// carries what every run published while the previous call was under way. Calls go one at a time:
/// an event published while the worker is idle leaves at once, and under load each call is as big
/// as the load makes it. `window` spaces calls that follow each other at least that far apart, so
/// under load each carries more (it adds at most `window` to an event's trip; nothing when idle).
///
/// The sending loop is a task of its own, started when events wait and nobody sends, and ending
/// when nothing is left; no run's cancellation stops another run's events.
final class EventAppender: Sendable {
    private let broker: TaskBroker
    let window: Duration
    /// Events per call, at most (a call runs atomically in Redis, blocking it meanwhile; 2,000
    /// appends take a few milliseconds). A run's batch is never split.
    static let maxEvents = 2000
    private struct State {
        /// Publishers with events waiting, in the order they asked.
        var ready: [EventPublisher] = []
        var sending = false
        /// `append.lua` calls made (tests check that runs share them).
        var calls = 0
    }
    private let state = Mutex(State())

    init(broker: TaskBroker, window: Duration = .zero) {
        self.broker = broker
        self.window = window
    }

    /// `append.lua` calls made so far.
    var calls: Int { state.withLock { $0.calls } }

    /// `publisher` has events waiting; they go out with the next call.
    func schedule(_ publisher: EventPublisher) {
        let start = state.withLock { s -> Bool in
            s.ready.append(publisher)
            if s.sending { return false }
            s.sending = true
            return true
        }
        if start { Task { await self.loop() } } // owned by this appender: it ends when nothing waits
    }

    private func loop() async {
        var previous: ContinuousClock.Instant?
        while true {
            if let previous, window > .zero { try? await Task.sleep(until: previous + window) }
            guard let publishers = state.withLock({ s -> [EventPublisher]? in
                if s.ready.isEmpty {
                    s.sending = false
                    return nil
                }
                return Self.takeBatch(&s.ready)
            }) else { return }
            previous = .now
            var runs: [(publisher: EventPublisher, events: TaskBroker.RunEvents)] = []
            for publisher in publishers {
                if let events = publisher.take() { runs.append((publisher, events)) }
            }
            guard !runs.isEmpty else { continue }
            state.withLock { $0.calls += 1 }
            let stored = await append(runs.map(\.events))
            for (run, stored) in zip(runs, stored) { run.publisher.settle(through: run.events.lastSeq, stored: stored) }
        }
    }

    /// The first publishers of `ready` with up to `maxEvents` events between them (at least one).
    private static func takeBatch(_ ready: inout [EventPublisher]) -> [EventPublisher] {
        var count = 0, end = 0
        while end < ready.count, end == 0 || count + ready[end].pendingCount <= maxEvents {
            count += ready[end].pendingCount
            end += 1
        }
        defer { ready.removeFirst(end) }
        return Array(ready[..<end])
    }

    /// One `append.lua` call; per run, false when its lease is lost. While Redis is unreachable
    /// the runs wait here (up to two minutes) rather than lose events; streams stay complete and in
    /// order. The retry sends the same numbers, so an append whose reply was lost is not stored twice.
    private func append(_ runs: [TaskBroker.RunEvents]) async -> [Bool] {
        var backoff = Backoff(initial: .milliseconds(50), maximum: .seconds(2))
        let giveUp = ContinuousClock.now + .seconds(120)
        while true {
            do {
                return try await broker.append(runs)
            } catch RedisError.connection where ContinuousClock.now < giveUp {
                try? await backoff.wait()
            } catch {
                return runs.map { _ in true } // given up: the runs go on without these events
            }
        }
    }
}
