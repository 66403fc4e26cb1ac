import Foundation

/// A W3C trace context (`traceparent`), carried in a task's metadata so a task's logs can be
/// joined with the trace of the code that submitted it.
public struct TraceContext: Sendable, Hashable, CustomStringConvertible {
    /// 32 lowercase hex digits, not all zero.
    public var traceID: String
    /// 16 lowercase hex digits, not all zero: the span this context points at as the parent.
    public var spanID: String
    /// Trace flags, two hex digits (`01` = sampled).
    public var flags: String

    /// The caller's current trace, if it set one with `TraceContext.$current.withValue(...)`;
    /// `distributed()` continues it instead of starting a new trace.
    @TaskLocal public static var current: TraceContext?

    /// Parses a `traceparent` header value (version 00 form); `nil` when it is not valid.
    public init?(traceparent: String) {
        let parts = traceparent.trimmingCharacters(in: .whitespaces).lowercased().split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count >= 4, parts[0].count == 2, parts[0] != "ff", Self.isHex(parts[0]),
              parts[1].count == 32, Self.isHex(parts[1]), parts[1] != String(repeating: "0", count: 32),
              parts[2].count == 16, Self.isHex(parts[2]), parts[2] != String(repeating: "0", count: 16),
              parts[3].count == 2, Self.isHex(parts[3]) else { return nil }
        if parts[0] == "00" && parts.count != 4 { return nil }
        traceID = String(parts[1])
        spanID = String(parts[2])
        flags = String(parts[3])
    }

    init(traceID: String, spanID: String, flags: String) {
        self.traceID = traceID
        self.spanID = spanID
        self.flags = flags
    }

    /// A new trace: random 16-byte trace id, random 8-byte span id, sampled.
    public static func generate() -> TraceContext {
        TraceContext(traceID: randomHex(bytes: 16), spanID: randomHex(bytes: 8), flags: "01")
    }

    /// The same trace with a new span id: what a hop (a submitted task) carries on.
    public func child() -> TraceContext {
        TraceContext(traceID: traceID, spanID: Self.randomHex(bytes: 8), flags: flags)
    }

    /// The `traceparent` header value.
    public var traceparent: String { "00-\(traceID)-\(spanID)-\(flags)" }
    public var description: String { traceparent }

    /// The metadata key `distributed()` stores the context under.
    public static let metadataKey = "traceparent"

    private static func isHex(_ s: Substring) -> Bool { s.allSatisfy { $0.isHexDigit } }

    private static func randomHex(bytes: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        while true {
            let hex = (0..<bytes).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
            if hex.contains(where: { $0 != "0" }) { return hex }
        }
    }
}
