import NIOCore
import NIOHTTP1
import NIOPosix

/// An HTTP/1.1 listener on an ephemeral port of 127.0.0.1 for the test servers: each accepted
/// connection is served in its own child task; stopping closes the listener and every connection.
struct LoopbackHTTPListener: Sendable {
    typealias Connection = NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>

    /// The port it listens on (chosen by the system).
    let port: Int
    private let acceptLoop: Task<Void, Never>

    /// Starts listening; `accepted` runs as each connection arrives, before `serve`.
    static func start(accepted: @escaping @Sendable () -> Void = {},
                      serve: @escaping @Sendable (Connection) async -> Void) async throws -> LoopbackHTTPListener {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: "127.0.0.1", port: 0) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    return try Connection(wrappingChannelSynchronously: channel)
                }
            }
        let acceptLoop = Task<Void, Never> {
            await withDiscardingTaskGroup { group in
                try? await channel.executeThenClose { connections in
                    for try await connection in connections {
                        accepted()
                        group.addTask { await serve(connection) }
                    }
                }
            }
        }
        return LoopbackHTTPListener(port: channel.channel.localAddress?.port ?? 0, acceptLoop: acceptLoop)
    }

    /// Closes the listener and every open connection.
    func stop() async {
        acceptLoop.cancel()
        await acceptLoop.value
    }
}
