import Foundation
import OrbiterCore
import OrbiterModels
import OrbiterTestSupport
import Testing

@Suite("HTTP failures, retries and timeouts", .serialized)
struct ProviderFailureTests {
    @Test("a rate limit honours Retry-After, then succeeds")
    func rateLimitHonoursRetryAfterThenSucceeds() async throws {
        try await withServer { server in
            server.enqueue(.httpError(429, message: "Rate limit reached", type: "rate_limit_error", headers: ["Retry-After": "1"]),
                           .openAIReply("ok"))
            let provider = try makeProvider("openai:gpt-4o", environment: environment(for: server))
            let started = ContinuousClock.now
            let outcome = await complete(provider, weatherRequest())
            #expect(outcome.error == nil)
            #expect(outcome.texts == ["ok"])
            #expect(server.requests.count == 2)
            // The computed backoff is 5 ms; only Retry-After explains a wait of about a second.
            #expect((outcome.finishedAt - started).inSeconds >= 0.9)
        }
    }

    @Test("a server error forever fails after all attempts")
    func serverErrorForeverFailsAfterAllAttempts() async throws {
        try await withServer { server in
            server.fallback = .httpError(500, message: "The server had an error while processing your request")
            let provider = try makeProvider("openai:gpt-4o", environment: environment(for: server))
            let outcome = await complete(provider, weatherRequest())
            let error = try #require(outcome.modelError)
            #expect(server.requests.count == 3)
            #expect(error.provider == "openai")
            #expect(error.model == "gpt-4o")
            #expect(error.status == 500)
            #expect(error.message.contains("The server had an error while processing your request"))
            #expect(error.description.hasPrefix("openai:gpt-4o HTTP 500: The server had an error"))
            #expect(error.description.contains("after 3 attempts"))
            #expect(outcome.events.isEmpty)
        }
    }

    @Test("a bad request is not retried")
    func badRequestIsNotRetried() async throws {
        try await withServer { server in
            server.enqueue(.httpError(400, message: "Invalid schema for function 'get_weather'", type: "invalid_request_error"))
            let provider = try makeProvider("openai:gpt-4o", environment: environment(for: server))
            let outcome = await complete(provider, weatherRequest())
            let error = try #require(outcome.modelError)
            #expect(server.requests.count == 1)
            #expect(error.status == 400)
            #expect(error.retryable == false)
            #expect(error.message == "Invalid schema for function 'get_weather'")
        }
    }

    @Test("a context-length error is not retried, even as a 5xx")
    func contextLengthErrorIsNotRetriedEvenAs5xx() async throws {
        try await withServer { server in
            server.fallback = .httpError(503, message: "This model's maximum context length is 8192 tokens")
            let provider = try makeProvider("openai:gpt-4o", environment: environment(for: server))
            let outcome = await complete(provider, weatherRequest())
            #expect(outcome.modelError?.status == 503)
            #expect(outcome.modelError?.retryable == false)
            #expect(server.requests.count == 1)
        }
    }

    @Test("a stream cut after output fails without a retry")
    func streamCutAfterOutputFailsWithoutRetry() async throws {
        try await withServer { server in
            server.enqueue(.cut(after: [OpenAIChunk.text("partial")]), .openAIReply("never sent"))
            let provider = try makeProvider("openai:gpt-4o", environment: environment(for: server))
            let outcome = await complete(provider, weatherRequest())
            let error = try #require(outcome.modelError)
            #expect(outcome.events == [.text("partial")])
            #expect(server.requests.count == 1)
            #expect(error.retryable == false)
            #expect(error.message.contains("stream interrupted"))
            #expect(error.message.contains("not retried"))
        }
    }

    @Test("a stream cut before output is retried")
    func streamCutBeforeOutputIsRetried() async throws {
        try await withServer { server in
            server.enqueue(.cut(after: []), .openAIReply("second try"))
            let provider = try makeProvider("openai:gpt-4o", environment: environment(for: server))
            let outcome = await complete(provider, weatherRequest())
            #expect(outcome.error == nil)
            #expect(outcome.texts == ["second try"])
            #expect(server.requests.count == 2)
        }
    }

