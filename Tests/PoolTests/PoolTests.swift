import EventLoop
import Foundation
@testable import Pool
import XCTest

/// A connection for the pool's own tests: a number and whether it was closed.
final class FakeConn: @unchecked Sendable {
    let n: Int
    var closed = false
    var alive = true
    init(_ n: Int) { self.n = n }
}

/// Makes numbered FakeConns and remembers what the pool closed.
final class FakeConnector: @unchecked Sendable {
    var made = 0
    var closedList: [Int] = []
    var failNext = false
    let lock = NSLockish()

    var connector: Pool<FakeConn>.Connector {
        Pool<FakeConn>.Connector(close: { c in self.lock.run { c.closed = true; self.closedList.append(c.n) } },
                                 create: { _ in
                                     try self.lock.run {
                                         if self.failNext { self.failNext = false; throw PoolError(.connect, "refused") }
                                         self.made += 1
                                         return FakeConn(self.made)
                                     }
                                 },
                                 validate: { $0.alive })
    }
}

final class NSLockish: @unchecked Sendable {
    private var m = pthread_mutex_t()
    init() { pthread_mutex_init(&m, nil) }
    func run<T>(_ f: () throws -> T) rethrows -> T { pthread_mutex_lock(&m); defer { pthread_mutex_unlock(&m) }; return try f() }
}

/// A pool of FakeConns on a manual clock (acquire timeout 1 s).
func makeFakePool(min: Int = 0, max: Int = 2, clock: ManualClock = ManualClock(), lifetime: Double = 1800,
                  idle: Double = 600) throws -> (Pool<FakeConn>, FakeConnector) {
    let fc = FakeConnector()
    let p = try Pool(name: "t", options: PoolOptions(min: min, max: max, acquireTimeout: 1, maxLifetime: lifetime, idleTimeout: idle),
                     connector: fc.connector, clock: .manual(clock))
    return (p, fc)
}

final class PoolTests: XCTestCase {
    func makePool(min: Int = 0, max: Int = 2, clock: ManualClock = ManualClock(), lifetime: Double = 1800,
                  idle: Double = 600) throws -> (Pool<FakeConn>, FakeConnector) {
        try makeFakePool(min: min, max: max, clock: clock, lifetime: lifetime, idle: idle)
    }

    func lease(_ c: Pool<FakeConn>.Checkout, file: StaticString = #file, line: UInt = #line) -> Pool<FakeConn>.Lease? {
        if case .ready(let l) = c { return l }
        XCTFail("expected a ready connection, got \(c)", file: file, line: line)
        return nil
    }

    func permit(_ c: Pool<FakeConn>.Checkout, file: StaticString = #file, line: UInt = #line) -> Pool<FakeConn>.CreatePermit? {
        if case .create(let p) = c { return p }
        XCTFail("expected a create permit, got \(c)", file: file, line: line)
        return nil
    }

    func ticket(_ c: Pool<FakeConn>.Checkout, file: StaticString = #file, line: UInt = #line) -> Pool<FakeConn>.WaitTicket? {
        if case .waiting(let t) = c { return t }
        XCTFail("expected to wait, got \(c)", file: file, line: line)
        return nil
    }

    // MARK: options

