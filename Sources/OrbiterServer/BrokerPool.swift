import OrbiterQueue
import OrbiterRedis
import Synchronization

/// One `TaskBroker` per queue a request names, all on one Redis connection.
final class BrokerPool: Sendable {
    let client: RedisClient
    let settings: QueueSettings
    let defaultQueue: String
    private let brokers = Mutex<[String: TaskBroker]>([:])

    init(configuration: ServerConfiguration) throws {
        let url = try configuration.redisURL.map { try RedisURL($0) } ?? RedisURL.fromEnvironment()
        client = RedisClient(url: url)
        settings = configuration.settings
        defaultQueue = configuration.defaultQueue
    }

    /// The broker of `queue` (nil or empty: the default queue); 400 for a malformed name.
    func broker(_ queue: String?) throws -> TaskBroker {
        let name = queue.flatMap { $0.isEmpty ? nil : $0 } ?? defaultQueue
        if let known = brokers.withLock({ $0[name] }) { return known }
        let broker: TaskBroker
        do {
            broker = try TaskBroker(queue: name, settings: settings, client: client)
        } catch {
            throw APIError.badRequest("\(error)", code: "invalid_queue")
        }
        return brokers.withLock { brokers in
            if let other = brokers[name] { return other }
            if brokers.count < 1000 { brokers[name] = broker }
            return broker
        }
    }
}
