import Glibc
import XCTest
@testable import Schedule

/// Unix seconds of a UTC clock reading.
func utc(_ y: Int, _ mo: Int, _ d: Int, _ h: Int = 0, _ mi: Int = 0, _ s: Int = 0) -> Int64 {
    LocalTime(year: y, month: mo, day: d, hour: h, minute: mi, second: s).seconds
}

let berlin = try! ZoneRules(named: "Europe/Berlin")
let newYork = try! ZoneRules(named: "America/New_York")

final class CronExpressionTests: XCTestCase {
    func testFieldsNamesStepsRangesAndLists() throws {
        let c = try CronExpression("*/15 9-17 * JAN,jul mon-FRI")
        XCTAssertTrue(c.matches(LocalTime(year: 2026, month: 7, day: 1, hour: 9, minute: 45)))   // a Wednesday
        XCTAssertFalse(c.matches(LocalTime(year: 2026, month: 7, day: 1, hour: 9, minute: 50)))
        XCTAssertFalse(c.matches(LocalTime(year: 2026, month: 7, day: 1, hour: 18, minute: 0)))
        XCTAssertFalse(c.matches(LocalTime(year: 2026, month: 6, day: 1, hour: 9, minute: 0)))  // June
        XCTAssertFalse(c.matches(LocalTime(year: 2026, month: 7, day: 5, hour: 9, minute: 0)))  // Sunday
        let stepped = try CronExpression("5/20 1-10/3 * * 7")
        XCTAssertEqual((0..<60).filter { stepped.has(stepped.minutes, $0) }, [5, 25, 45])
        XCTAssertEqual((0..<24).filter { stepped.has(stepped.hours, $0) }, [1, 4, 7, 10])
        XCTAssertTrue(stepped.has(stepped.weekdays, 0), "7 is Sunday")
        XCTAssertEqual(try CronExpression("@hourly").next(after: utc(2026, 1, 1, 0, 10), in: .utc), utc(2026, 1, 1, 1))
    }

    func testBadExpressionsAreRefusedNamingTheField() {
        let cases = [("* * * *", "expected 5 fields"), ("60 * * * *", "minute field '60': 60 is out of range 0-59"),
                     ("* * * FOO *", "month field 'FOO'"), ("* 5-1 * * *", "runs backwards"),
                     ("*/0 * * * *", "bad step"), ("1,,2 * * * *", "empty list item"), ("@sometimes", "unknown nickname")]
        for (text, want) in cases {
            XCTAssertThrowsError(try CronExpression(text), text) { e in
                XCTAssertTrue("\(e)".contains(want), "\(text): \(e)")
            }
        }
    }

    func testDayOfMonthOrDayOfWeekWhenBothAreRestricted() throws {
        let c = try CronExpression("0 0 1,15 * MON")
        let runs = c.runs(after: utc(2026, 6, 2), through: utc(2026, 7, 8), in: .utc)
        XCTAssertEqual(runs, [utc(2026, 6, 8), utc(2026, 6, 15), utc(2026, 6, 22), utc(2026, 6, 29), utc(2026, 7, 1), utc(2026, 7, 6)])
        // a star in either day field: only the other one counts
        let mondays = try CronExpression("0 0 * * MON")
        XCTAssertEqual(mondays.next(after: utc(2026, 6, 30), in: .utc), utc(2026, 7, 6))
        let firsts = try CronExpression("0 0 1 * *")
        XCTAssertEqual(firsts.next(after: utc(2026, 6, 2), in: .utc), utc(2026, 7, 1))
    }

    func testImpossibleDateNeverRuns() throws {
        XCTAssertNil(try CronExpression("0 0 30 2 *").next(after: utc(2026, 1, 1), in: .utc))
        // the 29th of February comes back in leap years
        XCTAssertEqual(try CronExpression("0 0 29 2 *").next(after: utc(2026, 1, 1), in: .utc), utc(2028, 2, 29))
    }

    func testFixedTimeInTheSpringForwardGapRunsAtTheJump() throws {
        // Berlin, 2026-03-29: 02:00 CET becomes 03:00 CEST at 01:00 UTC; 02:30 never happens
        let c = try CronExpression("30 2 * * *")
        let first = c.next(after: utc(2026, 3, 28, 12), in: berlin)
        XCTAssertEqual(first, utc(2026, 3, 29, 1))
        XCTAssertEqual(CivilTime.iso(first!, in: berlin), "2026-03-29T03:00:00+02:00")
        XCTAssertEqual(c.next(after: first!, in: berlin), utc(2026, 3, 30, 0, 30))
        // New York, 2026-03-08: 02:00 EST becomes 03:00 EDT at 07:00 UTC
        XCTAssertEqual(try CronExpression("15 2 * * *").next(after: utc(2026, 3, 8), in: newYork), utc(2026, 3, 8, 7))
    }

