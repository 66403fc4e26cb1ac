import Foundation
import OrbiterCore
import Synchronization

/// An OpenAI-compatible chat server that enforces its own request and token limits the way the
/// provider does, over real HTTP (a `TestHTTPServer` route), and records every request.
///
/// Two token buckets (capacity = the limit, refilled continuously over `period`): one request
/// each, and tokens = the prompt (UTF-8 bytes of the messages' contents / 4, rounded up) plus
/// `max_tokens`, charged when the request arrives; the part of `max_tokens` the reply did not
/// use is given back when it is answered (Anthropic's OTPM works this way). A request that does
/// not fit gets OpenAI's 429: `{"error": {"message": "Rate limit reached for … on requests per
/// min (RPM): Limit …", "type": "requests", "code": "rate_limit_exceeded"}}`, `retry-after` in
/// seconds and the `x-ratelimit-{limit,remaining,reset}-{requests,tokens}` headers, which every
/// reply carries (reset as OpenAI writes it: `20ms`, `1.5s`).
public final class RateLimitedOpenAIServer: Sendable {
    public struct Limits: Sendable {
        public var requests: Int
        public var tokens: Int
        public var period: Duration
        public init(requests: Int, tokens: Int, period: Duration) {
            self.requests = requests
            self.tokens = tokens
            self.period = period
        }
    }

    /// One request as the server judged it.
    public struct Record: Sendable {
        public var at: ContinuousClock.Instant
        public var status: Int
        public var prompt: Int
        public var maxTokens: Int
    }

    private struct Bucket {
        var level: Double
        let capacity: Double
        let perSecond: Double
        var updated: ContinuousClock.Instant

        mutating func refill(_ now: ContinuousClock.Instant) {
            level = min(capacity, level + (now - updated).inSeconds * perSecond)
            updated = now
        }
        func secondsUntil(_ amount: Double) -> Double { max(0, (amount - level) / perSecond) }
        var secondsUntilFull: Double { max(0, (capacity - level) / perSecond) }
    }

    private struct State {
        var requests: Bucket
        var tokens: Bucket
        var records: [Record] = []
    }

    public let http: TestHTTPServer
    public let limits: Limits
    private let state: Mutex<State>
    /// Completion tokens each reply reports.
    public let replyTokens: Int

    /// `http://127.0.0.1:PORT/v1`, the base URL to give the provider.
    public var baseURL: String { http.url("/v1") }

    public static func start(limits: Limits, replyTokens: Int = 5) async throws -> RateLimitedOpenAIServer {
        let http = try await TestHTTPServer.start()
        let server = RateLimitedOpenAIServer(http: http, limits: limits, replyTokens: replyTokens)
        http.route("/v1/chat/completions", .dynamic { [server] request in server.answer(request) })
        return server
    }

    private init(http: TestHTTPServer, limits: Limits, replyTokens: Int) {
        self.http = http
        self.limits = limits
        self.replyTokens = replyTokens
        let now = ContinuousClock.now, seconds = limits.period.inSeconds
        state = Mutex(State(
            requests: Bucket(level: Double(limits.requests), capacity: Double(limits.requests),
                             perSecond: Double(limits.requests) / seconds, updated: now),
            tokens: Bucket(level: Double(limits.tokens), capacity: Double(limits.tokens),
                           perSecond: Double(limits.tokens) / seconds, updated: now)))
    }

    public func stop() async { await http.stop() }

    /// Every request so far, in arrival order.
    public var records: [Record] { state.withLock { $0.records } }

    private func answer(_ request: TestHTTPServer.Request) -> TestHTTPServer.Route {
        let body = (try? JSONValue.parse(request.bodyText)) ?? .null
        var bytes = 0
        for message in body["messages"]?.arrayValue ?? [] { bytes += message["content"]?.stringValue?.utf8.count ?? 0 }
        let prompt = (bytes + 3) / 4
        let maxTokens = body["max_tokens"]?.intValue ?? body["max_completion_tokens"]?.intValue ?? 0
        let charge = Double(prompt + maxTokens)
        return state.withLock { s -> TestHTTPServer.Route in
            let now = ContinuousClock.now
            s.requests.refill(now)
            s.tokens.refill(now)
            if s.requests.level < 1 || s.tokens.level < charge {
                s.records.append(Record(at: now, status: 429, prompt: prompt, maxTokens: maxTokens))
                let byRequests = s.requests.level < 1
                let wait = max(s.requests.secondsUntil(1), s.tokens.secondsUntil(charge))
                let message = byRequests
                    ? "Rate limit reached for gpt-fake in organization org-test on requests per min (RPM): Limit \(limits.requests), Used \(limits.requests), Requested 1. Please try again in \(Self.duration(wait))."
                    : "Rate limit reached for gpt-fake in organization org-test on tokens per min (TPM): Limit \(limits.tokens), Used \(limits.tokens - Int(s.tokens.level)), Requested \(Int(charge)). Please try again in \(Self.duration(wait))."
                let error: JSONValue = ["error": ["message": .string(message), "type": byRequests ? "requests" : "tokens",
                                                  "param": .null, "code": "rate_limit_exceeded"]]
                return .text(error.jsonString, status: 429,
                             headers: [("retry-after", String(Int(wait.rounded(.up))))] + headers(s))
            }
            s.requests.level -= 1
            s.tokens.level -= charge
            // The reply is written at once: the unused part of max_tokens comes back now.
            let completion = min(replyTokens, maxTokens == 0 ? replyTokens : maxTokens)
            s.tokens.level = min(s.tokens.capacity, s.tokens.level + Double(max(0, maxTokens - completion)))
            s.records.append(Record(at: now, status: 200, prompt: prompt, maxTokens: maxTokens))
            let chunks: [JSONValue] = [
                ["id": "chatcmpl-fake", "object": "chat.completion.chunk", "model": "gpt-fake",
                 "choices": [["index": 0, "delta": ["content": "ok"], "finish_reason": .null]]],
                ["id": "chatcmpl-fake", "object": "chat.completion.chunk", "model": "gpt-fake",
                 "choices": [["index": 0, "delta": [:], "finish_reason": "stop"]]],
                ["id": "chatcmpl-fake", "object": "chat.completion.chunk", "model": "gpt-fake", "choices": [],
                 "usage": ["prompt_tokens": .int(prompt), "completion_tokens": .int(completion), "total_tokens": .int(prompt + completion)]],
            ]
            let sse = chunks.map { "data: \($0.jsonString)\n\n" }.joined() + "data: [DONE]\n\n"
            return .text(sse, headers: headers(s))
        }
    }

    private func headers(_ s: State) -> [(String, String)] {
        [("x-ratelimit-limit-requests", String(limits.requests)),
         ("x-ratelimit-remaining-requests", String(Int(s.requests.level))),
         ("x-ratelimit-reset-requests", Self.duration(s.requests.secondsUntilFull)),
         ("x-ratelimit-limit-tokens", String(limits.tokens)),
         ("x-ratelimit-remaining-tokens", String(Int(s.tokens.level))),
         ("x-ratelimit-reset-tokens", Self.duration(s.tokens.secondsUntilFull))]
    }

    /// OpenAI's way: `20ms` under a second, else `1.5s`.
    static func duration(_ seconds: Double) -> String {
        seconds < 1 ? "\(Int((seconds * 1000).rounded(.up)))ms" : String(format: "%.1fs", seconds)
    }
}