    func testBadOptionsNameTheOption() {
        func refused(_ o: PoolOptions, _ name: String, file: StaticString = #file, line: UInt = #line) {
            XCTAssertThrowsError(try o.validate(), file: file, line: line) { e in
                XCTAssertEqual((e as? PoolError)?.option, name, file: file, line: line)
                XCTAssertTrue("\(e)".hasPrefix(name + ":"), "\(e)", file: file, line: line)
            }
        }
        refused(PoolOptions(min: -1, max: 2), "min")
        refused(PoolOptions(min: 0, max: -3), "max")
        refused(PoolOptions(min: 0, max: 0), "max")
        refused(PoolOptions(min: 5, max: 2), "min")
        refused(PoolOptions(min: 0, max: 2, acquireTimeout: -1), "acquire_timeout")
        refused(PoolOptions(min: 0, max: 2, acquireTimeout: .nan), "acquire_timeout")
        refused(PoolOptions(min: 0, max: 2, maxLifetime: .infinity), "max_lifetime")
        refused(PoolOptions(min: 0, max: 2, idleTimeout: -5), "idle_timeout")
        XCTAssertNoThrow(try PoolOptions(min: 2, max: 2).validate())
        let fc = FakeConnector()
        XCTAssertThrowsError(try Pool(name: "x", options: PoolOptions(min: 3, max: 1), connector: fc.connector))
        let (p, _) = try! makePool()
        XCTAssertThrowsError(try p.resize(0)) { XCTAssertEqual(($0 as? PoolError)?.option, "size") }
        XCTAssertThrowsError(try p.resize(-4)) { XCTAssertEqual(($0 as? PoolError)?.option, "size") }
    }

    // MARK: checkout, fill, release

    func testCreatesUpToMaxThenQueues() throws {
        let (p, _) = try makePool(max: 2)
        let a = p.fill(permit(p.checkout { _ in XCTFail("not queued") })!, with: FakeConn(1))
        let b = p.fill(permit(p.checkout { _ in XCTFail("not queued") })!, with: FakeConn(2))
        var got: Pool<FakeConn>.Checkout?
        _ = ticket(p.checkout { got = $0 })
        XCTAssertEqual(p.stats.waiting, 1)
        XCTAssertEqual(p.stats.checkedOut, 2)
        p.release(a)
        XCTAssertEqual(lease(got!)?.connection.n, 1, "the returned connection goes straight to the waiter")
        XCTAssertEqual(p.stats.checkedOut, 2)
        XCTAssertEqual(p.stats.waiting, 0)
        p.release(b)
        XCTAssertEqual(p.stats.idle, 1)
        let again = lease(p.checkout { _ in })!
        XCTAssertEqual(again.connection.n, 2, "an idle connection is reused, not a new one made")
        XCTAssertEqual(p.stats.createdTotal, 2)
    }

    func testWaitersAreServedInArrivalOrderAndNewcomersDoNotBarge() throws {
        let (p, _) = try makePool(max: 1)
        let first = p.fill(permit(p.checkout { _ in })!, with: FakeConn(1))
        var order: [Int] = []
        var leases: [Int: Pool<FakeConn>.Lease] = [:]
        for i in 1...3 {
            _ = ticket(p.checkout { if case .ready(let l) = $0 { order.append(i); leases[i] = l } })
        }
        p.release(first)
        XCTAssertEqual(order, [1])
        // a newcomer while others wait queues behind them
        var late = false
        _ = ticket(p.checkout { _ in late = true })
        p.release(leases[1]!)
        p.release(leases[2]!)
        XCTAssertEqual(order, [1, 2, 3])
        XCTAssertFalse(late)
        p.release(leases[3]!)
        XCTAssertTrue(late)
    }

    func testDiscardAndAbandonGiveTheSlotToTheNextWaiter() throws {
        let (p, fc) = try makePool(max: 1)
        let a = p.fill(permit(p.checkout { _ in })!, with: FakeConn(1))
        var got: Pool<FakeConn>.Checkout?
        _ = ticket(p.checkout { got = $0 })
        p.discard(a)
        XCTAssertEqual(fc.closedList, [1])
        let pm = permit(got!)!
        var second: Pool<FakeConn>.Checkout?
        _ = ticket(p.checkout { second = $0 })
        p.abandon(pm)
        XCTAssertNotNil(permit(second!), "a permit given up passes to the next waiter")
        XCTAssertEqual(p.stats.createFailuresTotal, 1)
        XCTAssertEqual(p.stats.closedTotal, 1)
    }

