import NIOCore
import NIOHTTP1
import NIOPosix

/// A small HTTP server for scrapers and orchestrators: `GET /metrics` (Prometheus text) and
/// `GET /healthz` (200 while `healthy()` holds, 503 otherwise). Runs on NIO's event loops, so it
/// never blocks the cooperative thread pool.
public final class MetricsServer: Sendable {
    private let channel: any Channel

    /// The bound port (useful when started on port 0).
    public let port: Int

    /// Binds `host:port` and starts serving.
    public static func start(host: String = "0.0.0.0", port: Int, metrics: @escaping @Sendable () -> [UInt8],
                             healthy: @escaping @Sendable () -> Bool) async throws -> MetricsServer {
        let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 64)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(MetricsHTTPHandler(metrics: metrics, healthy: healthy))
                }
            }
        let channel = try await bootstrap.bind(host: host, port: port).get()
        return MetricsServer(channel: channel, port: channel.localAddress?.port ?? port)
    }

    private init(channel: any Channel, port: Int) {
        self.channel = channel
        self.port = port
    }

    /// Stops listening.
    public func stop() async {
        try? await channel.close()
    }
}

/// Answers one request per message; anything but the two paths is a 404.
private final class MetricsHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let metrics: @Sendable () -> [UInt8]
    private let healthy: @Sendable () -> Bool
    private var head: HTTPRequestHead?

    init(metrics: @escaping @Sendable () -> [UInt8], healthy: @escaping @Sendable () -> Bool) {
        self.metrics = metrics
        self.healthy = healthy
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h): head = h
        case .body: break
        case .end:
            guard let head else { return }
            self.head = nil
            let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
            let (status, type, body): (HTTPResponseStatus, String, [UInt8])
            switch (head.method, path) {
            case (.GET, "/metrics"):
                (status, type, body) = (.ok, "text/plain; version=0.0.4; charset=utf-8", metrics())
            case (.GET, "/healthz"):
                (status, type, body) = healthy() ? (.ok, "text/plain", Array("ok\n".utf8))
                    : (.serviceUnavailable, "text/plain", Array("unavailable\n".utf8))
            default:
                (status, type, body) = (.notFound, "text/plain", Array("not found\n".utf8))
            }
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: type)
            headers.add(name: "Content-Length", value: String(body.count))
            let keepAlive = head.isKeepAlive
            if !keepAlive { headers.add(name: "Connection", value: "close") }
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
            let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
            if !keepAlive {
                let channel = context.channel
                done.whenComplete { _ in channel.close(promise: nil) }
            }
        }
    }
}
