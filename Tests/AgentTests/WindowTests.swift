import Foundation
import OpshTestSupport
import XCTest

/// Maintenance windows enforced by `opsh run`: an intrusive or destructive procedure that
/// declares a window refuses to start outside it unless --force, naming the next opening.
/// The window's zone is a POSIX TZ string whose clock reads what the test needs now.
final class WindowTests: XCTestCase {
    /// A POSIX TZ string (`<T>-3:25:00`) whose clock reads `secondOfDay` at `now`.
    static func posixZone(readingNow secondOfDay: Int64, at now: Int64) -> String {
        var offset = (secondOfDay - now % 86400) % 86400
        if offset > 43200 { offset -= 86400 }
        if offset <= -43200 { offset += 86400 }
        let west = -offset
        let a = abs(west)
        return "<T>" + (west < 0 ? "-" : "") + "\(a / 3600):\(String(format: "%02d", a / 60 % 60)):\(String(format: "%02d", a % 60))"
    }

    func run(_ args: [String], clockReads secondOfDay: Int64, windows: String = "enforce") -> Run {
        let zone = WindowTests.posixZone(readingNow: secondOfDay, at: Int64(Date().timeIntervalSince1970))
        return Harness.run(args, env: ["OPSH_MAINTENANCE_TIMEZONE": zone, "OPSH_MAINTENANCE_WINDOWS": windows])
    }

    func testRefusedOutsideItsWindowNamingTheNextOpening() {
        let r = run(["run", Procedures.windowed], clockReads: 12 * 3600)
        XCTAssertEqual(r.status, 3, r.stdout + r.stderr)
        XCTAssertTrue(r.stderr.contains("may only run in the daily maintenance window (daily 02:00-02:30 <T>"), r.stderr)
        // the next opening is 14 hours away on that clock
        XCTAssertTrue(r.stderr.contains("the next one opens") && r.stderr.contains("(in 14h 0m)") || r.stderr.contains("(in 13h 59m)"), r.stderr)
        XCTAssertTrue(r.stderr.contains("pass --force to run it now"), r.stderr)
        XCTAssertFalse(r.stdout.contains("t.windowed"), "it did not run")
    }

    func testRunsInsideItsWindow() {
        let r = run(["run", Procedures.windowed], clockReads: 2 * 3600 + 600)
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("t.windowed: ran"), r.stdout)
    }

    func testForceDryRunAndEnforcementOffRunOutsideIt() {
        XCTAssertEqual(run(["--force", "run", Procedures.windowed], clockReads: 12 * 3600).status, 0)
        XCTAssertEqual(run(["run", "--force", Procedures.windowed], clockReads: 12 * 3600).status, 0)
        XCTAssertEqual(run(["--dry-run", "run", Procedures.windowed], clockReads: 12 * 3600).status, 0)
        XCTAssertEqual(run(["run", Procedures.windowed], clockReads: 12 * 3600, windows: "off").status, 0)
    }

    func testWindowMetadataIsChecked() {
        let safe = Harness.write("""
            return { description = "x", categories = { "safe" }, window = "weekly", run = function() end }
            """, to: "safe-window.lua")
        let r1 = Harness.run(["run", safe])
        XCTAssertEqual(r1.status, 3)
        XCTAssertTrue(r1.stderr.contains("field 'window' is for intrusive or destructive procedures"), r1.stderr)
        let bad = Harness.write("""
            return { description = "x", categories = { "intrusive" }, window = "fortnightly", run = function() end }
            """, to: "bad-window.lua")
        let r2 = Harness.run(["run", bad])
        XCTAssertTrue(r2.stderr.contains("field 'window' must be one of daily, weekly, monthly, quarterly, got 'fortnightly'"), r2.stderr)
    }

    func testBuiltInMaintenanceProceduresDeclareTheirWindows() {
        for (name, window) in [("qdrant/optimize", "weekly"), ("redis/cache-optimize", "weekly"), ("logs/archive", "daily"),
                               ("maintenance/weekly", "weekly"), ("maintenance/monthly", "monthly"), ("maintenance/quarterly", "quarterly")] {
            let r = Harness.run(["help", name])
            XCTAssertTrue(r.stdout.contains("maintenance window: \(window)"), name + ": " + r.stdout)
        }
    }

    func testWindowsCommandShowsEachWindow() {
        let r = run(["agent", "windows"], clockReads: 2 * 3600 + 600)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("the daily maintenance window (daily 02:00-02:30 <T>"), r.stdout)
        XCTAssertTrue(r.stdout.contains("is open until"), r.stdout)
        XCTAssertTrue(r.stdout.contains("quarterly"), r.stdout)
    }
}