    func testAReleasedLeaseIsNotTakenTwice() throws {
        let (p, _) = try makePool(max: 2)
        let a = p.fill(permit(p.checkout { _ in })!, with: FakeConn(1))
        p.release(a)
        p.release(a)
        p.discard(a)
        XCTAssertEqual(p.stats.idle, 1)
        XCTAssertEqual(p.stats.checkedOut, 0)
        XCTAssertEqual(p.stats.closedTotal, 0)
        // the same slot lent again: the old lease still cannot return it
        let b = lease(p.checkout { _ in })!
        XCTAssertEqual(b.id, a.id)
        p.release(a)
        XCTAssertEqual(p.stats.checkedOut, 1)
        p.release(b)
        XCTAssertEqual(p.stats.idle, 1)
    }

    func testCancelLeavesTheQueue() throws {
        let (p, _) = try makePool(max: 1)
        let a = p.fill(permit(p.checkout { _ in })!, with: FakeConn(1))
        var served = false
        let t = ticket(p.checkout { _ in served = true })!
        XCTAssertTrue(p.cancel(t))
        XCTAssertFalse(p.cancel(t))
        XCTAssertEqual(p.stats.timeoutsTotal, 1)
        p.release(a)
        XCTAssertFalse(served)
        XCTAssertEqual(p.stats.idle, 1)
    }

    // MARK: validation, lifetime, idle eviction

    func testIdleConnectionIsValidatedOnlyAfterTheInterval() throws {
        let clock = ManualClock()
        let (p, _) = try makePool(clock: clock)
        let a = p.fill(permit(p.checkout { _ in })!, with: FakeConn(1))
        XCTAssertFalse(a.needsValidation)
        p.release(a)
        XCTAssertFalse(lease(p.checkout { _ in })!.needsValidation, "just returned: no ping")
        XCTAssertNotNil(permit(p.checkout { _ in }), "the one idle connection is lent: the next is made")
    }

    func testStaleIdleConnectionNeedsValidation() throws {
        let clock = ManualClock()
        let (p, _) = try makePool(clock: clock)
        let a = p.fill(permit(p.checkout { _ in })!, with: FakeConn(1))
        p.release(a)
        clock.advance(seconds: 1)
        XCTAssertTrue(lease(p.checkout { _ in })!.needsValidation)
    }

    func testBlockingAcquireDropsAConnectionThatFailsValidation() throws {
        let clock = ManualClock()
        let (p, fc) = try makePool(clock: clock)
        let a = try p.acquire()
        p.release(a)
        XCTAssertEqual(p.state.withLock { $0.slots[a.id].state }, SlotCell.cached, "in this thread's cache: validated on that path too")
        a.connection.alive = false
        clock.advance(seconds: 1)
        let b = try p.acquire()
        XCTAssertNotEqual(b.connection.n, a.connection.n)
        XCTAssertEqual(fc.closedList, [a.connection.n])
    }

    func testMaxLifetimeClosesOnCheckoutAndOnRelease() throws {
        let clock = ManualClock()
        let (p, fc) = try makePool(max: 2, clock: clock, lifetime: 60)
        let a = p.fill(permit(p.checkout { _ in })!, with: FakeConn(1))
        let b = p.fill(permit(p.checkout { _ in })!, with: FakeConn(2))
        p.release(a)
        clock.advance(seconds: 61)
        p.release(b)                       // expired: closed, not kept
        XCTAssertEqual(fc.closedList, [2])
        _ = permit(p.checkout { _ in })    // the idle one expired too: closed, a new one is made
        XCTAssertEqual(fc.closedList, [2, 1])
        XCTAssertEqual(p.stats.size, 0)
    }

