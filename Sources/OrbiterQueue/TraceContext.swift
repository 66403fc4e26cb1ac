import Foundation
import OrbiterCore

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
    /// Works on the UTF-8 bytes: a worker parses one per task, and Foundation's trimming and
    /// case mapping cost more than the rest of the task's bookkeeping.
    public init?(traceparent: String) {
        var bytes = Array(traceparent.utf8)
        while let last = bytes.last, last == 0x20 || last == 0x09 { bytes.removeLast() }
        let lead = bytes.prefix { $0 == 0x20 || $0 == 0x09 }.count
        var parts: [[UInt8]] = [[]]
        for byte in bytes[lead...] {
            if byte == UInt8(ascii: "-") { parts.append([]); continue }
            // Lowercase A–F; anything else that is not a hex digit fails the checks below.
            parts[parts.count - 1].append((0x41...0x46).contains(byte) ? byte | 0x20 : byte)
        }
        func valid(_ part: [UInt8], count: Int, nonZero: Bool) -> Bool {
            part.count == count && part.allSatisfy(Self.isHexDigit) && (!nonZero || part.contains { $0 != UInt8(ascii: "0") })
        }
        guard parts.count >= 4, valid(parts[0], count: 2, nonZero: false), parts[0] != Array("ff".utf8),
              valid(parts[1], count: 32, nonZero: true), valid(parts[2], count: 16, nonZero: true),
              valid(parts[3], count: 2, nonZero: false) else { return nil }
        if parts[0] == Array("00".utf8) && parts.count != 4 { return nil }
        traceID = String(decoding: parts[1], as: UTF8.self)
        spanID = String(decoding: parts[2], as: UTF8.self)
        flags = String(decoding: parts[3], as: UTF8.self)
    }

    package init(traceID: String, spanID: String, flags: String) {
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

    private static func isHexDigit(_ byte: UInt8) -> Bool {
        (0x30...0x39).contains(byte) || (0x61...0x66).contains(byte)
    }

    /// Random lowercase hex, never all zeros (W3C forbids an all-zero id).
    private static func randomHex(bytes: Int) -> String {
        while true {
            let random = RandomBytes.take(bytes)
            if random.contains(where: { $0 != 0 }) { return random.hexString }
        }
    }
}
