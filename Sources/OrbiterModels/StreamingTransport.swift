import AsyncHTTPClient
import NIOCore
import OrbiterCore

/// POSTs a JSON body, reads the server-sent-event reply as it streams, and retries transient failures.
///
/// Shared by every HTTP provider; the provider supplies URL, headers, body and a `StreamDecoder`.
/// The caller's task reads the body, decodes it and runs `onEvent`; silence longer than the idle
/// timeout is the HTTP client's idle read timeout (`ProviderHTTPClient`), and cancelling the
/// caller aborts the HTTP request at once.
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
        let response = try await Self.open(request, client: client, options: options)
        // The body is read on this task, a chunk at a time, with no task in between: a worker
        // streaming a thousand replies reads tens of thousands of chunks a second. Silence is the
        // client's idle read timeout (`ProviderHTTPClient`), cancellation this task's.
        var body = response.body.makeAsyncIterator()
        while let chunk = try await Self.next(&body, options: options) {
            for event in parser.feed(chunk.readableBytesView) {
                try await forward(decoder.decode(event), emitted: &emitted, to: onEvent)
                if decoder.isComplete {
                    await Self.drain(body, within: min(options.idleTimeout, .seconds(1)))
                    return
                }
            }
        }
        // A cancelled caller sees the body end or fail; that is not the server's doing.
        try Task.checkCancellation()
        if let last = parser.finish() {
            try await forward(decoder.decode(last), emitted: &emitted, to: onEvent)
        }
        try await forward(decoder.finish(), emitted: &emitted, to: onEvent)
    }

    /// Hands events to the caller; its errors pass through untouched instead of being taken for ours.
    private func forward(_ events: [ModelStreamEvent], emitted: inout Bool,
                         to onEvent: (ModelStreamEvent) async throws -> Void) async throws {
        for event in events {
            emitted = true
            do { try await onEvent(event) } catch { throw CallerFailure(underlying: error) }
        }
    }

    /// Sends the request and returns the response once its head is in and says 2xx; otherwise
    /// throws what the retry loop classifies (the status with the provider's own message, or why
    /// no head arrived).
    private static func open(_ request: HTTPClientRequest, client: HTTPClient,
                             options: HTTPProviderOptions) async throws -> HTTPClientResponse {
        let response: HTTPClientResponse
        do {
            response = try await client.execute(request, timeout: .nanoseconds(options.responseTimeout.inNanoseconds))
        } catch let error as HTTPClientError where error == .readTimeout && !Task.isCancelled {
            throw StreamFailure(message: "no reply for \(FailureClassifier.seconds(options.idleTimeout)) s after the request was sent",
                                retryable: true)
        } catch {
            throw Task.isCancelled ? error : ConnectFailure(underlying: error, url: request.url)
        }
        let status = Int(response.status.code)
        if let observer = ProviderResponseObservation.current {
            // Rate-limit headers and a 429's retry-after, for a shared limiter (names lower-cased).
            var heads: [String: String] = [:]
            for header in response.headers { heads[header.name.lowercased()] = header.value }
            await observer.responseHead(status: status, headers: heads)
        }
        guard (200..<300).contains(status) else {
            var body: [UInt8] = []
            var chunks = response.body.makeAsyncIterator()
            while body.count < 65_536, let chunk = try await next(&chunks, options: options) {
                body += chunk.readableBytesView
            }
            throw HTTPStatusFailure(
                status: status,
                message: FailureClassifier.message(fromBody: String(decoding: body, as: UTF8.self), status: status),
                retryAfter: FailureClassifier.retryAfter(response.headers.first(name: "retry-after")))
        }
        return response
    }

    /// The body's next chunk (nil at its end); a silence longer than the idle timeout is a stall.
    private static func next(_ body: inout HTTPClientResponse.Body.AsyncIterator,
                             options: HTTPProviderOptions) async throws -> ByteBuffer? {
        do {
            return try await body.next()
        } catch let error as HTTPClientError where error == .readTimeout && !Task.isCancelled {
            throw StreamFailure(message: "stream stalled: no data for \(FailureClassifier.seconds(options.idleTimeout)) s",
                                retryable: true)
        } catch {
            throw Task.isCancelled ? error : BodyFailure(underlying: error)
        }
    }

    /// Reads what follows the protocol's end marker to the end of the body, so the connection goes
    /// back to the pool, for at most `limit`: a server that keeps the body open after it has its
    /// connection closed instead.
    private static func drain(_ body: consuming HTTPClientResponse.Body.AsyncIterator, within limit: Duration) async {
        let rest = Handover(body)
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                var body = rest.take()
                while (try? await body.next()) ?? nil != nil {}
            }
            group.addTask { try? await Task.sleep(for: limit) }
            await group.next()
            group.cancelAll() // a cancelled read cancels the request
        }
    }
}

/// Moves a value that is not `Sendable` into one child task that owns it from then on.
private final class Handover<Value>: @unchecked Sendable {
    private var value: Value?
    init(_ value: consuming Value) { self.value = value }
    /// Called once, by the only task that holds the handover.
    func take() -> Value { defer { value = nil }; return value! }
}