    func testFixedTimeInTheFallBackRepeatRunsOnce() throws {
        // Berlin, 2026-10-25: 03:00 CEST becomes 02:00 CET at 01:00 UTC; 02:30 happens twice
        let c = try CronExpression("30 2 * * *")
        let runs = c.runs(after: utc(2026, 10, 24, 12), through: utc(2026, 10, 26, 12), in: berlin)
        XCTAssertEqual(runs, [utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30)])
        // New York, 2026-11-01: 02:00 EDT becomes 01:00 EST at 06:00 UTC; 01:30 happens twice
        let ny = try CronExpression("30 1 * * *").runs(after: utc(2026, 11, 1), through: utc(2026, 11, 2, 12), in: newYork)
        XCTAssertEqual(ny, [utc(2026, 11, 1, 5, 30), utc(2026, 11, 2, 6, 30)])
    }

    func testHourlyJobFollowsRealTimeThroughBothChanges() throws {
        let hourly = try CronExpression("0 * * * *")
        // fall back: 02:00 comes twice and runs twice; the runs stay one hour apart
        let fall = hourly.runs(after: utc(2026, 10, 24, 22, 30), through: utc(2026, 10, 25, 3, 30), in: berlin)
        XCTAssertEqual(fall, [utc(2026, 10, 24, 23), utc(2026, 10, 25, 0), utc(2026, 10, 25, 1), utc(2026, 10, 25, 2), utc(2026, 10, 25, 3)])
        XCTAssertEqual(fall.map { berlin.local($0).hour }, [1, 2, 2, 3, 4])
        // spring forward: no run in the missing hour, none doubled at the jump
        let spring = hourly.runs(after: utc(2026, 3, 28, 23, 30), through: utc(2026, 3, 29, 2, 30), in: berlin)
        XCTAssertEqual(spring, [utc(2026, 3, 29, 0), utc(2026, 3, 29, 1), utc(2026, 3, 29, 2)])
        XCTAssertEqual(spring.map { berlin.local($0).hour }, [1, 3, 4])
    }

    func testEveryQuarterHourAcrossTheGapIsNotBunched() throws {
        let c = try CronExpression("*/15 * * * *")
        let runs = c.runs(after: utc(2026, 3, 29, 0, 30), through: utc(2026, 3, 29, 1, 30), in: berlin)
        XCTAssertEqual(runs, [utc(2026, 3, 29, 0, 45), utc(2026, 3, 29, 1), utc(2026, 3, 29, 1, 15), utc(2026, 3, 29, 1, 30)])
    }

    func testMissedRunsAreCountedNotReplayed() throws {
        // an agent down from 01:10 to 06:20 missed five hourly runs
        let missed = try CronExpression("0 * * * *").runs(after: utc(2026, 12, 3, 1, 10), through: utc(2026, 12, 3, 6, 20), in: .utc)
        XCTAssertEqual(missed.count, 5)
        XCTAssertEqual(missed.first, utc(2026, 12, 3, 2))
        XCTAssertEqual(missed.last, utc(2026, 12, 3, 6))
    }
}

final class ZoneRulesTests: XCTestCase {
    /// The reader agrees with glibc's localtime_r (TZ set in this test process only) every 90
    /// minutes over 2023-2045, past the last transition the files list (the footer rule).
    func testOffsetsMatchGlibc() throws {
        for name in ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "America/Sao_Paulo", "UTC"] {
            let zone = try ZoneRules(named: name)
            setenv("TZ", name, 1)
            tzset()
            defer { unsetenv("TZ"); tzset() }
            var t = utc(2023, 1, 1)
            var mismatches = 0
            while t < utc(2045, 12, 31) {
                var tt = time_t(t)
                var tmv = tm()
                localtime_r(&tt, &tmv)
                if zone.offset(at: t).utcOffset != Int(tmv.tm_gmtoff) || zone.offset(at: t).isDST != (tmv.tm_isdst > 0) { mismatches += 1 }
                t += 5400
            }
            XCTAssertEqual(mismatches, 0, name)
        }
    }

    func testFooterRuleAfterTheLastListedTransition() throws {
        // 2040-03-25 is the last Sunday of March: Berlin moves to CEST at 01:00 UTC
        XCTAssertEqual(berlin.offset(at: utc(2040, 3, 25, 0, 59, 59)).utcOffset, 3600)
        XCTAssertEqual(berlin.offset(at: utc(2040, 3, 25, 1)).utcOffset, 7200)
        XCTAssertEqual(berlin.offset(at: utc(2040, 3, 25, 1)).abbreviation, "CEST")
    }

    func testResolvingClockReadings() throws {
        XCTAssertEqual(berlin.resolve(LocalTime(year: 2026, month: 3, day: 29, hour: 2, minute: 30)), .skipped(transition: utc(2026, 3, 29, 1)))
        XCTAssertEqual(berlin.resolve(LocalTime(year: 2026, month: 10, day: 25, hour: 2, minute: 30)),
                       .repeated(utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 1, 30)))
        XCTAssertEqual(berlin.resolve(LocalTime(year: 2026, month: 12, day: 3, hour: 12)), .unique(utc(2026, 12, 3, 11)))
    }

    func testPosixStringsAndUnknownNames() throws {
        let fixed = try ZoneRules(named: "<+0530>-5:30")
        XCTAssertEqual(fixed.offset(at: 0).utcOffset, 19800)
        let us = try ZoneRules(named: "EST5EDT,M3.2.0,M11.1.0")
        XCTAssertEqual(us.offset(at: utc(2026, 7, 1)).utcOffset, -14400)
        XCTAssertEqual(us.offset(at: utc(2026, 12, 1)).utcOffset, -18000)
        XCTAssertThrowsError(try ZoneRules(named: "Mars/Olympus")) { XCTAssertTrue("\($0)".contains("unknown time zone 'Mars/Olympus'")) }
        XCTAssertThrowsError(try ZoneRules(named: "../../etc/passwd"))
    }
}

