import Foundation
@testable import OrbiterQueue
import Testing

/// The cron parser and next-tick computation, as pure functions (UTC).
@Suite("Cron expressions")
struct CronExpressionTests {
    /// Seconds since 1970 of a UTC time.
    func t(_ text: String) -> Int64 {
        let f = ISO8601DateFormatter()
        return Int64(f.date(from: text)!.timeIntervalSince1970)
    }

    func iso(_ s: Int64?) -> String? {
        s.map { ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double($0))) }
    }

    /// The first `count` ticks after `start`.
    func ticks(_ expression: String, after start: String, _ count: Int) throws -> [String] {
        let cron = try CronExpression(expression)
        var out: [String] = []
        var at = t(start)
        for _ in 0..<count {
            guard let next = cron.next(afterSecond: at) else { break }
            out.append(iso(next)!)
            at = next
        }
        return out
    }

    @Test("steps, ranges and lists")
    func stepsRangesAndLists() throws {
        #expect(try ticks("*/5 * * * *", after: "2025-03-01T10:03:20Z", 3)
                == ["2025-03-01T10:05:00Z", "2025-03-01T10:10:00Z", "2025-03-01T10:15:00Z"])
        #expect(try ticks("0 9-11 * * *", after: "2025-03-01T10:00:00Z", 3)
                == ["2025-03-01T11:00:00Z", "2025-03-02T09:00:00Z", "2025-03-02T10:00:00Z"])
        #expect(try ticks("15,45 8 * * *", after: "2025-03-01T08:20:00Z", 3)
                == ["2025-03-01T08:45:00Z", "2025-03-02T08:15:00Z", "2025-03-02T08:45:00Z"])
        #expect(try ticks("10-30/10 * * * *", after: "2025-03-01T08:30:00Z", 2) == ["2025-03-01T09:10:00Z", "2025-03-01T09:20:00Z"])
        #expect(try ticks("50/5 0 * * *", after: "2025-03-01T00:00:00Z", 3)
                == ["2025-03-01T00:50:00Z", "2025-03-01T00:55:00Z", "2025-03-02T00:50:00Z"])
        // Strictly after: a time that is itself a tick gives the next one.
        #expect(try ticks("0 * * * *", after: "2025-03-01T10:00:00Z", 1) == ["2025-03-01T11:00:00Z"])
    }

    @Test("month and weekday names, Sunday as 0 or 7, macros")
    func namesAndMacros() throws {
        // 2025-03-01 is a Saturday.
        #expect(try ticks("0 9 * * MON-FRI", after: "2025-03-01T00:00:00Z", 2) == ["2025-03-03T09:00:00Z", "2025-03-04T09:00:00Z"])
        #expect(try ticks("0 0 * * 7", after: "2025-03-01T00:00:00Z", 1) == ["2025-03-02T00:00:00Z"])
        #expect(try ticks("0 0 * * sun", after: "2025-03-01T00:00:00Z", 1) == ["2025-03-02T00:00:00Z"])
        #expect(try ticks("0 0 1 jan,Jul *", after: "2025-03-01T00:00:00Z", 2) == ["2025-07-01T00:00:00Z", "2026-01-01T00:00:00Z"])
        #expect(try ticks("@daily", after: "2025-03-01T05:00:00Z", 1) == ["2025-03-02T00:00:00Z"])
        #expect(try ticks("@hourly", after: "2025-03-01T05:00:00Z", 1) == ["2025-03-01T06:00:00Z"])
        #expect(try ticks("@weekly", after: "2025-03-01T05:00:00Z", 1) == ["2025-03-02T00:00:00Z"])
    }

    @Test("day-of-month and day-of-week: either matches when both are restricted")
    func dayOrRule() throws {
        // The 13th, or any Friday (2025-03-07 and -14 are Fridays).
        #expect(try ticks("0 0 13 * FRI", after: "2025-03-01T00:00:00Z", 3)
                == ["2025-03-07T00:00:00Z", "2025-03-13T00:00:00Z", "2025-03-14T00:00:00Z"])
        // With '*' in one of them only the other counts.
        #expect(try ticks("0 0 13 * *", after: "2025-03-01T00:00:00Z", 2) == ["2025-03-13T00:00:00Z", "2025-04-13T00:00:00Z"])
        #expect(try ticks("0 0 * * FRI", after: "2025-03-01T00:00:00Z", 2) == ["2025-03-07T00:00:00Z", "2025-03-14T00:00:00Z"])
        // '*/2' starts with '*', so it does not turn the OR rule on: odd days that are also Mondays.
        #expect(try ticks("0 0 */2 * MON", after: "2025-03-01T00:00:00Z", 2) == ["2025-03-03T00:00:00Z", "2025-03-17T00:00:00Z"])
    }

    @Test("leap days, month ends, year ends and seconds")
    func calendarEdges() throws {
        #expect(try ticks("0 0 29 2 *", after: "2025-01-01T00:00:00Z", 2) == ["2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"])
        #expect(try ticks("0 0 31 * *", after: "2025-04-01T00:00:00Z", 2) == ["2025-05-31T00:00:00Z", "2025-07-31T00:00:00Z"])
        #expect(try ticks("59 23 31 12 *", after: "2025-12-31T23:59:00Z", 1) == ["2026-12-31T23:59:00Z"])
        #expect(try ticks("*/20 * * * * *", after: "2025-03-01T10:00:05Z", 3)
                == ["2025-03-01T10:00:20Z", "2025-03-01T10:00:40Z", "2025-03-01T10:01:00Z"])
        // Before 1970 too.
        #expect(try ticks("0 12 * * *", after: "1969-12-31T13:00:00Z", 1) == ["1970-01-01T12:00:00Z"])
        // Never: February 30th.
        #expect(try CronExpression("0 0 30 2 *").next(afterSecond: t("2025-01-01T00:00:00Z")) == nil)
    }

    @Test("invalid expressions are refused naming the field")
    func invalidExpressions() {
        let cases: [(String, String)] = [
            ("* * * *", "expected 5 fields"),
            ("* * * * * * *", "got 7"),
            ("60 * * * *", "minute \"60\": 60 is out of range 0-59"),
            ("* 24 * * *", "hour \"24\": 24 is out of range 0-23"),
            ("* * 0 * *", "day-of-month \"0\": 0 is out of range 1-31"),
            ("* * * 13 *", "month \"13\": 13 is out of range 1-12"),
            ("* * * * 8", "day-of-week \"8\": 8 is out of range 0-7"),
            ("* * * FOO *", "month \"FOO\": 'FOO' is not a number or a name (JAN-DEC)"),
            ("* * * * funday", "day-of-week \"funday\""),
            ("*/0 * * * *", "minute \"*/0\": step '0' must be a whole number of at least 1"),
            ("*/x * * * *", "step 'x'"),
            ("5-2 * * * *", "range 5-2 goes backwards"),
            ("1,,2 * * * *", "an empty list item"),
            ("1/2/3 * * * *", "more than one '/'"),
            ("-5 * * * *", "minute \"-5\""),
            ("@fortnightly", "unknown macro"),
            ("", "expected 5 fields"),
        ]
        for (expression, message) in cases {
            #expect {
                _ = try CronExpression(expression)
            } throws: { error in
                "\(error)".contains(message) && "\(error)".contains("cron \"\(expression)\"")
            }
        }
    }

    @Test("--every periods: units, alignment, bounds")
    func everyPeriods() throws {
        #expect(try ScheduleTiming.parseEvery("30s") == .every(seconds: 30))
        #expect(try ScheduleTiming.parseEvery("5m") == .every(seconds: 300))
        #expect(try ScheduleTiming.parseEvery("2h") == .every(seconds: 7200))
        #expect(try ScheduleTiming.parseEvery("1d") == .every(seconds: 86_400))
        #expect(try ScheduleTiming.parseEvery("45") == .every(seconds: 45))
        #expect(try ScheduleTiming.parseEvery("1h").next(afterSecond: t("2025-03-01T10:20:00Z")) == t("2025-03-01T11:00:00Z"))
        #expect(try ScheduleTiming.parseEvery("1s").next(afterSecond: 100) == 101)
        for bad in ["0s", "-5s", "500ms", "1.5s", "soon", "", "367d", "99999999999999999999"] {
            #expect(throws: DistributedError.self) { _ = try ScheduleTiming.parseEvery(bad) }
        }
        // The stored form reads back, and garbage is refused naming what it is.
        let timings: [ScheduleTiming] = [.every(seconds: 60), .cron(try CronExpression("*/5 * * * *"))]
        for timing in timings { #expect(try ScheduleTiming(stored: timing.stored) == timing) }
        #expect(throws: DistributedError.self) { _ = try ScheduleTiming(stored: "every:0") }
        #expect(throws: DistributedError.self) { _ = try ScheduleTiming(stored: "hourly") }
    }
}
