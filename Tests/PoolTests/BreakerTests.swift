@testable import Pool
import XCTest

final class BreakerTests: XCTestCase {
    func make(_ configure: (inout BreakerOptions) -> Void = { _ in }) throws -> (CircuitBreaker, ManualClock) {
        var o = BreakerOptions()
        configure(&o)
        let clock = ManualClock()
        return (try CircuitBreaker(name: "b", options: o, clock: .manual(clock)), clock)
    }

    func fail(_ b: CircuitBreaker, _ t: FailureType, _ n: Int) {
        for _ in 0..<n { b.recordFailure(t, b.allow()) }
    }

    func testEachFailureTypeOpensAtItsOwnThreshold() throws {
        for (t, n) in [(FailureType.connection, 3), (.timeout, 5), (.query, 10), (.transaction, 5), (.resource, 3)] {
            // successes in between keep the success rate above 50 %, so only the count trips
            let (b, _) = try make { $0.decayEverySuccesses = 1_000_000 }
            for _ in 0..<(n - 1) {
                b.recordFailure(t, b.allow())
                for _ in 0..<3 { b.recordSuccess(b.allow()) }
            }
            XCTAssertEqual(b.state, .closed, "\(t) below its threshold")
            b.recordFailure(t, b.allow())
            XCTAssertEqual(b.state, .open, "\(t) at its threshold \(n)")
            XCTAssertTrue(b.status.transitions.last!.reason.contains("\(t)"))
        }
    }

    func testLowSuccessRateOpens() throws {
        let (b, _) = try make { $0.setThreshold(.query, 100) }
        for i in 0..<10 {
            if i % 2 == 0 { b.recordSuccess(b.allow()) } else { b.recordFailure(.query, b.allow()) }
        }
        XCTAssertEqual(b.state, .closed, "50 % is not below 50 %")
        b.recordFailure(.query, b.allow())   // 5 of 11 succeeded
        XCTAssertEqual(b.state, .open)
        XCTAssertTrue(b.status.transitions.last!.reason.contains("success rate"))
    }

    func testRateNeedsMinimumRequests() throws {
        let (b, _) = try make { $0.setThreshold(.query, 100) }
        fail(b, .query, 9)
        XCTAssertEqual(b.state, .closed)
        fail(b, .query, 1)
        XCTAssertEqual(b.state, .open)
    }

    func testOpenRejectsUntilRecoveryThenHalfOpenAdmitsOnlyItsProbes() throws {
        let (b, clock) = try make()
        fail(b, .connection, 3)
        XCTAssertEqual(b.allow(), .rejected)
        XCTAssertEqual(b.status.nextProbeIn!, 60, accuracy: 0.01)
        clock.advance(seconds: 59)
        XCTAssertEqual(b.allow(), .rejected)
        clock.advance(seconds: 1)
        XCTAssertEqual(b.allow(), .probe)
        XCTAssertEqual(b.state, .halfOpen)
        XCTAssertEqual(b.allow(), .probe)
        XCTAssertEqual(b.allow(), .probe)
        XCTAssertEqual(b.allow(), .rejected, "the fourth call is not a probe: half_open_max_calls 3 is counted")
        XCTAssertEqual(b.status.probesAdmitted, 3)
        XCTAssertEqual(b.status.rejectedTotal, 3)
    }

    func testProbeSuccessesClose() throws {
        let (b, clock) = try make()
        fail(b, .timeout, 5)
        clock.advance(seconds: 60)
        let p1 = b.allow(), p2 = b.allow()
        b.recordSuccess(p1)
        XCTAssertEqual(b.state, .halfOpen)
        b.recordSuccess(p2)
        XCTAssertEqual(b.state, .closed)
        XCTAssertEqual(b.status.counts, [0, 0, 0, 0, 0], "closing clears the counts")
        XCTAssertEqual(b.status.failuresTotal[FailureType.timeout.rawValue], 5, "totals stay")
        XCTAssertEqual(b.status.recoveriesTotal, 1)
    }

    func testProbeFailureReopensAndRestartsTheTimer() throws {
        let (b, clock) = try make()
        fail(b, .connection, 3)
        clock.advance(seconds: 60)
        let p = b.allow()
        XCTAssertEqual(p, .probe)
        b.recordFailure(.connection, p)
        XCTAssertEqual(b.state, .open)
        clock.advance(seconds: 30)
        XCTAssertEqual(b.allow(), .rejected)
        clock.advance(seconds: 30)
        XCTAssertEqual(b.allow(), .probe)
    }