    @Test("a malformed chunk gives a clear error")
    func malformedChunkGivesAClearError() async throws {
        try await withServer { server in
            server.enqueue(.stream([.raw("data: {\"choices\": [oops\n\n")]))
            let provider = try makeProvider("openai:gpt-4o", environment: environment(for: server))
            let outcome = await complete(provider, weatherRequest())
            let error = try #require(outcome.modelError)
            #expect(error.message.contains("malformed JSON in stream chunk"))
            #expect(error.message.contains("[oops"))
            #expect(server.requests.count == 1)
        }
    }

    @Test("a stalled stream hits the idle timeout")
    func stalledStreamHitsTheIdleTimeout() async throws {
        try await withServer { server in
            server.enqueue(.stall(after: [OpenAIChunk.text("Hi")]))
            var options = fastOptions
            options.idleTimeout = .milliseconds(300)
            let provider = try makeProvider("openai:gpt-4o", environment: environment(for: server), options: options)
            let started = ContinuousClock.now
            let outcome = await complete(provider, weatherRequest())
            let error = try #require(outcome.modelError)
            #expect(outcome.events == [.text("Hi")])
            #expect(error.message.hasPrefix("stream stalled: no data for 0.3 s"))
            #expect(server.requests.count == 1)
            let elapsed = (outcome.finishedAt - started).inSeconds
            #expect(elapsed >= 0.3 && elapsed < 2)
        }
    }

    @Test("a silence before the head counts as a stall, with its own words, and is retried")
    func silenceBeforeTheHeadIsAStall() async throws {
        // A server that takes the request and never answers: the idle read timeout (shorter here
        // than the response timeout) ends each attempt.
        try await withServer { server in
            server.enqueue(.silent, .silent)
            var options = fastOptions
            options.idleTimeout = .milliseconds(300)
            options.retry = RetryPolicy(maxAttempts: 2, baseDelay: .milliseconds(5), maxDelay: .milliseconds(5))
            let provider = try makeProvider("openai:gpt-4o", environment: environment(for: server), options: options)
            let started = ContinuousClock.now
            let outcome = await complete(provider, weatherRequest())
            #expect(server.requests.count == 2)
            let error = try #require(outcome.modelError)
            #expect(error.message == "no reply for 0.3 s after the request was sent (after 2 attempts)")
            let elapsed = (outcome.finishedAt - started).inSeconds
            #expect(elapsed >= 0.6 && elapsed < 3)
        }
    }

    @Test("a body kept open after [DONE] ends the call within a second, with the whole reply")
    func bodyKeptOpenAfterDoneEndsTheCall() async throws {
        try await withServer { server in
            server.enqueue(.stall(after: [OpenAIChunk.text("Hi"), OpenAIChunk.finish("stop"), OpenAIChunk.done]))
            let provider = try makeProvider("openai:gpt-4o", environment: environment(for: server))  // idle 5 s
            let started = ContinuousClock.now
            let outcome = await complete(provider, weatherRequest())
            #expect(outcome.error == nil)
            #expect(outcome.events == [.text("Hi"), .finish("stop")])
            let elapsed = (outcome.finishedAt - started).inSeconds
            #expect(elapsed >= 0.9 && elapsed < 3)
            // The connection was given up, not returned to the pool half-read.
            for _ in 0..<50 where server.closedConnections == 0 { try await Task.sleep(for: .milliseconds(10)) }
            #expect(server.closedConnections == 1)
        }
    }

    @Test("a body that ends after [DONE] leaves its connection for the next call")
    func connectionIsReusedAfterACompleteReply() async throws {
        try await withServer { server in
            server.enqueue(.openAIReply("one"), .openAIReply("two"))
            let provider = try makeProvider("openai:gpt-4o", environment: environment(for: server))
            let first = await complete(provider, weatherRequest())
            let second = await complete(provider, weatherRequest())
            #expect(first.texts == ["one"] && second.texts == ["two"])
            #expect(server.acceptedConnections == 1)
            #expect(server.closedConnections == 0)
        }
    }

    @Test("an event that never ends is refused at 16 MiB, not buffered without bound, and not retried")
    func endlessEventIsRefused() async throws {
        try await withServer { server in
            // 17 MiB of `data:` with no line end, in 1 MiB writes.
            let piece = String(repeating: "x", count: 1 << 20)
            server.enqueue(.stream([FakeModelServer.Chunk("data: " + piece)]
                                   + (0..<16).map { _ in FakeModelServer.Chunk(piece) }))
            let provider = try makeProvider("openai:gpt-4o", environment: environment(for: server))
            let outcome = await complete(provider, weatherRequest())
            let error = try #require(outcome.modelError)
            #expect(error.message.contains("a server-sent event over 16 MiB"))
            #expect(!error.retryable)
            #expect(server.requests.count == 1)
            #expect(outcome.events.isEmpty)
        }
    }

