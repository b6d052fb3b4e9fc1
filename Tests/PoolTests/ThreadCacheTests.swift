import EventLoop
import Foundation
@testable import Pool
import XCTest

/// Runs `body` on a new thread and waits until that thread has exited.
func onAnotherThread(_ body: @escaping @Sendable () -> Void) {
    final class Job { let body: @Sendable () -> Void; init(_ b: @escaping @Sendable () -> Void) { body = b } }
    var t = pthread_t()
    let arg = Unmanaged.passRetained(Job(body)).toOpaque()
    pthread_create(&t, nil, { raw in
        Unmanaged<Job>.fromOpaque(raw!).takeRetainedValue().body()
        return nil
    }, arg)
    pthread_join(t, nil)
}

/// The thread's cache of one idle connection in front of the pool's lock (Sources/Pool/ThreadCache.swift).
final class ThreadCacheTests: XCTestCase {
    func makePool(min: Int = 0, max: Int = 2, clock: ManualClock = ManualClock(), lifetime: Double = 1800,
                  idle: Double = 600) throws -> (Pool<FakeConn>, FakeConnector) {
        try makeFakePool(min: min, max: max, clock: clock, lifetime: lifetime, idle: idle)
    }

    /// A connection made, checked out and returned on this thread: it is now in this thread's cache.
    func cacheOne(_ p: Pool<FakeConn>, _ n: Int = 1) -> Pool<FakeConn>.Lease {
        guard case .create(let pm) = p.checkout({ _ in }) else { fatalError("expected a permit") }
        let l = p.fill(pm, with: FakeConn(n))
        p.release(l)
        return l
    }

    func state(_ p: Pool<FakeConn>, _ id: Int) -> UInt64 { p.state.withLock { $0.slots[id].state } }

    func testAReturnIsTakenBackByTheSameThreadWithoutTheLockAndCounted() throws {
        let (p, _) = try makePool()
        let a = cacheOne(p)
        XCTAssertEqual(state(p, a.id), SlotCell.cached)
        var s = p.stats
        XCTAssertEqual(s.idle, 1)
        XCTAssertEqual(s.checkedOut, 0)
        XCTAssertEqual(s.size, 1)
        for _ in 0..<10 {
            let b = try XCTUnwrap(p.checkoutCached(), "the thread's own cached connection")
            XCTAssertEqual(b.id, a.id)
            XCTAssertEqual(p.stats.checkedOut, 1)
            p.release(b)
        }
        s = p.stats
        XCTAssertEqual(s.acquiredTotal, 11, "the first checkout (a new connection) and ten cache hits")
        XCTAssertEqual(s.acquireWait.count, 11)
        XCTAssertEqual(s.acquireWait.countAtMost(0), 11, "a cache hit waited 0 ns (and the first, on the test's clock that does not move)")
        XCTAssertEqual(s.createdTotal, 1)
    }

    func testWithWaitersQueuedAReturnIsHandedToTheOldestWaiterNotCached() throws {
        let (p, _) = try makePool(max: 1)
        guard case .create(let pm) = p.checkout({ _ in }) else { return XCTFail("expected a permit") }
        let a = p.fill(pm, with: FakeConn(1))
        var got: [Pool<FakeConn>.Checkout] = []
        guard case .waiting = p.checkout({ got.append($0) }) else { return XCTFail("max 1, in use: waits") }
        p.release(a)
        XCTAssertEqual(got.count, 1)
        guard case .ready(let b) = got[0] else { return XCTFail("\(got[0])") }
        XCTAssertEqual(b.id, a.id)
        XCTAssertNil(p.checkoutCached(), "handed on: nothing stays in the releasing thread's cache")
        // a newcomer from the releasing thread queues behind the next waiter, too
        var second: Pool<FakeConn>.Checkout?
        guard case .waiting = p.checkout({ second = $0 }) else { return XCTFail("in use: waits") }
        p.release(b)
        guard case .ready = second else { return XCTFail("\(String(describing: second))") }
        XCTAssertEqual(p.stats.waiting, 0)
    }

    func testTheFirstWaiterTakesBackAConnectionAnotherThreadCached() throws {
        let (p, _) = try makePool(max: 1)
        let id = Box(-1)
        onAnotherThread { id.value = self.cacheOne(p).id }
        XCTAssertEqual(state(p, id.value), SlotCell.cached, "cached by a thread that has exited")
        // the pool is at its size and nothing is idle in its list: the cached one is taken back
        guard case .ready(let l) = p.checkout({ _ in }) else { return XCTFail("not lent") }
        XCTAssertEqual(l.id, id.value)
        XCTAssertEqual(p.stats.createdTotal, 1)
        XCTAssertEqual(p.stats.checkedOut, 1)
    }