final class MaintenanceWindowTests: XCTestCase {
    let weekly = MaintenanceWindow.named("weekly")!
    let monthly = MaintenanceWindow.named("monthly")!
    let quarterly = MaintenanceWindow.named("quarterly")!
    let daily = MaintenanceWindow.named("daily")!

    func testTheGuidesWindowsInUTC() {
        // Thursday 2026-12-03: daily opens at 02:00 for 30 minutes
        XCTAssertEqual(daily.current(at: utc(2026, 12, 3, 2, 10), in: .utc).open, true)
        XCTAssertEqual(daily.current(at: utc(2026, 12, 3, 2, 30), in: .utc).open, false)
        XCTAssertEqual(daily.current(at: utc(2026, 12, 3, 2, 30), in: .utc).occurrence?.start, utc(2026, 12, 4, 2))
        // weekly: Sunday 02:00-03:00
        XCTAssertEqual(weekly.current(at: utc(2026, 12, 3, 2, 10), in: .utc).open, false)
        XCTAssertEqual(weekly.next(after: utc(2026, 12, 3), in: .utc), .init(start: utc(2026, 12, 6, 2), end: utc(2026, 12, 6, 3)))
        XCTAssertEqual(weekly.occurrence(containing: utc(2026, 12, 6, 2, 59, 59), in: .utc)?.start, utc(2026, 12, 6, 2))
        XCTAssertNil(weekly.occurrence(containing: utc(2026, 12, 6, 3), in: .utc))
        // monthly: the first Sunday, 01:00-04:00 (Sunday the 13th is not the first)
        XCTAssertEqual(monthly.next(after: utc(2026, 12, 7), in: .utc)?.start, utc(2027, 1, 3, 1))
        XCTAssertEqual(monthly.current(at: utc(2026, 12, 6, 3, 30), in: .utc).open, true)
        XCTAssertEqual(monthly.current(at: utc(2026, 12, 13, 1, 30), in: .utc).open, false)
        // quarterly: the first Sunday of January, April, July, October
        XCTAssertEqual(quarterly.next(after: utc(2026, 12, 3), in: .utc)?.start, utc(2027, 1, 3, 1))
        XCTAssertEqual(quarterly.next(after: utc(2027, 1, 3, 4), in: .utc)?.start, utc(2027, 4, 4, 1))
    }

    func testWindowOnDaylightSavingSundaysKeepsItsLength() {
        // Berlin's weekly window on 2026-03-29 would start at 02:00, which is skipped: it opens at
        // the jump (03:00 CEST) and lasts one hour
        let spring = weekly.next(after: utc(2026, 3, 28), in: berlin)
        XCTAssertEqual(spring, .init(start: utc(2026, 3, 29, 1), end: utc(2026, 3, 29, 2)))
        // on 2026-10-25 02:00 comes twice: the window opens at the first and lasts one hour
        let fall = weekly.next(after: utc(2026, 10, 24), in: berlin)
        XCTAssertEqual(fall, .init(start: utc(2026, 10, 25, 0), end: utc(2026, 10, 25, 1)))
        XCTAssertTrue(weekly.current(at: utc(2026, 10, 25, 0, 59), in: berlin).open)
        XCTAssertFalse(weekly.current(at: utc(2026, 10, 25, 1, 30), in: berlin).open, "the second 02:30 is after the window")
    }

    func testNextOpeningText() {
        let text = weekly.nextOpeningText(at: utc(2026, 12, 3, 5), in: .utc)
        XCTAssertEqual(text, "the weekly maintenance window (Sunday 02:00-03:00 UTC) opens 2026-12-06T02:00:00+00:00 (in 2d 21h)")
        XCTAssertTrue(weekly.nextOpeningText(at: utc(2026, 12, 6, 2, 15), in: .utc).hasSuffix("is open until 2026-12-06T03:00:00+00:00"))
    }

    func testJobScheduleFromText() throws {
        if case .window(let w) = try JobSchedule(parsing: "monthly") { XCTAssertEqual(w.name, "monthly") } else { XCTFail() }
        XCTAssertEqual(try JobSchedule(parsing: "0 2 * * *").next(after: utc(2026, 12, 3, 3), in: .utc), utc(2026, 12, 4, 2))
        XCTAssertThrowsError(try JobSchedule(parsing: "fortnightly"))
    }
}