    /// On the real clocks: a connection made and returned at once is kept. `fill` stamped its
    /// birth with the precise clock, which runs ahead of the coarse one `release` reads, so
    /// `now - born` wrapped around and every new connection was closed as expired.
    func testAConnectionMadeAndReturnedAtOnceIsKept() throws {
        let fc = FakeConnector()
        let p = try Pool(name: "t", options: PoolOptions(min: 0, max: 2), connector: fc.connector)
        for _ in 0..<20 {
            switch p.checkout({ _ in }) {
            case .create(let permit): p.release(p.fill(permit, with: FakeConn(1)))
            case .ready(let l): p.release(l)
            default: return XCTFail("no connection")
            }
        }
        XCTAssertEqual(fc.closedList, [])
        XCTAssertEqual(p.stats.createdTotal, 1)
    }

    func testIdleEvictionKeepsMinAndMaintainRefills() throws {
        let clock = ManualClock()
        let (p, fc) = try makePool(min: 1, max: 3, clock: clock, idle: 10)
        let ps = p.maintain()
        XCTAssertEqual(ps.count, 1, "min 1: one connection to make")
        p.fillIdle(ps[0], with: FakeConn(1))
        XCTAssertEqual(p.maintain().count, 0)
        let a = lease(p.checkout { _ in })!
        let b = p.fill(permit(p.checkout { _ in })!, with: FakeConn(2))
        let c = p.fill(permit(p.checkout { _ in })!, with: FakeConn(3))
        p.release(a); p.release(b); p.release(c)
        clock.advance(seconds: 5)
        XCTAssertEqual(p.maintain().count, 0)
        XCTAssertEqual(p.stats.idle, 3)
        clock.advance(seconds: 6)
        _ = p.maintain()
        XCTAssertEqual(p.stats.idle, 1, "idle past idle_timeout closed down to min")
        XCTAssertEqual(fc.closedList.count, 2)
    }

    // MARK: size

    func testResizeUpServesWaitersAndDownClosesIdle() throws {
        let (p, fc) = try makePool(max: 1)
        let a = p.fill(permit(p.checkout { _ in })!, with: FakeConn(1))
        var got: Pool<FakeConn>.Checkout?
        _ = ticket(p.checkout { got = $0 })
        try p.resize(3)
        XCTAssertNotNil(permit(got!))
        XCTAssertEqual(p.stats.max, 3, "above max: max follows")
        p.abandon(permit(got!)!)
        p.release(a)
        try p.resize(1)
        XCTAssertEqual(p.stats.capacity, 1)
        XCTAssertEqual(lease(p.checkout { _ in })?.connection.n, 1)
        XCTAssertNotNil(ticket(p.checkout { _ in }), "size 1, in use: the next one waits")
        XCTAssertEqual(fc.closedList, [])
    }

    func testShrinkClosesReturnedConnectionsAboveTheSize() throws {
        let (p, fc) = try makePool(max: 3)
        let ls = (1...3).map { p.fill(permit(p.checkout { _ in })!, with: FakeConn($0)) }
        try p.resize(1)
        for l in ls { p.release(l) }
        XCTAssertEqual(fc.closedList, [1, 2])
        XCTAssertEqual(p.stats.size, 1)
    }

    func testSetCapacityWithinBoundsClamps() throws {
        let (p, _) = try makePool(min: 2, max: 8)
        XCTAssertEqual(p.setCapacityWithinBounds(50), 8)
        XCTAssertEqual(p.setCapacityWithinBounds(0), 2)
        XCTAssertEqual(p.stats.max, 8)
    }

    func testCloseFailsWaitersAndLaterCheckouts() throws {
        let (p, fc) = try makePool(max: 1)
        let a = p.fill(permit(p.checkout { _ in })!, with: FakeConn(1))
        var got: Pool<FakeConn>.Checkout?
        _ = ticket(p.checkout { got = $0 })
        p.close()
        if case .failed(let e) = got! { XCTAssertEqual(e.kind, .closed) } else { XCTFail("\(got!)") }
        if case .failed = p.checkout({ _ in }) {} else { XCTFail("a closed pool lends nothing") }
        p.release(a)
        XCTAssertEqual(fc.closedList, [1], "returned to a closed pool: closed")
    }

