import Foundation
import OrbiterCore
@testable import OrbiterLimits
import OrbiterModels
import OrbiterRedis
import OrbiterTestSupport
import OrbiterWorker
import Synchronization
import Testing

/// The shared limiter against a real Redis: booking, refunds, recalibration from provider
/// headers, a 429 that holds back every worker, the `rate_limited` event, and what a hostile
/// value in a limit's hash or a Redis that is gone does to a call.
@Suite("Shared rate limits", .serialized)
struct RateLimitTests {
    /// A limit name no other test uses (limits are global to a Redis, not per queue).
    static func uniqueName(key: String? = nil) throws -> LimitName {
        try LimitName(provider: "openai", model: "t-" + UUID().uuidString.prefix(8).lowercased(), key: key)
    }

    static func limiter(maxWait: Duration = .seconds(30)) throws -> RateLimiter {
        RateLimiter(client: RedisClient(url: try RedisURL(try TestRedis.url())), maxWait: maxWait)
    }

    static func status(_ limiter: RateLimiter, _ name: LimitName) async throws -> LimitStatus {
        try #require(try await limiter.list().first { $0.name == name.description })
    }

    /// A fresh limit on a fresh model, a server answering "ok", and the limiter; the limit is
    /// removed and the server stopped however `body` ends.
    static func withLimit(_ limit: ModelLimit, maxWait: Duration = .seconds(30),
                          _ body: (RateLimiter, LimitName, TestHTTPServer) async throws -> Void) async throws {
        let limiter = try Self.limiter(maxWait: maxWait), name = try Self.uniqueName()
        let server = try await Self.okServer()
        try await limiter.set(name, limit)
        do {
            try await body(limiter, name, server)
        } catch {
            await server.stop()
            try? await limiter.remove(name)
            throw error
        }
        await server.stop()
        try? await limiter.remove(name)
    }

    /// A server that answers every chat request with "ok" and usage 10 + 5 (and, first, the turns given).
    static func okServer(first: [TestHTTPServer.Route] = []) async throws -> TestHTTPServer {
        let server = try await TestHTTPServer.start()
        let turns = Mutex(first)
        let sse = [
            #"{"id":"c","object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":{"content":"ok"},"finish_reason":"stop"}]}"#,
            #"{"id":"c","object":"chat.completion.chunk","model":"m","choices":[],"usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15}}"#,
        ].map { "data: \($0)\n\n" }.joined() + "data: [DONE]\n\n"
        server.route("/v1/chat/completions", .dynamic { _ in
            turns.withLock { $0.isEmpty ? .text(sse) : $0.removeFirst() }
        })
        return server
    }

    static func provider(_ server: TestHTTPServer, _ name: LimitName, _ limiter: RateLimiter, attempts: Int = 3) -> RateLimitedProvider {
        let inner = OpenAICompatibleProvider(name: "openai", model: name.model, baseURL: server.url("/v1"), apiKey: "sk-test",
                                             options: HTTPProviderOptions(retry: RetryPolicy(maxAttempts: attempts, baseDelay: .milliseconds(10))))
        return RateLimitedProvider(wrapping: inner, limiter: limiter, provider: "openai", model: name.model, settings: ModelSettings())
    }

    static func ask(_ provider: RateLimitedProvider, maxTokens: Int? = 100) async throws -> [ModelStreamEvent] {
        let events = Mutex<[ModelStreamEvent]>([])
        try await provider.complete(ModelRequest(model: provider.name?.model ?? "", messages: [.user("hello")], maxTokens: maxTokens)) { e in
            events.withLock { $0.append(e) }
        }
        return events.withLock { $0 }
    }

    // MARK: Booking and refunds

    /// Whether `value` is what a limit of `perMinute` holds `expected` units after `elapsed`: the
    /// limit frees one unit every 60,000 / `perMinute` ms, so a slow step (a loaded machine) may
    /// have freed a few since they were taken.
    static func holds(_ value: Int?, _ expected: Int, perMinute: Int, since start: ContinuousClock.Instant) -> Bool {
        guard let value else { return false }
        let freed = Int((ContinuousClock.now - start).inMilliseconds * Double(perMinute) / 60_000) + 1
        return value <= expected && value >= expected - freed
    }