    @Test("cancellation stops the request promptly")
    func cancellationStopsTheRequestPromptly() async throws {
        try await withServer { server in
            server.enqueue(.stall(after: [OpenAIChunk.text("Hi")]))
            let provider = try makeProvider("openai:gpt-4o", environment: environment(for: server))
            let (firstEvent, signal) = AsyncStream<Void>.makeStream()
            let task = Task {
                try await provider.complete(weatherRequest()) { _ in signal.yield() }
            }
            for await _ in firstEvent { break }
            let cancelledAt = ContinuousClock.now
            task.cancel()
            let result = await task.result
            #expect((ContinuousClock.now - cancelledAt).inSeconds < 0.5)
            #expect(throws: CancellationError.self) { try result.get() }
            // The server sees the connection close: the HTTP request really stopped.
            for _ in 0..<50 where server.closedConnections == 0 { try await Task.sleep(for: .milliseconds(10)) }
            #expect(server.closedConnections == 1)
        }
    }

    @Test("the API key never appears in errors")
    func apiKeyNeverAppearsInErrors() async throws {
        try await withServer { server in
            let key = "sk-live-SECRET-0123456789"
            server.enqueue(.httpError(401, message: "Incorrect API key provided: \(key)", type: "invalid_request_error"))
            let provider = try makeProvider("openai:gpt-4o", environment: environment(for: server, ["OPENAI_API_KEY": key]))
            let outcome = await complete(provider, weatherRequest())
            let error = try #require(outcome.modelError)
            #expect(server.requests.first?.header("authorization") == "Bearer \(key)")
            #expect(server.requests.count == 1)
            #expect(error.status == 401)
            #expect(!error.description.contains(key))
            #expect(!String(reflecting: error).contains(key))
            #expect(!String(reflecting: provider).contains(key))
            #expect(error.message.contains("[redacted]"))
        }
    }

    @Test("a refused connection fails at once with a clear message")
    func refusedConnectionFailsAtOnceWithAClearMessage() async throws {
        let closed = try await FakeModelServer.start()
        let port = closed.port
        try await closed.stop()
        let env = ["OPENAI_BASE_URL": "http://127.0.0.1:\(port)/v1", "OPENAI_API_KEY": "sk-test"]
        let provider = try makeProvider("openai:gpt-4o", environment: env, options: fastOptions)
        let started = ContinuousClock.now
        let outcome = await complete(provider, weatherRequest())
        let error = try #require(outcome.modelError)
        // No waiting out a connect timeout: each attempt fails as soon as the connection is refused.
        #expect((outcome.finishedAt - started).inSeconds < 1.5)
        #expect(error.message == "cannot connect to http://127.0.0.1:\(port)/v1/chat/completions: connection refused (after 3 attempts)")
        #expect(error.retryable)
        #expect(error.status == nil)
    }

    @Test("a server that never answers hits the response timeout, not the connect timeout")
    func aServerThatNeverAnswersHitsTheResponseTimeoutNotTheConnectTimeout() async throws {
        // A socket that listens but never accepts: the kernel completes the connection, the
        // request is sent, and no response head ever comes.
        let silent = SilentListener()
        defer { withExtendedLifetime(silent) {} }
        let port = silent.port
        var options = fastOptions
        options.retry = .none
        options.responseTimeout = .milliseconds(300)
        let provider = try makeProvider("openai:gpt-4o", environment: ["OPENAI_BASE_URL": "http://127.0.0.1:\(port)/v1", "OPENAI_API_KEY": "k"],
                                        options: options)
        let started = ContinuousClock.now
        let outcome = await complete(provider, weatherRequest())
        let error = try #require(outcome.modelError)
        #expect((outcome.finishedAt - started).inSeconds < 2)
        #expect(error.message == "no response from http://127.0.0.1:\(port)/v1/chat/completions within 0.3 s")
        #expect(error.retryable)
    }
}
