import Hummingbird
import Logging
import NIOCore
import OrbiterQueue
import OrbiterRedis
import ServiceLifecycle

/// `orbiter serve`: the HTTP API over the queue, a ServiceLifecycle service. It submits and reads
/// through the same library calls as the CLI (`distributed`, `TaskBroker`, `EventSubscriber`),
/// so a task submitted over HTTP is the task `orbiter submit` would have made.
public struct APIServer: Service {
    let configuration: ServerConfiguration
    let logger: Logger
    let onListening: @Sendable (_ host: String, _ port: Int) async -> Void

    /// - Parameter onListening: called once the socket is bound, with the port (the real one when
    ///   `port` was 0).
    public init(configuration: ServerConfiguration, logger: Logger = Logger(label: "orbiter.serve"),
                onListening: @escaping @Sendable (_ host: String, _ port: Int) async -> Void = { _, _ in }) throws {
        try configuration.validate()
        self.configuration = configuration
        self.logger = logger
        self.onListening = onListening
    }

    public func run() async throws {
        let brokers = try BrokerPool(configuration: configuration)
        let responder = APIResponder(configuration: configuration, brokers: brokers, logger: logger)
        let host = configuration.host
        let onListening = self.onListening
        let app = Application(
            responder: responder,
            configuration: ApplicationConfiguration(address: .hostname(host, port: configuration.port), serverName: "orbiter"),
            onServerRunning: { channel in await onListening(host, channel.localAddress?.port ?? 0) },
            logger: logger)
        try await app.run()
    }
}

extension APIServer {
    /// Runs until SIGTERM or SIGINT, then stops accepting requests and lets open ones finish
    /// (event streams end at once: their clients resume with Last-Event-ID).
    public func runUntilSignalled() async throws {
        let group = ServiceGroup(configuration: .init(services: [self], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}
