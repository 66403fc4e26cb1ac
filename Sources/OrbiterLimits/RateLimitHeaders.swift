import Foundation

/// What a provider's response head says about its rate limits, in the limiter's dimensions.
///
/// OpenAI: `x-ratelimit-remaining-{requests,tokens}` with `x-ratelimit-reset-{requests,tokens}`
/// as durations (`6m0s`, `1.5s`, `20ms`); its token limit counts input and output, so tokens map
/// to `tpm`. Anthropic: `anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-{remaining,reset}`
/// with resets as RFC 3339 times. `retry-after` (seconds; `retry-after-ms` too) on a 429.
public struct RateLimitHeaders: Sendable, Hashable {
    /// One dimension: units left now, and ms until the provider's window is full again (nil unknown).
    public struct Remaining: Sendable, Hashable {
        public var dimension: String
        public var remaining: Int
        public var resetMs: Int?
    }

    public var remaining: [Remaining] = []
    /// A 429's wait before the next call, in ms.
    public var retryAfterMs: Int?

    public init(_ headers: [String: String], now: Date = Date()) {
        let families: [(prefix: String, suffix: String, dimension: String, rfc3339: Bool)] = [
            ("x-ratelimit-remaining-requests", "x-ratelimit-reset-requests", "rpm", false),
            ("x-ratelimit-remaining-tokens", "x-ratelimit-reset-tokens", "tpm", false),
            ("anthropic-ratelimit-requests-remaining", "anthropic-ratelimit-requests-reset", "rpm", true),
            ("anthropic-ratelimit-tokens-remaining", "anthropic-ratelimit-tokens-reset", "tpm", true),
            ("anthropic-ratelimit-input-tokens-remaining", "anthropic-ratelimit-input-tokens-reset", "itpm", true),
            ("anthropic-ratelimit-output-tokens-remaining", "anthropic-ratelimit-output-tokens-reset", "otpm", true),
        ]
        for family in families {
            guard let text = headers[family.prefix], let value = Double(text.trimmingCharacters(in: .whitespaces)),
                  value.isFinite, value >= 0, value < 1e15 else { continue }
            let reset = headers[family.suffix].flatMap { family.rfc3339 ? Self.msUntil($0, now: now) : Self.durationMs($0) }
            remaining.append(Remaining(dimension: family.dimension, remaining: Int(value), resetMs: reset))
        }
        if let ms = headers["retry-after-ms"].flatMap({ Double($0.trimmingCharacters(in: .whitespaces)) }), ms.isFinite, ms >= 0 {
            retryAfterMs = Int(min(ms, 3_600_000))
        } else if let s = headers["retry-after"].flatMap({ Double($0.trimmingCharacters(in: .whitespaces)) }), s.isFinite, s >= 0 {
            retryAfterMs = Int(min(s * 1000, 3_600_000))
        }
    }

    /// `6m0s`, `1.5s`, `20ms`, `1h2m3s` → milliseconds; nil when it does not parse.
    static func durationMs(_ text: String) -> Int? {
        var total = 0.0, number = "", index = text.startIndex, sawUnit = false
        let units: [(String, Double)] = [("ms", 1), ("h", 3_600_000), ("m", 60_000), ("s", 1000)]
        while index < text.endIndex {
            let c = text[index]
            if c.isNumber || c == "." {
                number.append(c)
                index = text.index(after: index)
                continue
            }
            guard let value = Double(number),
                  let (unit, scale) = units.first(where: { text[index...].hasPrefix($0.0) }) else { return nil }
            total += value * scale
            number = ""
            sawUnit = true
            index = text.index(index, offsetBy: unit.count)
        }
        guard number.isEmpty, sawUnit, total.isFinite, total < 86_400_000 else { return nil }
        return Int(total)
    }

    /// An RFC 3339 time → milliseconds from `now` (0 when past).
    static func msUntil(_ text: String, now: Date) -> Int? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let date = formatter.date(from: text) ?? {
            formatter.formatOptions = [.withInternetDateTime]
            return formatter.date(from: text)
        }()
        guard let date else { return nil }
        return Int(max(0, min(date.timeIntervalSince(now) * 1000, 86_400_000)))
    }
}