    @Test("a booking takes input + max_tokens; the settle gives back what the call did not use, or takes what it used beyond")
    func refundMath() async throws {
        let limiter = try Self.limiter(), name = try Self.uniqueName()
        // 1,000 tokens a minute: one token per 60 ms, so the few ms a step takes hardly show.
        try await limiter.set(name, try ModelLimit(requests: 100, totalTokens: 1000))
        let start = ContinuousClock.now
        guard case .booked(let booking) = try await limiter.reserve(name, input: 100, output: 200) else {
            Issue.record("not booked"); return
        }
        #expect(booking.waitMs == 0 && booking.input == 100 && booking.output == 200)
        var status = try await Self.status(limiter, name)
        #expect(Self.holds(status.inUse["tpm"], 300, perMinute: 1000, since: start), "\(status.inUse)")
        #expect(Self.holds(status.inUse["rpm"], 1, perMinute: 100, since: start), "\(status.inUse)")
        // Used 40 in, 10 out: 250 given back.
        try await limiter.settle(booking.name, requests: 0, input: 100 - 40, output: 200 - 10)
        status = try await Self.status(limiter, name)
        #expect(Self.holds(status.inUse["tpm"], 50, perMinute: 1000, since: start), "\(status.inUse)")
        // A reply longer than booked: 150 more are taken.
        try await limiter.settle(booking.name, requests: 0, input: 0, output: -150)
        status = try await Self.status(limiter, name)
        #expect(Self.holds(status.inUse["tpm"], 200, perMinute: 1000, since: start), "\(status.inUse)")
        // Without max_tokens, the limit's output estimate is booked (1,024 by default; here 300).
        try await limiter.set(name, try ModelLimit(requests: 100, totalTokens: 1000, outputEstimate: 300))
        guard case .booked(let estimated) = try await limiter.reserve(name, input: 10, output: 0) else { Issue.record("not booked"); return }
        #expect(estimated.output == 300)
        // A call bigger than 90 % of the limit can never fit: said at once, nothing booked.
        let before = try await Self.status(limiter, name).inUse["tpm"] ?? 0, checked = ContinuousClock.now
        #expect(try await limiter.reserve(name, input: 500, output: 500) == .neverFits(dimension: "tpm", cost: 1000, limit: 1000))
        #expect(Self.holds(try await Self.status(limiter, name).inUse["tpm"], before, perMinute: 1000, since: checked), "nothing booked")
        try await limiter.remove(name)
    }

    @Test("the decorator settles each call to its reported usage, and a model without a limit is called as it is")
    func decoratorSettlesToUsage() async throws {
        let limiter = try Self.limiter(), name = try Self.uniqueName()
        let server = try await Self.okServer()
        defer { Task { await server.stop() } }
        let provider = Self.provider(server, name, limiter)
        // No limit yet: the call goes through and nothing is stored.
        #expect(try await Self.ask(provider).contains(.text("ok")))
        #expect(try await limiter.list().contains { $0.name == name.description } == false)
        try await limiter.set(name, try ModelLimit(requests: 100, totalTokens: 6000))
        let start = ContinuousClock.now
        _ = try await Self.ask(provider, maxTokens: 500)
        // The fake reports 10 in + 5 out: 15 in use, whatever was estimated and booked.
        let status = try await Self.status(limiter, name)
        #expect(Self.holds(status.inUse["tpm"], 15, perMinute: 6000, since: start), "\(status.inUse)")
        #expect(Self.holds(status.inUse["rpm"], 1, perMinute: 100, since: start), "\(status.inUse)")
        try await limiter.remove(name)
    }

    @Test("metrics: tokens reserved, used and given back, and the wait, per limited model")
    func metrics() async throws {
        let exporter = PrometheusExporter()
        let client = RedisClient(url: try RedisURL(try TestRedis.url()))
        let limiter = RateLimiter(client: client, metrics: LimitMetrics(factory: exporter.factory, queue: "q")), name = try Self.uniqueName()
        let server = try await Self.okServer()
        defer { Task { await server.stop() } }
        try await limiter.set(name, try ModelLimit(requests: 100, totalTokens: 100_000))
        _ = try await Self.ask(Self.provider(server, name, limiter), maxTokens: 100)
        let text = String(decoding: exporter.render(), as: UTF8.self)
        let labels = "queue=\"q\",model=\"\(name)\""
        // "hello" is estimated at 6 tokens; 100 more for max_tokens; the reply used 10 + 5.
        #expect(sample(text, "orbiter_limit_tokens_total{\(labels),kind=\"reserved\"}") == 106, "\(text)")
        #expect(sample(text, "orbiter_limit_tokens_total{\(labels),kind=\"used\"}") == 15)
        #expect(sample(text, "orbiter_limit_tokens_total{\(labels),kind=\"refunded\"}") == 91)
        #expect(sample(text, "orbiter_limit_wait_seconds_count{\(labels)}") == 1)
        try await limiter.remove(name)
    }

