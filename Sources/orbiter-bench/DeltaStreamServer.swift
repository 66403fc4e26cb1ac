import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// A fake OpenAI-compatible chat endpoint on 127.0.0.1 that answers every request with a stream
/// of `deltas` text deltas, one every `interval`, like a model writing at a steady speed. Each
/// delta's text is `<index>@<monotonic ns when written>;`, so a follower in this process can tell
/// for every delta how long it took from the provider's write to its receipt, and whether any was
/// lost or reordered. Swift NIO, so the far end costs little next to what is measured.
final class DeltaStreamServer {
    let channel: any Channel
    var port: Int { channel.localAddress?.port ?? 0 }
    /// Streams answered so far and streams under way, across all connections.
    let started = Shared(0)

    init(deltas: Int, interval: TimeAmount) async throws {
        let counter = started
        channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.backlog, value: 4096)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(StreamHandler(deltas: deltas, interval: interval, started: counter))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
    }

    func stop() async throws { try await channel.close() }

    private final class StreamHandler: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let deltas: Int
        let interval: TimeAmount
        let started: Shared<Int>
        private var task: RepeatedTask?

        init(deltas: Int, interval: TimeAmount, started: Shared<Int>) {
            self.deltas = deltas
            self.interval = interval
            self.started = started
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            guard case .end = unwrapInboundIn(data) else { return }
            started.withLock { $0 += 1 }
            let head = HTTPResponseHead(version: .http1_1, status: .ok,
                                        headers: ["content-type": "text/event-stream", "cache-control": "no-cache"])
            context.writeAndFlush(wrapOutboundOut(.head(head)), promise: nil)
            var sent = 0
            let total = deltas
            let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
            task = context.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { [weak self] task in
                let context = loopBound.value
                guard let self else { task.cancel(); return }
                if sent < total {
                    let text = "\(sent)@\(DispatchTime.now().uptimeNanoseconds);"
                    sent += 1
                    self.write(context, #"{"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1,"model":"fake","choices":[{"index":0,"delta":{"content":"\#(text)"},"finish_reason":null}]}"#)
                    context.flush()
                    return
                }
                task.cancel()
                self.write(context, #"{"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1,"model":"fake","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#)
                self.write(context, #"{"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1,"model":"fake","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":\#(total),"total_tokens":\#(total + 12)}}"#)
                context.write(self.wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: "data: [DONE]\n\n")))), promise: nil)
                context.writeAndFlush(self.wrapOutboundOut(.end(nil)), promise: nil)
                self.task = nil
            }
        }

        private func write(_ context: ChannelHandlerContext, _ json: String) {
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: "data: \(json)\n\n")))), promise: nil)
        }

        func channelInactive(context: ChannelHandlerContext) {
            task?.cancel()
            task = nil
            context.fireChannelInactive()
        }
    }
}
