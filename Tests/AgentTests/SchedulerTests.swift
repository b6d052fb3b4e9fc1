import Agent
import Foundation
import OpshTestSupport
import Schedule
import XCTest

/// The scheduler with a clock set by hand: due runs, no overlap, missed runs, late ticks,
/// timeouts, stops, daylight saving. Each run is a real `opsh run` process.
final class SchedulerTests: XCTestCase {
    func testDueJobRunsOnceAndIsRecordedWithItsReport() throws {
        let clock = ManualClock(utc(2026, 12, 3, 10, 59, 30))
        let job = try Job(name: "sleepy", procedure: Procedures.sleeper, schedule: "0 * * * *")
        let s = try JobScheduler(settings: settings([job]), clock: clock)
        try s.prepare()
        XCTAssertEqual(s.tick(), [], "not due yet")
        XCTAssertEqual(s.jobs().first?.nextRunAt, utc(2026, 12, 3, 11))
        clock.set(utc(2026, 12, 3, 11, 0, 1))
        XCTAssertEqual(s.tick(), ["sleepy"])
        XCTAssertEqual(s.tick(), [], "a due run starts once")
        s.waitIdle()
        let runs = try s.history.runs(job: "sleepy")
        XCTAssertEqual(runs.count, 1)
        XCTAssertEqual(runs[0].status, .ok)
        XCTAssertEqual(runs[0].exitCode, 0)
        XCTAssertEqual(runs[0].scheduledAt, utc(2026, 12, 3, 11))
        XCTAssertEqual(runs[0].trigger, "schedule")
        XCTAssertTrue(runs[0].report?.contains("\"t.sleeper\"") == true, runs[0].report ?? "no report")
        XCTAssertEqual(s.jobs().first?.nextRunAt, utc(2026, 12, 3, 12))
    }

    func testAJobNeverOverlapsItself() throws {
        let clock = ManualClock(utc(2026, 12, 3, 11, 0, 1))
        let job = try Job(name: "slow", procedure: Procedures.sleeper, arguments: ["--sleep", "3"], schedule: "* * * * *")
        let s = try JobScheduler(settings: settings([job]), clock: clock)
        try s.prepare()
        clock.set(utc(2026, 12, 3, 11, 1, 0))
        XCTAssertEqual(s.tick(), ["slow"])
        XCTAssertTrue(waitUntil("running") { (try? s.history.runs(job: "slow").first?.status) == .running })
        clock.set(utc(2026, 12, 3, 11, 2, 0))
        XCTAssertEqual(s.tick(), [], "still running: not started again")
        XCTAssertThrowsError(try s.runNow("slow")) { XCTAssertTrue("\($0)".contains("running elsewhere (lock held by this agent"), "\($0)") }
        s.waitIdle()
        let runs = try s.history.runs(job: "slow")
        XCTAssertEqual(runs.map(\.status).sorted { $0.rawValue < $1.rawValue }, [.ok, .skipped])
        let skipped = runs.first { $0.status == .skipped }!
        XCTAssertTrue(skipped.message?.contains("never overlaps itself") == true, skipped.message ?? "")
        XCTAssertEqual(skipped.scheduledAt, utc(2026, 12, 3, 11, 2))
    }

    func testRunsMissedWhileDownAreReportedNotRun() throws {
        let history = Harness.tempDir("history").path + "/agent.db"
        let job = try Job(name: "hourly", procedure: Procedures.sleeper, schedule: "0 * * * *")
        let clock = ManualClock(utc(2026, 12, 3, 8, 10))
        do {
            let first = try JobScheduler(settings: settings([job], history: history), clock: clock)
            try first.prepare()
        }
        // the agent was down from 08:10 to 13:30: 09:00 ... 13:00 were missed
        clock.set(utc(2026, 12, 3, 13, 30))
        let second = try JobScheduler(settings: settings([job], history: history), clock: clock)
        try second.prepare()
        XCTAssertEqual(second.tick(), [], "missed runs are not run in a burst")
        let runs = try second.history.runs(job: "hourly")
        XCTAssertEqual(runs.count, 1)
        XCTAssertEqual(runs[0].status, .missed)
        XCTAssertEqual(runs[0].trigger, "startup")
        XCTAssertEqual(runs[0].scheduledAt, utc(2026, 12, 3, 13))
        XCTAssertTrue(runs[0].message?.hasPrefix("5 runs missed, 2026-12-03T09:00:00+00:00 to 2026-12-03T13:00:00+00:00") == true, runs[0].message ?? "")
        XCTAssertEqual(second.jobs()[0].nextRunAt, utc(2026, 12, 3, 14))
    }