    func testOnlyProbesCountInHalfOpen() throws {
        let (b, clock) = try make()
        let early = b.allow()                       // admitted while closed, ends later
        fail(b, .connection, 3)
        clock.advance(seconds: 60)
        XCTAssertEqual(b.allow(), .probe)
        b.recordSuccess(early)
        b.recordSuccess(early)
        XCTAssertEqual(b.state, .halfOpen, "successes of calls admitted while closed do not close it")
        b.recordFailure(.query, early)
        XCTAssertEqual(b.state, .halfOpen, "nor do their failures reopen it")
    }

    func testCancelledProbeFreesItsPlace() throws {
        let (b, clock) = try make { $0.halfOpenMaxCalls = 1; $0.halfOpenSuccessThreshold = 1 }
        fail(b, .connection, 3)
        clock.advance(seconds: 60)
        let p = b.allow()
        XCTAssertEqual(b.allow(), .rejected)
        b.cancel(p)
        let q = b.allow()
        XCTAssertEqual(q, .probe)
        b.recordSuccess(q)
        XCTAssertEqual(b.state, .closed)
    }

    func testCountsHalveEveryHundredSuccesses() throws {
        let (b, _) = try make()
        fail(b, .query, 9)
        for _ in 0..<99 { b.recordSuccess(b.allow()) }
        XCTAssertEqual(b.status.counts[FailureType.query.rawValue], 9)
        b.recordSuccess(b.allow())
        XCTAssertEqual(b.status.counts[FailureType.query.rawValue], 4)
        fail(b, .query, 5)
        XCTAssertEqual(b.state, .closed, "4 + 5 < 10 after decay")
        fail(b, .query, 1)
        XCTAssertEqual(b.state, .open)
    }

    func testCountsHalveOncePerQuietPeriod() throws {
        let (b, clock) = try make()
        fail(b, .connection, 2)
        clock.advance(seconds: 601)
        b.recordSuccess(b.allow())
        XCTAssertEqual(b.status.counts[0], 1)
        b.recordSuccess(b.allow())
        XCTAssertEqual(b.status.counts[0], 1, "once per quiet period, not on every success")
        clock.advance(seconds: 601)
        b.recordSuccess(b.allow())
        XCTAssertEqual(b.status.counts[0], 0)
    }

    func testResetAndForceOpen() throws {
        let (b, clock) = try make()
        b.forceOpen()
        XCTAssertEqual(b.state, .open)
        clock.advance(seconds: 3600)
        XCTAssertEqual(b.allow(), .rejected, "forced open holds past the recovery timeout")
        XCTAssertTrue(b.status.forced)
        XCTAssertNil(b.status.nextProbeIn)
        b.reset()
        XCTAssertEqual(b.state, .closed)
        XCTAssertEqual(b.allow(), .pass)
        fail(b, .connection, 2)
        b.reset()
        fail(b, .connection, 2)
        XCTAssertEqual(b.state, .closed, "reset cleared the counts")
    }

    func testConfigureValidatesAndApplies() throws {
        let (b, _) = try make()
        var o = b.options
        o.halfOpenMaxCalls = 0
        XCTAssertThrowsError(try b.configure(o)) { XCTAssertEqual(($0 as? PoolError)?.option, "half_open_max_calls") }
        o = b.options
        o.recoveryTimeout = -1
        XCTAssertThrowsError(try b.configure(o)) { XCTAssertEqual(($0 as? PoolError)?.option, "recovery_timeout") }
        o = b.options
        o.setThreshold(.timeout, 0)
        XCTAssertThrowsError(try b.configure(o)) { XCTAssertEqual(($0 as? PoolError)?.option, "thresholds.timeout") }
        o = b.options
        o.halfOpenSuccessThreshold = 5
        XCTAssertThrowsError(try b.configure(o)) { XCTAssertEqual(($0 as? PoolError)?.option, "half_open_success_threshold") }
        o = b.options
        o.setThreshold(.connection, 1)
        try b.configure(o)
        fail(b, .connection, 1)
        XCTAssertEqual(b.state, .open)
    }

    func testUnknownFailureTypeIsRefusedByName() {
        XCTAssertThrowsError(try FailureType(name: "disk")) { e in
            XCTAssertEqual((e as? PoolError)?.option, "failure_type")
            XCTAssertTrue("\(e)".contains("disk"))
        }
        XCTAssertEqual(try FailureType(name: "resource"), .resource)
    }

    func testStatusReportsLastFailure() throws {
        let (b, clock) = try make()
        b.recordFailure(.timeout, b.allow(), message: "took too long")
        clock.advance(seconds: 2)
        let s = b.status
        XCTAssertEqual(s.lastFailureType, .timeout)
        XCTAssertEqual(s.lastFailureMessage, "took too long")
        XCTAssertEqual(s.lastFailureAgo!, 2, accuracy: 0.01)
        XCTAssertEqual(s.counts[FailureType.timeout.rawValue], 1)
    }
}