    func testBelowItsSizeThePoolReusesAnotherThreadsCachedConnectionBeforeMakingOne() throws {
        let (p, _) = try makePool(max: 4)
        onAnotherThread { _ = self.cacheOne(p) }
        guard case .ready = p.checkout({ _ in }) else { return XCTFail("made a new connection while one was idle") }
        XCTAssertEqual(p.stats.size, 1)
    }

    func testAffinityChoosesAmongCachedConnectionsToo() throws {
        let (p, _) = try makePool(max: 3)
        guard case .create(let p1) = p.checkout({ _ in }), case .create(let p2) = p.checkout({ _ in }) else { return XCTFail("permits") }
        let a = p.fill(p1, with: FakeConn(1)), b = p.fill(p2, with: FakeConn(2))
        p.release(a)                       // cached
        p.release(b)                       // the thread holds one already: to the idle list
        XCTAssertEqual(state(p, a.id), SlotCell.cached)
        XCTAssertEqual(Set(p.idleIDs), [a.id, b.id])
        var offered: [Int] = []
        guard case .ready(let l) = p.checkout(choosing: { free in offered = free; return a.id }, { _ in }) else { return XCTFail("not lent") }
        XCTAssertEqual(Set(offered), [a.id, b.id])
        XCTAssertEqual(l.id, a.id)
    }

    func testResizeDownClosesACachedConnectionFirst() throws {
        let (p, fc) = try makePool(max: 2)
        guard case .create(let p1) = p.checkout({ _ in }), case .create(let p2) = p.checkout({ _ in }) else { return XCTFail("permits") }
        let a = p.fill(p1, with: FakeConn(1)), b = p.fill(p2, with: FakeConn(2))
        p.release(a)
        XCTAssertEqual(state(p, a.id), SlotCell.cached)
        try p.resize(1)
        XCTAssertEqual(fc.closedList, [1], "the cached (idle) connection closes, not the one in use")
        XCTAssertEqual(p.stats.size, 1)
        XCTAssertNil(p.checkoutCached())
        p.release(b)
        XCTAssertEqual(fc.closedList, [1], "at the size now: kept")
        XCTAssertEqual(p.stats.idle, 1)
    }

    func testAReturnAboveTheSizeIsClosedNotCached() throws {
        let (p, fc) = try makePool(max: 2)
        guard case .create(let p1) = p.checkout({ _ in }), case .create(let p2) = p.checkout({ _ in }) else { return XCTFail("permits") }
        let a = p.fill(p1, with: FakeConn(1)), b = p.fill(p2, with: FakeConn(2))
        try p.resize(1)
        p.release(a)
        XCTAssertEqual(fc.closedList, [1])
        p.release(b)
        XCTAssertEqual(fc.closedList, [1])
        XCTAssertEqual(state(p, b.id), SlotCell.cached, "back within the size: returns are cached again")
    }

    func testACachedConnectionPastItsLifetimeIsClosedNotLent() throws {
        let clock = ManualClock()
        let (p, fc) = try makePool(clock: clock, lifetime: 60)
        _ = cacheOne(p)
        clock.advance(seconds: 61)
        XCTAssertNil(p.checkoutCached())
        XCTAssertEqual(fc.closedList, [1])
        guard case .create = p.checkout({ _ in }) else { return XCTFail("a new one is made") }
        XCTAssertEqual(p.stats.size, 0)
    }

    func testMaintainClosesCachedConnectionsPastTheirLifetimeOrIdleTooLong() throws {
        let clock = ManualClock()
        let (p, fc) = try makePool(clock: clock, lifetime: 60, idle: 10)
        _ = cacheOne(p)
        clock.advance(seconds: 11)
        XCTAssertEqual(p.maintain().count, 0)
        XCTAssertEqual(fc.closedList, [1], "idle past idle_timeout in a thread's cache: closed")
        XCTAssertNil(p.checkoutCached())
        let (q, qc) = try makePool(clock: clock, lifetime: 60, idle: 0)
        _ = cacheOne(q, 7)
        clock.advance(seconds: 61)
        _ = q.maintain()
        XCTAssertEqual(qc.closedList, [7], "past max_lifetime in a thread's cache: closed")
        XCTAssertEqual(q.stats.size, 0)
    }

    /// (A cached connection idle past the interval, failing validation: PoolTests'
    /// testBlockingAcquireDropsAConnectionThatFailsValidation, whose connection is cached.)
    func testACachedConnectionJustReturnedNeedsNoValidation() throws {
        let (p, _) = try makePool()
        let a = try p.acquire()
        p.release(a)
        XCTAssertFalse(try XCTUnwrap(p.checkoutCached()).needsValidation, "just returned: no ping")
    }

