import Foundation

/// A cron expression, evaluated in UTC: `minute hour day-of-month month day-of-week`, or six
/// fields with seconds first (`*/10 * * * * *`, for schedules finer than a minute).
///
/// Each field takes `*`, a number, a range `a-b`, a step `*/n`, `a-b/n` or `a/n` (from `a` to the
/// field's end), and comma-separated lists of those. Months and weekdays also take names (`JAN`,
/// `mon`); Sunday is 0 or 7. `?` is `*` in the day fields. When both day-of-month and day-of-week
/// are restricted (neither starts with `*`), a day matches when **either** does — the classic
/// cron rule (`0 0 1 * MON`: the 1st and every Monday). `@hourly`, `@daily` (`@midnight`),
/// `@weekly`, `@monthly`, `@yearly` (`@annually`) are accepted. Times are UTC: a schedule fires at
/// the same instants whatever the machine's time zone.
public struct CronExpression: Sendable, Hashable, CustomStringConvertible {
    /// The expression as written.
    public let text: String
    let seconds: UInt64
    let minutes: UInt64
    let hours: UInt64
    let days: UInt64
    let months: UInt64
    let weekdays: UInt64
    /// Day-of-month and day-of-week both restricted: a day matches when either does.
    let eitherDay: Bool
    let dayRestricted: Bool
    let weekdayRestricted: Bool

    public var description: String { text }

    /// A field of the expression and what it accepts.
    struct Field {
        let name: String
        let range: ClosedRange<Int>
        let names: [String: Int]
    }