    @Test("a limit for one key applies to calls with that key; others use the model's own limit")
    func perKeyLimit() async throws {
        let limiter = try Self.limiter(), model = try Self.uniqueName()
        let keyed = try LimitName(provider: "openai", model: model.model, key: "OPENAI_API_KEY")
        try await limiter.set(keyed, try ModelLimit(requests: 10))
        try await limiter.set(model, try ModelLimit(requests: 20))
        guard case .booked(let a) = try await limiter.reserve(keyed, input: 0, output: 1) else { Issue.record("not booked"); return }
        #expect(a.name == keyed)
        let other = try LimitName(provider: "openai", model: model.model, key: "OPENAI_API_KEY_B")
        guard case .booked(let b) = try await limiter.reserve(other, input: 0, output: 1) else { Issue.record("not booked"); return }
        #expect(b.name == model)
        try await limiter.remove(keyed)
        try await limiter.remove(model)
    }

    // MARK: Provider headers and 429s

    @Test("provider headers parse: OpenAI durations, Anthropic RFC 3339 resets, retry-after")
    func headerParsing() {
        let openAI = RateLimitHeaders(["x-ratelimit-remaining-requests": "7", "x-ratelimit-reset-requests": "6m0s",
                                       "x-ratelimit-remaining-tokens": "1200", "x-ratelimit-reset-tokens": "1.5s",
                                       "retry-after": "2"])
        #expect(openAI.remaining.contains(.init(dimension: "rpm", remaining: 7, resetMs: 360_000)))
        #expect(openAI.remaining.contains(.init(dimension: "tpm", remaining: 1200, resetMs: 1500)))
        #expect(openAI.retryAfterMs == 2000)
        let now = Date(timeIntervalSince1970: 1_700_000_000)
        let anthropic = RateLimitHeaders(["anthropic-ratelimit-input-tokens-remaining": "3000",
                                          "anthropic-ratelimit-input-tokens-reset": "2023-11-14T22:13:25Z",
                                          "anthropic-ratelimit-output-tokens-remaining": "0",
                                          "retry-after-ms": "250"], now: now)
        #expect(anthropic.remaining.contains(.init(dimension: "itpm", remaining: 3000, resetMs: 5000)))
        #expect(anthropic.remaining.contains(.init(dimension: "otpm", remaining: 0, resetMs: nil)))
        #expect(anthropic.retryAfterMs == 250)
        // Garbage is ignored, not trusted.
        let bad = RateLimitHeaders(["x-ratelimit-remaining-requests": "-3", "x-ratelimit-remaining-tokens": "lots",
                                    "x-ratelimit-reset-requests": "soon", "retry-after": "nan"])
        #expect(bad.remaining.isEmpty && bad.retryAfterMs == nil)
        #expect(RateLimitHeaders.durationMs("20ms") == 20 && RateLimitHeaders.durationMs("1h2m3s") == 3_723_000)
        #expect(RateLimitHeaders.durationMs("12") == nil && RateLimitHeaders.durationMs("") == nil)
    }

    @Test("what the provider says is left tightens the buckets, and never loosens them")
    func recalibration() async throws {
        let limiter = try Self.limiter(), name = try Self.uniqueName()
        try await limiter.set(name, try ModelLimit(requests: 100, totalTokens: 100_000))
        // The provider has 95 requests left: looser than ours (nothing used here): no change.
        try await limiter.recalibrate(name, from: RateLimitHeaders(["x-ratelimit-remaining-requests": "95"]))
        #expect(try await Self.status(limiter, name).inUse["rpm"] == 0)
        // Only 10 left (other clients of the same key): room for 10 more here, not 90.
        try await limiter.recalibrate(name, from: RateLimitHeaders(["x-ratelimit-remaining-requests": "10",
                                                                    "x-ratelimit-remaining-tokens": "100000"]))
        let status = try await Self.status(limiter, name)
        #expect(status.inUse["rpm"] == 80 && status.inUse["tpm"] == 0, "\(status.inUse)")
        var booked = 0
        while case .booked = try await limiter.reserve(name, input: 0, output: 1, maxWaitMs: 0) { booked += 1 }
        #expect(booked == 10)
        // A later, looser report does not hand the room back.
        try await limiter.recalibrate(name, from: RateLimitHeaders(["x-ratelimit-remaining-requests": "99"]))
        #expect(try await Self.status(limiter, name).inUse["rpm"] == 90)
        try await limiter.remove(name)
    }

