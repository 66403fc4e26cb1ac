import Foundation

/// How far a queue write must have travelled before it counts as done: the write itself is the
/// same; what changes is the acknowledgement asked for right after it, on the same connection.
///
/// - `none`: Redis answered (in memory on the master). A failover or a restart without AOF can
///   lose it.
/// - `replica`: `WAIT 1 <timeout>`: at least one replica has received it. A failover to that
///   replica keeps it; a failover to a replica that had not received it yet (or the loss of the
///   master and every acknowledging replica together) still loses it.
/// - `aof`: `WAITAOF 1 0 <timeout>` (Redis 7.2+): the master has fsynced it to its AOF, so a
///   restart of the master keeps it; a failover to a replica does not need to (replicas 0).
public enum DurabilityLevel: String, Sendable, Hashable, CaseIterable {
    case none, replica, aof
}

/// A durability level with how long to wait for its acknowledgement.
public struct Durability: Sendable, Hashable, CustomStringConvertible {
    public var level: DurabilityLevel
    /// Milliseconds `WAIT`/`WAITAOF` may block (1...`maxTimeoutMs`).
    public var timeoutMs: Int

    /// The default: no acknowledgement is asked for.
    public static let none = Durability(level: .none, timeoutMs: defaultTimeoutMs)
    public static let defaultTimeoutMs = 1_000
    /// Below the shared connection's 30 s read timeout, so a wait never looks like a dead server.
    public static let maxTimeoutMs = 20_000

    public init(level: DurabilityLevel, timeoutMs: Int = Durability.defaultTimeoutMs) {
        self.level = level
        self.timeoutMs = timeoutMs
    }

    /// Reads a level (`none`, `replica`, `aof`) and an optional timeout (`200ms`, `2s`, or
    /// milliseconds), throwing an error that names `source` (a flag or variable) and what is accepted.
    public static func parse(level text: String, timeout: String?, source: String = "--durability",
                             timeoutSource: String = "--durability-timeout") throws -> Durability {
        let trimmed = text.trimmingCharacters(in: .whitespaces).lowercased()
        guard let level = DurabilityLevel(rawValue: trimmed) else {
            throw DistributedError.invalidArgument("\(source): '\(text.prefix(40))' is not a durability level; use none, replica or aof")
        }
        var durability = Durability(level: level)
        if let timeout { durability.timeoutMs = try parseTimeout(timeout, source: timeoutSource) }
        return durability
    }

    /// `200ms`, `2s` or a bare number of milliseconds, 1 ms to 20 s.
    static func parseTimeout(_ text: String, source: String) throws -> Int {
        let t = text.trimmingCharacters(in: .whitespaces).lowercased()
        let ms: Double?
        if t.hasSuffix("ms") { ms = Double(t.dropLast(2)) }
        else if t.hasSuffix("s") { ms = Double(t.dropLast()).map { $0 * 1000 } }
        else { ms = Double(t) }
        guard let ms, ms.isFinite, ms >= 1, ms <= Double(maxTimeoutMs) else {
            throw DistributedError.invalidArgument("\(source): '\(text.prefix(40))' is not a wait from 1ms to 20s; write e.g. 200ms or 2s")
        }
        return Int(ms.rounded())
    }

    /// `ORBITER_DURABILITY` and `ORBITER_DURABILITY_TIMEOUT`, else `none`.
    public static func fromEnvironment(_ env: [String: String] = ProcessInfo.processInfo.environment) throws -> Durability {
        let level = env["ORBITER_DURABILITY"].flatMap { $0.isEmpty ? nil : $0 } ?? "none"
        return try parse(level: level, timeout: env["ORBITER_DURABILITY_TIMEOUT"].flatMap { $0.isEmpty ? nil : $0 },
                         source: "ORBITER_DURABILITY", timeoutSource: "ORBITER_DURABILITY_TIMEOUT")
    }

    /// The command that asks for the acknowledgement, nil for `none`.
    var command: [String]? {
        switch level {
        case .none: return nil
        case .replica: return ["WAIT", "1", String(timeoutMs)]
        case .aof: return ["WAITAOF", "1", "0", String(timeoutMs)]
        }
    }

    public var description: String { level == .none ? "none" : "\(level.rawValue) (wait up to \(timeoutMs) ms)" }
}