    func testALateTickRunsOnceAndReportsWhatItPassedOver() throws {
        let clock = ManualClock(utc(2026, 12, 3, 8, 10))
        let job = try Job(name: "hourly", procedure: Procedures.sleeper, schedule: "0 * * * *")
        let s = try JobScheduler(settings: settings([job]), clock: clock)
        try s.prepare()
        // the machine slept from 08:10 to 11:20: 09:00 and 10:00 passed over, 11:00 runs
        clock.set(utc(2026, 12, 3, 11, 20))
        XCTAssertEqual(s.tick(), ["hourly"])
        s.waitIdle()
        let runs = try s.history.runs(job: "hourly")
        let missed = runs.first { $0.status == .missed }
        XCTAssertTrue(missed?.message?.hasPrefix("2 runs missed") == true, missed?.message ?? "no missed record")
        XCTAssertEqual(runs.first { $0.status == .ok }?.scheduledAt, utc(2026, 12, 3, 11))
    }

    func testTimeoutIsRecorded() throws {
        let job = try Job(name: "stuck", procedure: Procedures.sleeper, arguments: ["--sleep", "60"], schedule: "@daily", timeout: 1)
        let s = try JobScheduler(settings: settings([job]), clock: SystemAgentClock())
        let r = try s.runNow("stuck")
        XCTAssertEqual(r.status, .timeout, r.message ?? "")
        XCTAssertEqual(r.exitCode, 3)
        XCTAssertTrue(r.message?.contains("timed out after 1s") == true, r.message ?? "")
        XCTAssertEqual(try s.history.run(id: r.id)?.status, .timeout)
    }

    func testFailedRunIsRecordedWithItsExitCode() throws {
        let job = try Job(name: "bad", procedure: Procedures.sleeper, arguments: ["--status", "crit"], schedule: "@daily")
        let s = try JobScheduler(settings: settings([job]), clock: SystemAgentClock())
        let r = try s.runNow("bad")
        XCTAssertEqual(r.status, .critical)
        XCTAssertEqual(r.exitCode, 2)
        XCTAssertThrowsError(try s.runNow("nope")) { XCTAssertTrue("\($0)".contains("no job named 'nope'")) }
    }

    func testStopWaitsTheGraceThenKillsAndRecordsTheRun() throws {
        let job = try Job(name: "long", procedure: Procedures.sleeper, arguments: ["--sleep", "60"], schedule: "@daily")
        let s = try JobScheduler(settings: settings([job]), clock: SystemAgentClock())
        try s.startNow("long")
        XCTAssertTrue(waitUntil("running") { (try? s.history.runs(job: "long").first?.status) == .running })
        s.stop(grace: 0.5)
        let r = try s.history.runs(job: "long").first
        XCTAssertEqual(r?.status, .abandoned)
        XCTAssertTrue(r?.message?.contains("the agent stopped") == true, r?.message ?? "")
    }

    /// A finished run leaves nothing behind in the agent: its thread's stack is freed (a run's
    /// thread used to stay joinable, unjoined, until the agent stopped: one stack mapping kept
    /// per run, the resident size growing with every job of a long-lived agent).
    func testFinishedRunsLeaveNoThreadStacksBehind() throws {
        let job = try Job(name: "quick", procedure: Procedures.sleeper, arguments: ["--sleep", "0"], schedule: "@daily")
        let s = try JobScheduler(settings: settings([job]), clock: SystemAgentClock())
        // read to the end: /proc files say size 0, and a sized read gets the first page only
        func mappings() -> Int { (FileHandle(forReadingAtPath: "/proc/self/maps")?.readDataToEndOfFile() ?? Data()).filter { $0 == 10 }.count }
        // one run after another, as a long-lived agent runs them: nobody waits for the threads
        // (waitIdle would join them), only for each run's record
        func runOnce(_ n: Int) throws {
            XCTAssertTrue(waitUntil("startable") { (try? s.startNow("quick")) != nil })
            XCTAssertTrue(waitUntil("recorded") {
                let runs = (try? s.history.runs(job: "quick", limit: 100)) ?? []
                return runs.count == n && runs.allSatisfy { $0.status != .running }
            })
        }
        try runOnce(1)
        let before = mappings()
        for n in 2...61 { try runOnce(n) }
        // the last run's thread may not have exited yet: two mappings, well inside the margin
        let after = mappings()
        s.waitIdle()
        XCTAssertEqual(try s.history.runs(job: "quick", limit: 100).filter { $0.status == .ok }.count, 61)
        // a kept stack is two mappings (the stack and its guard page): 120 more for 60 runs
        XCTAssertLessThan(after - before, 30, "memory mappings grew from \(before) to \(after) over 60 runs")
    }

