import OrbiterCore
import OrbiterQueue
import OrbiterRedis

/// Reads a task's events from its Redis Stream: stored ones (`replay`) or live (`stream`).
///
/// Both read the same stream, so a subscriber that arrives late misses nothing and can resume
/// after any event id. Every task's stream ends with exactly one terminal `status` event.
public struct EventSubscriber: Sendable {
    let broker: TaskBroker

    /// Reads events of tasks on `queue` at `redisURL` (default `ORBITER_REDIS_URL`).
    public init(_ redisURL: String? = nil, queue: String = "default") throws {
        broker = try TaskBroker(redisURL: redisURL, queue: queue)
    }

    /// Reads through an existing broker's connection.
    public init(broker: TaskBroker) { self.broker = broker }

    /// Connects now, so a wrong URL fails here rather than at the first read.
    public func connect() async throws { try await broker.client.connect() }

    /// The stored events after `from` (an event id; `"0"` for all).
    public func replay(_ taskID: String, from: String = "0") async throws -> [StoredEvent] {
        try TaskID.validate(taskID)
        let reply = try await broker.client.send(["XRANGE", broker.keys.events(taskID), "(" + from, "+"])
        return StreamReplies.events(StreamReplies.entries(reply))
    }

    /// Live events after `from`, ending after the terminal `status` event. Blocks on the stream
    /// (no polling); when nothing arrives for a while it checks the task still exists, so a
    /// deleted or expired task ends the stream with an error instead of hanging. It rides out a
    /// Redis restart, ending with `RedisError.connection` only when Redis stays away for `outageLimit`.
    public func stream(_ taskID: String, from: String = "0", outageLimit: Duration = .seconds(60)) -> AsyncThrowingStream<StoredEvent, any Error> {
        follow(taskID, from: from, outageLimit: outageLimit) { $0 }
    }

    /// `stream`, handing each event through `transform` in the same task (no second stream).
    func follow<Element: Sendable>(_ taskID: String, from: String, outageLimit: Duration = .seconds(60),
                                   _ transform: @escaping @Sendable (StoredEvent) -> Element) -> AsyncThrowingStream<Element, any Error> {
        let broker = self.broker
        return AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    try TaskID.validate(taskID)
                    let key = broker.keys.events(taskID)
                    // Past the terminal event (or stopped) nothing more is read from this stream.
                    defer { broker.client.streamReader.forget(key: key) }
                    var last = from
                    var outage = OutageBackoff(limit: outageLimit)
                    while !Task.isCancelled {
                        let reply: RedisReply
                        do {
                            reply = try await broker.client.streamReader.read(key: key, after: last, block: .seconds(2))
                            outage.reset()
                        } catch RedisError.connection {
                            // Redis restarting: resume after the last event seen, for up to a minute.
                            try await outage.wait(orThrow: "Redis unreachable for \(outageLimit) while following task \(taskID)")
                            continue
                        }
                        let events = StreamReplies.events(StreamReplies.firstStream(reply))
                        for stored in events {
                            continuation.yield(transform(stored))
                            last = stored.id
                            if stored.event.isTerminal {
                                continuation.finish()
                                return
                            }
                        }
                        if events.isEmpty, try await broker.status(taskID) == nil,
                           try await broker.client.send(["EXISTS", key]).int == 0 {
                            throw DistributedError.taskNotFound(taskID)
                        }
                    }
                    continuation.finish(throwing: CancellationError())
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }
}