    static let secondField = Field(name: "second", range: 0...59, names: [:])
    static let minuteField = Field(name: "minute", range: 0...59, names: [:])
    static let hourField = Field(name: "hour", range: 0...23, names: [:])
    static let dayField = Field(name: "day-of-month", range: 1...31, names: [:])
    static let monthField = Field(name: "month", range: 1...12, names: Dictionary(uniqueKeysWithValues:
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"].enumerated().map { ($1, $0 + 1) }))
    static let weekdayField = Field(name: "day-of-week", range: 0...7, names: Dictionary(uniqueKeysWithValues:
        ["sun", "mon", "tue", "wed", "thu", "fri", "sat"].enumerated().map { ($1, $0) }))

    static let macros = ["@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
                         "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *"]

    /// Parses `text`; an invalid expression throws `invalidArgument` naming the field and what is
    /// wrong with it (`cron "0 25 * * *": hour: 25 is out of range 0-23`).
    public init(_ text: String) throws {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let expanded = Self.macros[trimmed.lowercased()] ?? trimmed
        let parts = expanded.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        func fail(_ message: String) -> DistributedError { .invalidArgument("cron \"\(text)\": \(message)") }
        if trimmed.hasPrefix("@") && Self.macros[trimmed.lowercased()] == nil {
            throw fail("unknown macro \(trimmed) (use @hourly, @daily, @weekly, @monthly or @yearly)")
        }
        guard parts.count == 5 || parts.count == 6 else {
            throw fail("expected 5 fields (minute hour day-of-month month day-of-week) or 6 (with seconds first), got \(parts.count)")
        }
        let fields = parts.count == 6 ? parts : ["0"] + parts
        do {
            seconds = try Self.parse(fields[0], Self.secondField)
            minutes = try Self.parse(fields[1], Self.minuteField)
            hours = try Self.parse(fields[2], Self.hourField)
            days = try Self.parse(fields[3], Self.dayField, questionMark: true)
            months = try Self.parse(fields[4], Self.monthField)
            var weekdays = try Self.parse(fields[5], Self.weekdayField, questionMark: true)
            if weekdays & (1 << 7) != 0 { weekdays = (weekdays | 1) & ~(1 << 7) } // 7 is Sunday too
            self.weekdays = weekdays
        } catch let message as FieldError {
            throw fail(message.text)
        }
        dayRestricted = !(fields[3].hasPrefix("*") || fields[3] == "?")
        weekdayRestricted = !(fields[5].hasPrefix("*") || fields[5] == "?")
        eitherDay = dayRestricted && weekdayRestricted
        self.text = trimmed
    }

    private struct FieldError: Error { let text: String }

    /// The bit set of values a field allows.
    private static func parse(_ text: String, _ field: Field, questionMark: Bool = false) throws -> UInt64 {
        func fail(_ message: String) -> FieldError { FieldError(text: "\(field.name) \"\(text)\": \(message)") }
        if questionMark && text == "?" { return bits(field.range, step: 1) }
        var set: UInt64 = 0
        for item in text.split(separator: ",", omittingEmptySubsequences: false).map(String.init) {
            guard !item.isEmpty else { throw fail("an empty list item") }
            let stepParts = item.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
            guard stepParts.count <= 2 else { throw fail("'\(item)' has more than one '/'") }
            var step = 1
            if stepParts.count == 2 {
                guard let n = Int(stepParts[1]), n >= 1 else { throw fail("step '\(stepParts[1])' must be a whole number of at least 1") }
                guard n <= field.range.upperBound else { throw fail("step \(n) is larger than the field's range \(field.range.lowerBound)-\(field.range.upperBound)") }
                step = n
            }
            let base = stepParts[0]
            let range: ClosedRange<Int>
            if base == "*" {
                range = field.range
            } else if let dash = base.firstIndex(of: "-"), dash != base.startIndex {
                let low = try value(String(base[..<dash]), field, fail)
                let high = try value(String(base[base.index(after: dash)...]), field, fail)
                guard low <= high else { throw fail("range \(base) goes backwards (write the smaller value first)") }
                range = low...high
            } else {
                let start = try value(base, field, fail)
                range = stepParts.count == 2 ? start...field.range.upperBound : start...start
            }
            set |= bits(range, step: step)
        }
        return set
    }

    private static func value(_ text: String, _ field: Field, _ fail: (String) -> FieldError) throws -> Int {
        if let named = field.names[text.lowercased()] { return named }
        guard let n = Int(text) else {
            let hint = field.names.isEmpty ? "a number" : "a number or a name (\(field.name == "month" ? "JAN-DEC" : "SUN-SAT"))"
            throw fail("'\(text)' is not \(hint)")
        }
        guard field.range.contains(n) else { throw fail("\(n) is out of range \(field.range.lowerBound)-\(field.range.upperBound)") }
        return n
    }

    private static func bits(_ range: ClosedRange<Int>, step: Int) -> UInt64 {
        var set: UInt64 = 0
        for v in stride(from: range.lowerBound, through: range.upperBound, by: step) { set |= 1 << UInt64(v) }
        return set
    }

    private func has(_ set: UInt64, _ v: Int64) -> Bool { set & (1 << UInt64(v)) != 0 }

    /// How far ahead `next(after:)` looks before it decides the expression never fires (e.g. `0 0 30 2 *`).
    public static let horizonYears = 5

    /// The first instant strictly after `date` (whole seconds, UTC) the expression names; `nil`
    /// when there is none within `horizonYears` years.
    public func next(after date: Date) -> Date? {
        next(afterSecond: Int64(date.timeIntervalSince1970.rounded(.down))).map { Date(timeIntervalSince1970: Double($0)) }
    }

    /// `next(after:)` in seconds since 1970.
    func next(afterSecond start: Int64) -> Int64? {
        var t = start + 1
        let limit = start + Int64(Self.horizonYears) * 366 * 86_400
        while t <= limit {
            let day = Self.floorDiv(t, 86_400)
            let (y, m, d) = CivilDate.civil(fromDays: day)
            let secondOfDay = t - day * 86_400
            if !has(months, m) {
                t = CivilDate.days(year: m == 12 ? y + 1 : y, month: m == 12 ? 1 : m + 1, day: 1) * 86_400
                continue
            }
            if !dayMatches(day: d, weekday: Self.floorMod(day + 4, 7)) { t = (day + 1) * 86_400; continue }
            let h = secondOfDay / 3600, mi = (secondOfDay % 3600) / 60, s = secondOfDay % 60
            if !has(hours, h) { t = day * 86_400 + (h + 1) * 3600; continue }
            if !has(minutes, mi) { t = day * 86_400 + h * 3600 + (mi + 1) * 60; continue }
            if !has(seconds, s) { t += 1; continue }
            return t
        }
        return nil
    }

    private func dayMatches(day: Int64, weekday: Int64) -> Bool {
        if eitherDay { return has(days, day) || has(weekdays, weekday) }
        return has(days, day) && has(weekdays, weekday)
    }

    static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 { a >= 0 ? a / b : -((-a + b - 1) / b) }
    static func floorMod(_ a: Int64, _ b: Int64) -> Int64 { a - floorDiv(a, b) * b }
}

/// Proleptic Gregorian dates from day numbers (days since 1970-01-01) and back, without a
/// calendar object (H. Hinnant's algorithms).
enum CivilDate {
    static func civil(fromDays days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }

    static func days(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }
}