    func testCloseClosesCachedConnectionsAndLaterReturnsAndCheckouts() throws {
        let (p, fc) = try makePool(max: 2)
        guard case .create(let p1) = p.checkout({ _ in }), case .create(let p2) = p.checkout({ _ in }) else { return XCTFail("permits") }
        let a = p.fill(p1, with: FakeConn(1)), b = p.fill(p2, with: FakeConn(2))
        p.release(a)
        p.close()
        XCTAssertEqual(fc.closedList, [1])
        XCTAssertNil(p.checkoutCached())
        if case .failed = p.checkout({ _ in }) {} else { XCTFail("a closed pool lends nothing") }
        p.release(b)
        XCTAssertEqual(fc.closedList, [1, 2], "returned to a closed pool: closed, not cached")
        XCTAssertEqual(p.stats.size, 0)
    }

    func testAPoolGoneAndAnotherMadeNeverSeeEachOthersEntries() throws {
        var p: Pool<FakeConn>? = try makePool().0
        _ = cacheOne(p!)
        p = nil                            // deinit closes it, taking the cached one back
        let (q, _) = try makePool()
        XCTAssertNil(q.checkoutCached())
        let l = cacheOne(q, 5)
        XCTAssertEqual(try XCTUnwrap(q.checkoutCached()).connection.n, 5)
        _ = l
    }

    func testAReturnedLeaseReturnedAgainFromTheCacheIsIgnored() throws {
        let (p, _) = try makePool()
        let a = cacheOne(p)
        p.release(a)                       // cached already: the second return is refused
        p.discard(a)
        XCTAssertEqual(p.stats.closedTotal, 0)
        let b = try XCTUnwrap(p.checkoutCached())
        p.release(a)                       // a previous loan of the same slot
        XCTAssertEqual(p.stats.checkedOut, 1)
        XCTAssertEqual(state(p, b.id), SlotCell.out)
        p.release(b)
    }

    /// Both cores: two threads share a pool of one. Each return with the other thread queued
    /// must go to it (a cached connection would leave it waiting until its deadline): no acquire
    /// times out, and the counts add up exactly.
    func testTwoThreadsOnAPoolOfOneNeverStarveAWaiter() throws {
        let (p, fc) = try makePool(max: 1)
        let rounds = 20_000
        let failures = Box(0)
        let lock = NSLockish()
        let group = DispatchGroup()
        for _ in 0..<2 {
            group.enter()
            Thread {
                for _ in 0..<rounds {
                    do {
                        let l = try p.acquire(timeout: 20)
                        p.release(l)
                    } catch { lock.run { failures.value += 1 } }
                }
                group.leave()
            }.start()
        }
        group.wait()
        XCTAssertEqual(failures.value, 0, "an acquire timed out: a waiter starved")
        let s = p.stats
        XCTAssertEqual(s.acquiredTotal, 2 * rounds)
        XCTAssertEqual(s.acquireWait.count, UInt64(2 * rounds))
        XCTAssertEqual(s.checkedOut, 0)
        XCTAssertEqual(s.waiting, 0)
        XCTAssertEqual(s.timeoutsTotal, 0)
        XCTAssertEqual(fc.made, 1)
    }

    /// Both cores, more threads than connections, with checkouts that queue (the event-loop
    /// form) and blocking ones: never more than max lent at once, nobody starves, exact counts.
    func testManyThreadsWithWaitersNeverExceedMaxAndCountExactly() throws {
        let (p, fc) = try makePool(max: 2)
        let threads = 4, rounds = 5_000
        let lock = NSLockish()
        let inUse = Box(0), peak = Box(0), failures = Box(0)
        let group = DispatchGroup()
        for _ in 0..<threads {
            group.enter()
            Thread {
                for _ in 0..<rounds {
                    guard let l = try? p.acquire(timeout: 20) else { lock.run { failures.value += 1 }; continue }
                    lock.run { inUse.value += 1; peak.value = max(peak.value, inUse.value) }
                    lock.run { inUse.value -= 1 }
                    p.release(l)
                }
                group.leave()
            }.start()
        }
        group.wait()
        XCTAssertEqual(failures.value, 0)
        XCTAssertLessThanOrEqual(peak.value, 2)
        XCTAssertLessThanOrEqual(fc.made, 2)
        let s = p.stats
        XCTAssertEqual(s.acquiredTotal, threads * rounds)
        XCTAssertEqual(s.acquireWait.count, UInt64(threads * rounds))
        XCTAssertEqual(s.checkedOut, 0)
        XCTAssertEqual(s.idle, s.size)
    }
}

final class Box<T>: @unchecked Sendable {
    var value: T
    init(_ v: T) { value = v }
}