    @Test("a 429 pushes the model's next free time for every worker; the provider's retry is booked again")
    func tooManyRequestsHoldsBackTheFleet() async throws {
        let workerA = try Self.limiter(), workerB = try Self.limiter(), name = try Self.uniqueName()
        try await workerA.set(name, try ModelLimit(requests: 1000, totalTokens: 1_000_000))
        let refusal = #"{"error":{"message":"Rate limit reached for gpt-fake in organization org-test on requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in 1s.","type":"requests","param":null,"code":"rate_limit_exceeded"}}"#
        let server = try await Self.okServer(first: [.text(refusal, status: 429, headers: [("retry-after", "1")])])
        defer { Task { await server.stop() } }
        let provider = Self.provider(server, name, workerA, attempts: 2)
        async let answered = Self.ask(provider)
        try await eventually("the 429 to be recorded") { try await Self.status(workerB, name).rejections == 1 }
        // Worker B, its own connection, books after the 429: its call starts no sooner than A's retry.
        guard case .booked(let b) = try await workerB.reserve(name, input: 1, output: 1) else { Issue.record("not booked"); return }
        #expect(b.waitMs >= 600 && b.waitMs <= 1100, "B waits \(b.waitMs) ms")
        #expect(try await answered.contains(.text("ok")))
        #expect(server.requests.count == 2)
        // B's booking starts at the pushed time, A's retry was booked after it: two calls' worth
        // (one every 60 ms at 1,000 a minute) past that time; without the retry's booking, one.
        let fields = try await workerB.client.send(["HMGET", LimitKeys.limit(name), "tat_rpm", "blocked_until"]).array ?? []
        let tat = try #require(fields.first?.string.flatMap(Double.init)), blocked = try #require(fields.last?.string.flatMap(Double.init))
        #expect(tat - blocked >= 110, "tat \(tat), blocked until \(blocked)")
        try await workerA.remove(name)
    }

    // MARK: Events