    func testRunsLeftRunningByADeadAgentAreAbandonedAtStart() throws {
        let history = Harness.tempDir("history").path + "/agent.db"
        let job = try Job(name: "j", procedure: Procedures.sleeper, schedule: "@daily")
        let s1 = try JobScheduler(settings: settings([job], history: history), clock: SystemAgentClock())
        let left = try s1.history.insert(RunRecord(job: "j", procedure: "x", agent: "test-agent", trigger: "schedule", scheduledAt: nil,
                                                   startedAt: Date().timeIntervalSince1970 - 60, status: .running))
        let s2 = try JobScheduler(settings: settings([job], history: history), clock: SystemAgentClock())
        try s2.prepare()
        XCTAssertEqual(try s2.history.run(id: left.id)?.status, .abandoned)
    }

    func testSpringForwardRunIsPlannedAtTheJumpInTheJobsZone() throws {
        // Berlin, 2026-03-29: 02:30 does not exist; the job runs at 03:00 CEST (01:00 UTC)
        let clock = ManualClock(utc(2026, 3, 28, 23))
        let job = try Job(name: "berlin", procedure: Procedures.sleeper, schedule: "30 2 * * *", timeZone: "Europe/Berlin")
        let s = try JobScheduler(settings: settings([job]), clock: clock)
        try s.prepare()
        XCTAssertEqual(s.jobs()[0].nextRunAt, utc(2026, 3, 29, 1))
        clock.set(utc(2026, 3, 29, 0, 59, 59))
        XCTAssertEqual(s.tick(), [])
        clock.set(utc(2026, 3, 29, 1, 0, 0))
        XCTAssertEqual(s.tick(), ["berlin"])
        s.waitIdle()
        XCTAssertEqual(s.jobs()[0].nextRunAt, utc(2026, 3, 30, 0, 30))
    }

    func testOneShotJobRunsOnceWhenDue() throws {
        let clock = ManualClock(utc(2026, 12, 3, 12))
        let s = try JobScheduler(settings: settings([]), clock: clock)
        try s.prepare()
        let id = try s.runOnce(procedure: Procedures.sleeper, arguments: ["--sleep", "0"], in: 3600, createdBy: "test")
        XCTAssertEqual(s.tick(), [])
        clock.set(utc(2026, 12, 3, 13, 0, 1))
        XCTAssertEqual(s.tick(), ["once:\(id)"])
        XCTAssertEqual(s.tick(), [], "started once")
        s.waitIdle()
        let r = try s.history.runs(job: "once:\(id)")
        XCTAssertEqual(r.map(\.status), [.ok])
        XCTAssertEqual(r.first?.trigger, "once")
        XCTAssertEqual(try s.history.oneShots(includeDone: true).first?.state, "done")
    }

    func testWindowedProcedureRefusedOutsideItsWindowUnlessForced() throws {
        // a zone whose clock reads 12:00 now: the daily window (02:00-02:30) is closed
        let now = Int64(Date().timeIntervalSince1970)
        let zone = WindowTests.posixZone(readingNow: 12 * 3600, at: now)
        let job = try Job(name: "maint", procedure: Procedures.windowed, schedule: "daily")
        let s = try JobScheduler(settings: settings([job]), clock: SystemAgentClock())
        setenv("OPSH_MAINTENANCE_TIMEZONE", zone, 1)
        defer { unsetenv("OPSH_MAINTENANCE_TIMEZONE") }
        let refused = try s.runNow("maint")
        XCTAssertEqual(refused.status, .unknown)
        XCTAssertTrue(refused.message?.contains("may only run in the daily maintenance window") == true, refused.message ?? "")
        let forced = try s.runNow("maint", force: true)
        XCTAssertEqual(forced.status, .ok, forced.message ?? "")
    }
}
