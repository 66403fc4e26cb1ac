import AsyncHTTPClient
import NIOCore
import Synchronization
import OrbiterCore

/// POSTs a JSON body, reads the server-sent-event reply as it streams, and retries transient failures.
///
/// Shared by every HTTP provider; the provider supplies URL, headers, body and a `StreamDecoder`.
/// Two child tasks per attempt: one sends the request, reads the body, decodes it and runs
/// `onEvent` (a chunk reaches the decoder with no task in between: a worker streaming a thousand
/// replies reads tens of thousands of chunks a second), and a watchdog that ends the attempt when
/// no byte arrived for the idle timeout (it sleeps until the silence could reach it, not on a
/// fixed tick). Cancelling the caller cancels both, which aborts the HTTP request at once.
struct StreamingTransport: Sendable {
    let provider: String
    let model: String
    let client: HTTPClient
    let options: HTTPProviderOptions
    let apiKey: APIKey?

    /// The largest server-sent event taken (a model's whole reply fits many times over): a body
    /// that never ends its line or event must not grow a worker's memory without bound.
    static let maxEventBytes = 16 << 20

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
                // The attempt's reading task calls `onEvent`; the attempt ends before this call does.
                try await withoutActuallyEscaping(onEvent) { onEvent in
                    try await self.attempt(request, decoder: makeDecoder(), emitted: &emitted, onEvent: onEvent)
                }
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
        onEvent: @escaping (ModelStreamEvent) async throws -> Void
    ) async throws {
        let caller = CallerSide(decoder: decoder, onEvent: onEvent)
        // `onEvent` must not outlive this call (`withoutActuallyEscaping` checks it): whatever still
        // holds the box once the tasks are done holds no closure.
        defer { emitted = caller.emitted; caller.onEvent = nil }
        let activity = StreamActivity()
        let options = options
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await self.read(request, activity: activity, caller: caller) }
            group.addTask { try await Self.watch(activity, idleTimeout: options.idleTimeout) }
            defer { group.cancelAll() }
            // The first to end decides: the reply read (or failed), or the watchdog found a stall.
            try await group.next()
        }
    }

    /// Child task: sends the request and turns the body into events for the caller.
    private func read<Decoder: StreamDecoder>(_ request: HTTPClientRequest, activity: StreamActivity,
                                              caller: CallerSide<Decoder>) async throws {
        var parser = SSEParser()
        let response = try await Self.open(request, client: client, options: options)
        activity.touch(head: true)
        var body = response.body.makeAsyncIterator()
        while let chunk = try await Self.next(&body) {
            activity.touch()
            let events = parser.feed(chunk.readableBytesView)
            if parser.bufferedBytes > Self.maxEventBytes { throw StreamFailure.oversized(limit: Self.maxEventBytes) }
            for event in events {
                try await forward(caller.decoder.decode(event), caller: caller)
                if caller.decoder.isComplete {
                    await Self.drain(body, within: min(options.idleTimeout, .seconds(1)))
                    return
                }
            }
        }
        // A cancelled attempt sees the body end or fail; that is not the server's doing.
        try Task.checkCancellation()
        if let last = parser.finish() {
            try await forward(caller.decoder.decode(last), caller: caller)
        }
        try await forward(caller.decoder.finish(), caller: caller)
    }

    /// Hands events to the caller; its errors pass through untouched instead of being taken for ours.
    private func forward<Decoder>(_ events: [ModelStreamEvent], caller: CallerSide<Decoder>) async throws {
        for event in events {
            caller.emitted = true
            guard let onEvent = caller.onEvent else { return }
            do { try await onEvent(event) } catch { throw CallerFailure(underlying: error) }
        }
    }

    /// Child task: ends the attempt when nothing arrived for `idleTimeout` (before the response
    /// head, or inside the body). It sleeps until the silence could reach the timeout, so a
    /// stream that keeps talking costs it one wake-up per `idleTimeout`, not four a second.
    private static func watch(_ activity: StreamActivity, idleTimeout: Duration) async throws {
        while true {
            let silence = activity.silence()
            if silence >= idleTimeout {
                let seconds = FailureClassifier.seconds(idleTimeout)
                throw activity.sawHead
                    ? StreamFailure(message: "stream stalled: no data for \(seconds) s", retryable: true)
                    : StreamFailure(message: "no reply for \(seconds) s after the request was sent", retryable: true)
            }
            try await Task.sleep(for: idleTimeout - silence)
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
            while body.count < 65_536, let chunk = try await next(&chunks) {
                body += chunk.readableBytesView
            }
            throw HTTPStatusFailure(
                status: status,
                message: FailureClassifier.message(fromBody: String(decoding: body, as: UTF8.self), status: status),
                retryAfter: FailureClassifier.retryAfter(response.headers.first(name: "retry-after")))
        }
        return response
    }

    /// The body's next chunk (nil at its end).
    private static func next(_ body: inout HTTPClientResponse.Body.AsyncIterator) async throws -> ByteBuffer? {
        do {
            return try await body.next()
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

/// The caller's side of an attempt, used by its reading task alone while the caller waits for the
/// attempt (so `onEvent` runs on one task at a time, after what came before it, as if the caller
/// ran it; an isolated closure still hops to its actor). Child tasks inherit the caller's task-local
/// values, priority and cancellation.
private final class CallerSide<Decoder: StreamDecoder>: @unchecked Sendable {
    var decoder: Decoder
    /// Nil once the attempt has ended.
    var onEvent: ((ModelStreamEvent) async throws -> Void)?
    /// Whether any event reached the caller (a retry would then repeat output).
    var emitted = false

    init(decoder: Decoder, onEvent: @escaping (ModelStreamEvent) async throws -> Void) {
        self.decoder = decoder
        self.onEvent = onEvent
    }
}

/// Moves a value that is not `Sendable` into one child task that owns it from then on.
private final class Handover<Value>: @unchecked Sendable {
    private var value: Value?
    init(_ value: consuming Value) { self.value = value }
    /// Called once, by the only task that holds the handover.
    func take() -> Value { defer { value = nil }; return value! }
}

/// When the last byte of an attempt arrived, for its watchdog; written by the reading task on
/// every chunk, so an atomic, not a lock.
private final class StreamActivity: Sendable {
    private static let epoch = ContinuousClock.now
    private let last = Atomic<Int64>(0)
    private let head = Atomic(false)

    init() { touch() }

    /// Bytes arrived (`head`: the response head).
    func touch(head sawHead: Bool = false) {
        let (seconds, attoseconds) = (ContinuousClock.now - Self.epoch).components
        last.store(seconds &* 1_000_000_000 &+ attoseconds / 1_000_000_000, ordering: .relaxed)
        if sawHead { head.store(true, ordering: .relaxed) }
    }

    /// Whether the response head arrived.
    var sawHead: Bool { head.load(ordering: .relaxed) }

    /// How long nothing arrived.
    func silence() -> Duration {
        (ContinuousClock.now - Self.epoch) - .nanoseconds(last.load(ordering: .relaxed))
    }
}
