import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// A fake OpenAI-compatible chat endpoint on 127.0.0.1 that answers every request with a stream
/// of `deltas` text deltas, one every `interval`, like a model writing at a steady speed. Each
/// delta's text is `<index>@<monotonic ns when written>;`, so a follower in this process can tell
/// for every delta how long it took from the provider's write to its receipt, and whether any was
/// lost or reordered. Swift NIO, so the far end costs little next to what is measured.
///
/// The far end shares the machine with what is measured, so it must stay cheap: a timer per stream
/// (a thousand streams, 20,000 timer fires a second through NIO's timer heap) took 40 % of the
/// bench process's CPU. One `Ticker` per event loop fires every `tick` instead and writes to the
/// streams whose turn it is (each stream keeps its phase, `interval` apart, to within a tick).
final class DeltaStreamServer {
    let channel: any Channel
    var port: Int { channel.localAddress?.port ?? 0 }
    /// Streams answered so far and streams under way, across all connections.
    let started = Shared(0)
    static let tick = TimeAmount.milliseconds(1)

    init(deltas: Int, interval: TimeAmount) async throws {
        let counter = started
        let group = MultiThreadedEventLoopGroup.singleton
        var tickers: [ObjectIdentifier: Ticker] = [:]
        for loop in group.makeIterator() {
            tickers[ObjectIdentifier(loop)] = try await loop.submit {
                Ticker(loop: loop, slots: max(1, Int(interval.nanoseconds / Self.tick.nanoseconds)))
            }.get()
        }
        let byLoop = tickers
        channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.backlog, value: 4096)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(StreamHandler(
                        deltas: deltas, ticker: byLoop[ObjectIdentifier(channel.eventLoop)]!, started: counter))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
    }

    func stop() async throws { try await channel.close() }

    /// The streams of one event loop, in `slots` turns of one tick each: every tick, the streams of
    /// the next turn write their next delta. Touched only on its loop.
    private final class Ticker: @unchecked Sendable {
        let loop: any EventLoop
        private var turns: [[StreamHandler]]
        private var turn = 0
        private var due: NIODeadline
        private var timer: RepeatedTask?

        init(loop: any EventLoop, slots: Int) {
            self.loop = loop
            turns = Array(repeating: [], count: slots)
            due = .now() + DeltaStreamServer.tick
        }

        /// Adds a stream: it writes one turn round (`interval`) from now, and every round after.
        func add(_ stream: StreamHandler) {
            loop.preconditionInEventLoop()
            turns[(turn + turns.count - 1) % turns.count].append(stream)
            if timer == nil {
                due = .now() + DeltaStreamServer.tick
                timer = loop.scheduleRepeatedTask(initialDelay: DeltaStreamServer.tick, delay: DeltaStreamServer.tick) { [self] _ in fire() }
            }
        }

        /// Runs every turn whose time has come (a late tick catches up).
        private func fire() {
            let now = NIODeadline.now()
            while due <= now {
                let streams = turns[turn]
                turns[turn] = streams.filter { $0.writeNext() }
                turn = (turn + 1) % turns.count
                due = due + DeltaStreamServer.tick
            }
            if turns.allSatisfy(\.isEmpty) {
                timer?.cancel()
                timer = nil
            }
        }
    }

    private final class StreamHandler: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let deltas: Int
        let ticker: Ticker
        let started: Shared<Int>
        private var context: ChannelHandlerContext?
        private var sent = 0

        init(deltas: Int, ticker: Ticker, started: Shared<Int>) {
            self.deltas = deltas
            self.ticker = ticker
            self.started = started
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            guard case .end = unwrapInboundIn(data) else { return }
            started.withLock { $0 += 1 }
            let head = HTTPResponseHead(version: .http1_1, status: .ok,
                                        headers: ["content-type": "text/event-stream", "cache-control": "no-cache"])
            context.writeAndFlush(wrapOutboundOut(.head(head)), promise: nil)
            self.context = context
            sent = 0
            ticker.add(self)
        }

        /// Writes the next delta (or the end); false once the stream is done or its connection gone.
        func writeNext() -> Bool {
            guard let context else { return false }
            if sent < deltas {
                let text = "\(sent)@\(DispatchTime.now().uptimeNanoseconds);"
                sent += 1
                write(context, #"{"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1,"model":"fake","choices":[{"index":0,"delta":{"content":"\#(text)"},"finish_reason":null}]}"#)
                context.flush()
                return true
            }
            write(context, #"{"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1,"model":"fake","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#)
            write(context, #"{"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1,"model":"fake","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":\#(deltas),"total_tokens":\#(deltas + 12)}}"#)
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: "data: [DONE]\n\n")))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            self.context = nil
            return false
        }

        private func write(_ context: ChannelHandlerContext, _ json: String) {
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: "data: \(json)\n\n")))), promise: nil)
        }

        func channelInactive(context: ChannelHandlerContext) {
            self.context = nil
            context.fireChannelInactive()
        }
    }
}
