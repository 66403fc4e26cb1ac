import OrbiterCore

/// How much one model (or one model with one key) may be sent per period, fleet-wide.
///
/// Each dimension is optional; at least one must be set. `period` is a minute for real
/// providers (the `*pm` in the names); a shorter one scales a limit down for tests and demos
/// (`--period 1s --rpm 50` is 50 calls a second).
public struct ModelLimit: Sendable, Hashable {
    /// Calls per period.
    public var requests: Int?
    /// Input tokens per period.
    public var inputTokens: Int?
    /// Output tokens per period.
    public var outputTokens: Int?
    /// Input plus output tokens per period (OpenAI's TPM counts both).
    public var totalTokens: Int?
    /// The window the numbers are per, in milliseconds (default 60,000).
    public var periodMs: Int
    /// Output tokens booked for a call that sets no `max_tokens` (default 1,024); the settle
    /// after the call corrects it to what was used.
    public var outputEstimate: Int?

    public static let maxValue = 1_000_000_000_000
    public static let maxPeriodMs = 86_400_000

    /// Checks the numbers; the error names the flag (`--rpm`, …) that is wrong.
    public init(requests: Int? = nil, inputTokens: Int? = nil, outputTokens: Int? = nil, totalTokens: Int? = nil,
                periodMs: Int = 60_000, outputEstimate: Int? = nil) throws {
        for (flag, value) in [("--rpm", requests), ("--itpm", inputTokens), ("--otpm", outputTokens), ("--tpm", totalTokens),
                              ("--output-estimate", outputEstimate)] {
            if let value, !(1...Self.maxValue).contains(value) {
                throw OrbiterError.invalidConfiguration("\(flag) must be a whole number from 1 to \(Self.maxValue), not \(value)")
            }
        }
        guard (1...Self.maxPeriodMs).contains(periodMs) else {
            throw OrbiterError.invalidConfiguration("--period must be from 1 ms to 24 h, not \(periodMs) ms")
        }
        guard requests != nil || inputTokens != nil || outputTokens != nil || totalTokens != nil else {
            throw OrbiterError.invalidConfiguration("a limit needs at least one of --rpm, --itpm, --otpm, --tpm")
        }
        if totalTokens != nil && (inputTokens != nil || outputTokens != nil) {
            throw OrbiterError.invalidConfiguration(
                "--tpm (input and output counted together, as OpenAI does) cannot be combined with --itpm or --otpm (counted apart, as Anthropic does); give one or the other")
        }
        self.requests = requests
        self.inputTokens = inputTokens
        self.outputTokens = outputTokens
        self.totalTokens = totalTokens
        self.periodMs = periodMs
        self.outputEstimate = outputEstimate
    }

    /// `60s`, `1m`, `500ms`, `1h`, `1m30s` → milliseconds; nil when it does not parse.
    public static func periodMs(_ text: String) -> Int? { RateLimitHeaders.durationMs(text) }

    /// The hash fields `set.lua` writes (an empty value removes the field).
    var fields: [(String, String)] {
        [("rpm", requests), ("itpm", inputTokens), ("otpm", outputTokens), ("tpm", totalTokens),
         ("period_ms", periodMs), ("out_est", outputEstimate)].map { ($0.0, $0.1.map(String.init) ?? "") }
    }

    /// Reads a stored limit; nil when a field is not a valid number (the list shows it as broken).
    init?(fields: [String: String]) {
        func int(_ name: String) -> Int?? {
            guard let text = fields[name], !text.isEmpty else { return .some(nil) }
            guard let value = Double(text), value.isFinite, value >= 1, value <= Double(Self.maxValue) else { return nil }
            return .some(Int(value))
        }
        guard let rpm = int("rpm"), let itpm = int("itpm"), let otpm = int("otpm"), let tpm = int("tpm"),
              let period = int("period_ms"), let estimate = int("out_est"),
              let limit = try? ModelLimit(requests: rpm, inputTokens: itpm, outputTokens: otpm, totalTokens: tpm,
                                          periodMs: period ?? 60_000, outputEstimate: estimate) else { return nil }
        self = limit
    }

    /// The dimensions set, with their script names (`rpm`, `itpm`, `otpm`, `tpm`).
    public var dimensions: [(name: String, limit: Int)] {
        [("rpm", requests), ("itpm", inputTokens), ("otpm", outputTokens), ("tpm", totalTokens)].compactMap { name, value in
            value.map { (name, $0) }
        }
    }
}

/// A limit as `orbiter limits list` shows it: settings, what is in use now, when the next call may start.
public struct LimitStatus: Sendable {
    public var name: String
    /// Nil when a stored field is not a valid number (someone wrote the hash by hand).
    public var limit: ModelLimit?
    /// Units of each dimension booked within the current window (`rpm` → calls, …).
    public var inUse: [String: Int]
    /// Milliseconds until a one-call, zero-token reservation could start (0: now).
    public var nextFreeMs: Int
    /// 429s seen by the fleet for this model since the limit was set.
    public var rejections: Int

    /// `{"name", "rpm", …, "period_ms", "in_use": {…}, "next_free_ms", "rejections"}`.
    public var json: JSONValue {
        var object: [String: JSONValue] = ["name": .string(name), "next_free_ms": .int(nextFreeMs), "rejections": .int(rejections)]
        if let limit {
            for (dim, value) in limit.dimensions { object[dim] = .int(value) }
            object["period_ms"] = .int(limit.periodMs)
            if let e = limit.outputEstimate { object["output_estimate"] = .int(e) }
            object["in_use"] = .object(inUse.mapValues { .int($0) })
        } else {
            object["error"] = "a stored field is not a valid number; set the limit again"
        }
        return .object(object)
    }
}