    // MARK: threads

    func testBlockingAcquireTimesOutAtItsDeadline() throws {
        let (p, _) = try makePool(max: 1)
        let a = try p.acquire()
        let start = Deadline.now()
        XCTAssertThrowsError(try p.acquire(timeout: 0.2)) { XCTAssertEqual(($0 as? PoolError)?.kind, .timeout) }
        XCTAssertGreaterThanOrEqual(Deadline.now().nanoseconds - start.nanoseconds, 200_000_000, "not before its deadline")
        XCTAssertEqual(p.stats.waiting, 0)
        p.release(a)
    }

    func testBlockingAcquireWakesWhenAnotherThreadReleases() throws {
        let (p, _) = try makePool(max: 1)
        let a = try p.acquire()
        let t = Thread { usleep(50_000); p.release(a) }
        t.start()
        let b = try p.acquire(timeout: 30)
        XCTAssertEqual(b.connection.n, a.connection.n)
    }

    func testConnectFailureIsReported() throws {
        let (p, fc) = try makePool(max: 1)
        fc.failNext = true
        XCTAssertThrowsError(try p.acquire()) { XCTAssertEqual(($0 as? PoolError)?.kind, .connect) }
        XCTAssertEqual(p.stats.creating, 0)
        XCTAssertNoThrow(try p.acquire())
    }

    func testManyThreadsNeverExceedMaxAndEveryoneIsServed() throws {
        let (p, fc) = try makePool(max: 3)
        let inUse = NSLockish()
        var current = 0, peak = 0, done = 0
        let threads = 8, rounds = 2000
        var ts: [Thread] = []
        for _ in 0..<threads {
            let t = Thread {
                for _ in 0..<rounds {
                    guard let l = try? p.acquire(timeout: 60) else { XCTFail("acquire failed"); return }
                    inUse.run { current += 1; peak = max(peak, current) }
                    inUse.run { current -= 1 }
                    p.release(l)
                }
                inUse.run { done += 1 }
            }
            ts.append(t)
            t.start()
        }
        while inUse.run({ done }) < threads { usleep(1000) }
        XCTAssertLessThanOrEqual(peak, 3)
        XCTAssertLessThanOrEqual(fc.made, 3)
        let s = p.stats
        XCTAssertEqual(s.acquiredTotal, threads * rounds)
        XCTAssertEqual(s.checkedOut, 0)
        XCTAssertEqual(s.waiting, 0)
        XCTAssertEqual(s.acquireWait.count, UInt64(threads * rounds))
    }

    // MARK: histogram

    func testHistogramQuantilesWithinOneSixteenth() {
        var h = LogLinearHistogram()
        for v in 1...10_000 { h.record(UInt64(v) * 1000) }
        for q in [0.5, 0.9, 0.99] {
            let exact = q * 10_000_000
            let got = Double(h.quantile(q))
            XCTAssertLessThanOrEqual(abs(got - exact) / exact, 1.0 / 16, "q\(q): \(got) vs \(exact)")
        }
        XCTAssertEqual(h.count, 10_000)
        XCTAssertEqual(h.max, 10_000_000)
        XCTAssertEqual(h.countAtMost(0), 0)
        XCTAssertEqual(h.countAtMost(UInt64.max), 10_000)
        var small = LogLinearHistogram()
        for v: UInt64 in [0, 1, 15, 16, 17, 1 << 50] { small.record(v) }
        XCTAssertEqual(small.quantile(0), 0)
        XCTAssertEqual(small.countAtMost(15), 3)
        XCTAssertEqual(small.max, 1 << 50)
        for i in 0..<LogLinearHistogram.bucketCount - 1 {
            XCTAssertEqual(LogLinearHistogram.index(LogLinearHistogram.upperBound(i)), i)
            XCTAssertEqual(LogLinearHistogram.index(LogLinearHistogram.upperBound(i) + 1), i + 1)
        }
    }
}
