import AsyncHTTPClient
import OrbiterCore

/// POSTs a JSON body, reads the server-sent-event reply as it streams, and retries transient failures.
///
/// Shared by every HTTP provider; the provider supplies URL, headers, body and a `StreamDecoder`.
/// Three tasks cooperate per attempt: this one decodes and forwards events (so `onEvent` runs on the
/// caller's task), a child reads the body, and a child watches for silence longer than the idle
/// timeout. Cancelling the caller cancels both children, which aborts the HTTP request at once.
struct StreamingTransport: Sendable {
    let provider: String
    let model: String
    let client: HTTPClient
    let options: HTTPProviderOptions
    let apiKey: APIKey?

    /// Sends the request and forwards decoded events, retrying per `options.retry`.
    func stream<Decoder: StreamDecoder>(
        url: String, headers: [(String, String)], body: JSONValue, decoder makeDecoder: () -> Decoder,
        onEvent: (ModelStreamEvent) async throws -> Void
    ) async throws {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "content-type", value: "application/json")
        request.headers.add(name: "accept", value: "text/event-stream")
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(Array(body.jsonString.utf8))

        var attempt = 0
        while true {
            attempt += 1
            var emitted = false
            if attempt > 1 { try await ProviderResponseObservation.current?.willRetry(attempt: attempt) }
            do {
                try await self.attempt(request, decoder: makeDecoder(), emitted: &emitted, onEvent: onEvent)
                return
            } catch let error as CallerFailure {
                throw error.underlying
            } catch {
                if Task.isCancelled || error is CancellationError { throw CancellationError() }
                var (failure, retryAfter) = FailureClassifier.classify(error, provider: provider, model: model, options: options)
                failure.message = apiKey?.redact(failure.message) ?? failure.message
                if emitted {
                    // The caller already showed part of this reply; a retry would repeat it.
                    if failure.retryable { failure.message += " (after output had started; not retried)" }
                    failure.retryable = false
                    throw failure
                }
                let retryHere = (error as? ConnectFailure).map { ConnectProblem($0.underlying).retryHere } ?? true
                guard failure.retryable, retryHere, attempt < options.retry.maxAttempts else {
                    if attempt > 1 { failure.message += " (after \(attempt) attempts)" }
                    throw failure
                }
                try await Task.sleep(for: options.retry.delay(afterAttempt: attempt, retryAfter: retryAfter))
            }
        }
    }

    private func attempt<Decoder: StreamDecoder>(
        _ request: HTTPClientRequest, decoder: Decoder, emitted: inout Bool,
        onEvent: (ModelStreamEvent) async throws -> Void
    ) async throws {
        var decoder = decoder
        var parser = SSEParser()
        let activity = StreamActivity()
        let (chunks, continuation) = AsyncThrowingStream<[UInt8], any Error>.makeStream()
        let client = client, options = options

        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await Self.read(request, client: client, options: options, activity: activity, into: continuation) }
            group.addTask { await Self.watch(activity, idleTimeout: options.idleTimeout, continuation: continuation) }
            defer { group.cancelAll() }

            var iterator = chunks.makeAsyncIterator()
            reading: while let bytes = try await iterator.next() {
                for event in parser.feed(bytes) {
                    try await forward(decoder.decode(event), emitted: &emitted, to: onEvent)
                    if decoder.isComplete { break reading }
                }
            }
            // A cancelled consumer sees the chunk stream end quietly; that is not the server's doing.
            try Task.checkCancellation()
            if decoder.isComplete {
                // Read to the end of the body so the connection goes back to the pool; what comes
                // after the end marker does not matter, and the watchdog bounds the wait.
                activity.markComplete()
                while (try? await iterator.next()) != nil {}
                return
            }
            if let last = parser.finish() {
                try await forward(decoder.decode(last), emitted: &emitted, to: onEvent)
            }
            try await forward(decoder.finish(), emitted: &emitted, to: onEvent)
        }
    }

    /// Hands events to the caller; its errors pass through untouched instead of being taken for ours.
    private func forward(_ events: [ModelStreamEvent], emitted: inout Bool,
                         to onEvent: (ModelStreamEvent) async throws -> Void) async throws {
        for event in events {
            emitted = true
            do { try await onEvent(event) } catch { throw CallerFailure(underlying: error) }
        }
    }

    /// Child task: performs the request and pushes body bytes as they arrive.
    private static func read(_ request: HTTPClientRequest, client: HTTPClient, options: HTTPProviderOptions,
                             activity: StreamActivity, into continuation: AsyncThrowingStream<[UInt8], any Error>.Continuation) async {
        do {
            let response: HTTPClientResponse
            do {
                response = try await client.execute(request, timeout: .nanoseconds(options.responseTimeout.inNanoseconds))
            } catch {
                throw Task.isCancelled ? error : ConnectFailure(underlying: error, url: request.url)
            }
            activity.touch()
            let status = Int(response.status.code)
            if let observer = ProviderResponseObservation.current {
                // Rate-limit headers and a 429's retry-after, for a shared limiter (names lower-cased).
                var heads: [String: String] = [:]
                for header in response.headers { heads[header.name.lowercased()] = header.value }
                await observer.responseHead(status: status, headers: heads)
            }
            guard (200..<300).contains(status) else {
                var body: [UInt8] = []
                for try await chunk in response.body where body.count < 65_536 {
                    activity.touch()
                    body += chunk.readableBytesView
                }
                throw HTTPStatusFailure(
                    status: status,
                    message: FailureClassifier.message(fromBody: String(decoding: body, as: UTF8.self), status: status),
                    retryAfter: FailureClassifier.retryAfter(response.headers.first(name: "retry-after")))
            }
            do {
                for try await chunk in response.body {
                    activity.touch()
                    continuation.yield(Array(chunk.readableBytesView))
                }
            } catch {
                throw Task.isCancelled ? error : BodyFailure(underlying: error)
            }
            continuation.finish()
        } catch {
            continuation.finish(throwing: error)
        }
    }

    /// Child task: ends the stream with an error when no bytes arrived for `idleTimeout`.
    private static func watch(_ activity: StreamActivity, idleTimeout: Duration,
                              continuation: AsyncThrowingStream<[UInt8], any Error>.Continuation) async {
        let tick = min(idleTimeout / 4, .milliseconds(250))
        while !Task.isCancelled {
            try? await Task.sleep(for: tick)
            if let silence = activity.silence(), silence >= (activity.isComplete ? min(idleTimeout, .seconds(1)) : idleTimeout) {
                continuation.finish(throwing: StreamFailure(
                    message: "stream stalled: no data for \(FailureClassifier.seconds(idleTimeout)) s", retryable: true))
                return
            }
        }
    }
}
