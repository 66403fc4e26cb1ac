extension RedisClient {
    /// One published message: the channel it arrived on and its raw payload.
    public typealias Message = (channel: String, message: [UInt8])

    /// Subscribes to `channels` on a dedicated connection and streams their messages.
    ///
    /// The stream ends when the consumer stops iterating (task cancelled), when the client is
    /// closed, or with an error if the connection is lost. Messages published before the server
    /// confirmed the subscription are not seen; use `subscribeConfirmed` when that matters.
    public func subscribe(_ channels: [String]) -> AsyncThrowingStream<(channel: String, message: [UInt8]), any Error> {
        makeSubscription(channels, onConfirmed: nil)
    }

    /// Like `subscribe`, but returns only once the server has confirmed every channel, so a
    /// message published afterwards is guaranteed to arrive. Throws if subscribing fails.
    public func subscribeConfirmed(_ channels: [String]) async throws -> AsyncThrowingStream<(channel: String, message: [UInt8]), any Error> {
        var stream: AsyncThrowingStream<Message, any Error>?
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
            stream = makeSubscription(channels) { result in c.resume(with: result.mapError { $0 }) }
        }
        return stream!
    }

    private func makeSubscription(_ channels: [String],
                                  onConfirmed: (@Sendable (Result<Void, RedisError>) -> Void)?)
        -> AsyncThrowingStream<Message, any Error> {
        let (stream, output) = AsyncThrowingStream.makeStream(of: Message.self, throwing: (any Error).self)
        let worker: ConnectionWorker
        do {
            worker = try makeDedicatedWorker(name: "orbiter-redis-subscribe", routedBy: channels.first)
        } catch {
            onConfirmed?(.failure(error as? RedisError ?? .connection("\(error)")))
            output.finish(throwing: error)
            return stream
        }
        output.onTermination = { [weak self] _ in
            worker.interrupt()
            if let self { self.retireDedicatedWorker(worker) } else { worker.close() }
        }
        let command = EncodedCommand(["SUBSCRIBE"] + channels.map { $0 as any RedisArgument })
        worker.submit(.subscribe(.init(command: command, channelCount: channels.count,
                                       output: output, onConfirmed: onConfirmed)))
        return stream
    }
}