    @Test("a call that waits a second or more reports status rate_limited with the wait, in detailed runs")
    func rateLimitedEvent() async throws {
        try await Self.withLimit(try ModelLimit(requests: 1000)) { limiter, name, server in
            try await limiter.penalize(name, retryAfterMs: 1500)
            let registry = ProviderRegistry()
            let url = server.url("/v1")
            registry.register("openai") { model, settings in
                OpenAICompatibleProvider(name: "openai", model: model, baseURL: url, apiKey: "sk-test")
            }
            let limited = RateLimitSettings().applied(to: registry, client: limiter.client)
            let events = Mutex<[StreamEvent]>([])
            let started = ContinuousClock.now
            let result = try await Run(providers: limited).execute(.agent(Agent(name: "waiter", model: "openai:" + name.model)),
                                                                   input: "hi", detailed: true) { e in events.withLock { $0.append(e) } }
            #expect(result.output == "ok")
            #expect(ContinuousClock.now - started >= .milliseconds(1300))
            let waits = events.withLock { $0 }.compactMap { e -> StatusEvent? in
                if case .status(let s) = e, s.status == .rateLimited { return s } else { return nil }
            }
            #expect(waits.count == 1)
            #expect((1000...1600).contains(waits.first?.waitMs ?? 0), "\(waits)")
            #expect(waits.first?.agentName == "waiter")
            #expect(waits.first?.message.contains(name.description) == true)
            let json = StreamEvent.status(try #require(waits.first)).json
            #expect(json["status"] == "rate_limited" && json["wait_ms"]?.intValue == waits.first?.waitMs)
            #expect(try StreamEvent(json: json) == .status(try #require(waits.first)))
        }
    }

    // MARK: Hostile values and a missing Redis

    @Test("a limit field that is not a number fails the call naming the field; nothing is sent")
    func corruptLimitField() async throws {
        try await Self.withLimit(try ModelLimit(requests: 10)) { limiter, name, server in
            for value in ["abc", "-5", "0", "nan", "inf", "1e400"] {
                _ = try await limiter.client.send(["HSET", LimitKeys.limit(name), "rpm", value])
                let error = await #expect(throws: ModelError.self) { try await Self.ask(Self.provider(server, name, limiter)) }
                #expect(error?.message.contains("field rpm holds") == true, "\(String(describing: error))")
                #expect(error?.retryable == false)
            }
            #expect(server.requests.isEmpty)
            // `limits list` shows it broken rather than failing.
            #expect(try await Self.status(limiter, name).limit == nil)
            // A key of another type where the hash should be: refused the same way.
            _ = try await limiter.client.send(["DEL", LimitKeys.limit(name)])
            _ = try await limiter.client.send(["SET", LimitKeys.limit(name), "rpm=10"])
            let wrongType = await #expect(throws: ModelError.self) { try await Self.ask(Self.provider(server, name, limiter)) }
            #expect(wrongType?.retryable == false && wrongType?.message.contains("WRONGTYPE") == true, "\(String(describing: wrongType))")
            #expect(server.requests.isEmpty)
        }
    }

    @Test("corrupt or far-off times in the hash never make a call wait forever")
    func hostileTimes() async throws {
        try await Self.withLimit(try ModelLimit(requests: 10), maxWait: .seconds(2)) { limiter, name, server in
            let key = LimitKeys.limit(name)
            // Not numbers, or absurd: read as "now"; the call goes through at once.
            _ = try await limiter.client.send(["HSET", key, "tat_rpm", "nan", "blocked_until", "1e300"])
            var started = ContinuousClock.now
            #expect(try await Self.ask(Self.provider(server, name, limiter)).contains(.text("ok")))
            #expect(ContinuousClock.now - started < .seconds(1))
            _ = try await limiter.client.send(["HSET", key, "tat_rpm", "not a time", "blocked_until", "-1e300"])
            #expect(try await Self.ask(Self.provider(server, name, limiter)).contains(.text("ok")))
            // Plausible but 30 minutes off: longer than this process waits: a retryable error at once.
            let time = try await limiter.client.send(["TIME"]).array ?? []
            let nowMs = Double(time[0].int ?? 0) * 1000
            _ = try await limiter.client.send(["HSET", key, "blocked_until", String(nowMs + 1_800_000)])
            started = ContinuousClock.now
            let error = await #expect(throws: ModelError.self) { try await Self.ask(Self.provider(server, name, limiter)) }
            #expect(error?.retryable == true && error?.message.contains("more than the 2.0 s a call waits") == true, "\(String(describing: error))")
            #expect(ContinuousClock.now - started < .seconds(1))
            #expect(server.requests.count == 2)
        }
    }

    @Test("cancelling a call while it waits ends it at once and gives its booking back")
    func cancelWhileWaiting() async throws {
        try await Self.withLimit(try ModelLimit(totalTokens: 1000, periodMs: 600_000), maxWait: .seconds(600)) { limiter, name, server in
            // 1,000 tokens per 10 minutes (one every 600 ms): 800 booked leaves too little for a call of 500.
            _ = try await limiter.reserve(name, input: 400, output: 400)
            let call = Task { try await Self.ask(Self.provider(server, name, limiter), maxTokens: 500) }
            try await eventually("the booking") { try await Self.status(limiter, name).inUse["tpm"] ?? 0 > 1000 - 1 }
            let started = ContinuousClock.now
            call.cancel()
            await #expect(throws: CancellationError.self) { try await call.value }
            #expect(ContinuousClock.now - started < .seconds(1))
            #expect(server.requests.isEmpty)
            try await eventually("the refund") { (798...800).contains(try await Self.status(limiter, name).inUse["tpm"] ?? 0) }
        }
    }

    @Test("Redis gone while booking: a retryable error saying the call was not sent, within about a second")
    func redisGone() async throws {
        let port = try freePort()
        let limiter = RateLimiter(client: RedisClient(url: try RedisURL("redis://127.0.0.1:\(port)")))
        let server = try await Self.okServer()
        defer { Task { await server.stop() } }
        let started = ContinuousClock.now
        let error = await #expect(throws: ModelError.self) {
            try await Self.ask(Self.provider(server, try Self.uniqueName(), limiter))
        }
        #expect(error?.retryable == true)
        #expect(error?.message.contains("rate limiter unavailable") == true && error?.message.contains("the call was not sent") == true,
                "\(String(describing: error))")
        #expect(ContinuousClock.now - started < .seconds(3))
        #expect(server.requests.isEmpty)
    }
}
