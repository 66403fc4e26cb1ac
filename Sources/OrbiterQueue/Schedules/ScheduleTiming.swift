import Foundation

/// When a schedule's ticks fall: a cron expression, or a fixed period aligned to whole multiples
/// of it since 1970 (so `--every 1h` ticks on the hour, and every worker computes the same ticks).
public enum ScheduleTiming: Sendable, Hashable, CustomStringConvertible {
    case cron(CronExpression)
    /// Whole seconds, at least 1.
    case every(seconds: Int64)

    /// The longest period `every` accepts: a year.
    public static let maxEverySeconds: Int64 = 366 * 86_400

    /// Parses `--every`: a whole number of seconds, or a number with a unit `s`, `m`, `h`, `d`
    /// (`30s`, `5m`, `1h`). Throws `invalidArgument` naming the flag.
    public static func parseEvery(_ text: String) throws -> ScheduleTiming {
        let t = text.trimmingCharacters(in: .whitespaces).lowercased()
        let units: [(String, Int64)] = [("ms", 0), ("s", 1), ("m", 60), ("h", 3600), ("d", 86_400)]
        var number = t, unit: Int64 = 1
        for (suffix, size) in units where t.hasSuffix(suffix) {
            number = String(t.dropLast(suffix.count))
            unit = size
            break
        }
        guard unit > 0, let n = Int64(number), n >= 1, n <= maxEverySeconds / unit else {
            throw DistributedError.invalidArgument("--every '\(text)': give a whole number of seconds, minutes, hours or days (30s, 5m, 1h, 1d), from 1s to 366d")
        }
        return .every(seconds: n * unit)
    }

    /// The first tick strictly after `second` (seconds since 1970), or nil when none comes.
    public func next(afterSecond second: Int64) -> Int64? {
        switch self {
        case .cron(let expression): return expression.next(afterSecond: second)
        case .every(let period): return (CronExpression.floorDiv(second, period) + 1) * period
        }
    }

    /// `cron <expression>` or `every <n>s`, as `schedule list` shows it.
    public var description: String {
        switch self {
        case .cron(let e): return "cron \(e.text)"
        case .every(let s): return "every \(Self.duration(s))"
        }
    }

    static func duration(_ s: Int64) -> String {
        if s % 86_400 == 0 { return "\(s / 86_400)d" }
        if s % 3600 == 0 { return "\(s / 3600)h" }
        if s % 60 == 0 { return "\(s / 60)m" }
        return "\(s)s"
    }

    /// The stored form (`cron:<expression>` or `every:<seconds>`) and back.
    var stored: String {
        switch self {
        case .cron(let e): return "cron:" + e.text
        case .every(let s): return "every:\(s)"
        }
    }

    init(stored: String) throws {
        if stored.hasPrefix("cron:") {
            self = .cron(try CronExpression(String(stored.dropFirst(5))))
        } else if stored.hasPrefix("every:"), let s = Int64(stored.dropFirst(6)), s >= 1, s <= Self.maxEverySeconds {
            self = .every(seconds: s)
        } else {
            throw DistributedError.invalidArgument("timing '\(stored.prefix(80))' is neither cron:<expression> nor every:<seconds>")
        }
    }
}

/// What happens to ticks that passed while no worker ran (all workers down, Redis away).
public enum MisfirePolicy: String, Sendable, CaseIterable {
    /// Default: the missed ticks fire **once** together (one task, for the first missed tick), then
    /// the schedule continues from the next tick after now. No backlog.
    case once
    /// Missed ticks are dropped; only a tick whose successor is not yet due fires.
    case skip
    /// Every missed tick fires, one task each, oldest first (a backlog).
    case all
}
