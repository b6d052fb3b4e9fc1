import EventLoop
import Foundation
import XCTest

/// Runs the loop until `done` or `limit` seconds passed (a generous safety net, not a timing
/// assertion).
func drive(_ loop: EventLoop, limit: Double = 20, until done: () -> Bool) {
    let stop = Deadline.after(seconds: limit)
    while !done() && Deadline.now() < stop {
        _ = loop.runOnce(until: stop)
    }
}

func makePipe() -> (r: Int32, w: Int32) {
    var fds: [Int32] = [0, 0]
    precondition(pipe(&fds) == 0)
    for fd in fds {
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
    }
    return (fds[0], fds[1])
}

final class EventLoopTests: XCTestCase {
    func testDeadlineBasics() {
        let a = Deadline.now()
        let b = Deadline.after(seconds: 1)
        XCTAssertLessThan(a, b)
        XCTAssertGreaterThan(b.secondsFromNow, 0.5)
        XCTAssertLessThan(Deadline.after(seconds: -1).secondsFromNow, 0.001)
        XCTAssertGreaterThan(Deadline.distantFuture.secondsFromNow, 1e9)
        XCTAssertEqual(Deadline.after(seconds: .infinity), .distantFuture)
    }

    func testPipeBecomesReadable() throws {
        let loop = try EventLoop()
        let (r, w) = makePipe()
        defer { close(r); close(w) }
        var outcomes: [WaitOutcome] = []
        loop.watch(fd: r, events: .readable, deadline: .after(seconds: 30)) { outcomes.append($0) }
        XCTAssertEqual(loop.pendingCount, 1)
        XCTAssertEqual(write(w, "x", 1), 1)
        drive(loop) { !outcomes.isEmpty }
        XCTAssertEqual(outcomes, [.ready(.readable)])
        XCTAssertEqual(loop.pendingCount, 0)
        // Nothing pending: runOnce(until: nil) returns at once.
        XCTAssertEqual(loop.runOnce(until: nil), 0)
        XCTAssertEqual(outcomes.count, 1)
    }

    func testWatchDeadlinePasses() throws {
        let loop = try EventLoop()
        let (r, w) = makePipe()
        defer { close(r); close(w) }
        var outcomes: [WaitOutcome] = []
        loop.watch(fd: r, events: .readable, deadline: .after(seconds: 0.05)) { outcomes.append($0) }
        drive(loop) { !outcomes.isEmpty }
        XCTAssertEqual(outcomes, [.timedOut])
        XCTAssertEqual(loop.pendingCount, 0)
        // Data arriving later does not run the handler again.
        XCTAssertEqual(write(w, "x", 1), 1)
        _ = loop.runOnce(until: .after(seconds: 0.05))
        XCTAssertEqual(outcomes, [.timedOut])
    }

    func testCancelGivesCancelledOnce() throws {
        let loop = try EventLoop()
        let (r, w) = makePipe()
        defer { close(r); close(w) }
        var fdOutcomes: [WaitOutcome] = []
        var timerOutcomes: [WaitOutcome] = []
        let t1 = loop.watch(fd: r, events: .readable, deadline: .after(seconds: 0.05)) { fdOutcomes.append($0) }
        let t2 = loop.timer(at: .after(seconds: 0.05)) { timerOutcomes.append($0) }
        loop.cancel(t1)
        loop.cancel(t2)
        // Synchronous: the handlers already ran.
        XCTAssertEqual(fdOutcomes, [.cancelled])
        XCTAssertEqual(timerOutcomes, [.cancelled])
        loop.cancel(t1)
        loop.cancel(t2)
        XCTAssertEqual(write(w, "x", 1), 1)
        _ = loop.runOnce(until: .after(seconds: 0.15))
        _ = loop.runOnce(until: .after(seconds: 0.05))
        XCTAssertEqual(fdOutcomes, [.cancelled])
        XCTAssertEqual(timerOutcomes, [.cancelled])
        XCTAssertEqual(loop.pendingCount, 0)
    }

    func testCancelAfterItRanIsHarmless() throws {
        let loop = try EventLoop()
        var outcomes: [WaitOutcome] = []
        let t = loop.timer(at: .now()) { outcomes.append($0) }
        drive(loop) { !outcomes.isEmpty }
        loop.cancel(t)
        XCTAssertEqual(outcomes, [.timedOut])
    }

    func testHundredTimersRunConcurrently() throws {
        let loop = try EventLoop()
        var fired = 0
        let start = Deadline.now()
        for _ in 0..<100 {
            loop.timer(at: .after(seconds: 0.1)) { o in
                XCTAssertEqual(o, .timedOut)
                fired += 1
            }
        }
        XCTAssertEqual(loop.pendingCount, 100)
        drive(loop) { fired == 100 }
        let elapsed = -start.secondsFromNow
        XCTAssertEqual(fired, 100)
        XCTAssertGreaterThanOrEqual(elapsed, 0.09)
        XCTAssertLessThan(elapsed, 1.0)
        XCTAssertEqual(loop.pendingCount, 0)
    }

    func testTimersFireInDeadlineOrder() throws {
        let loop = try EventLoop()
        var order: [Int] = []
        let base = Deadline.now().nanoseconds + 30_000_000
        let offsets = [5, 1, 4, 2, 3, 0, 2]   // ms; the two 2s must keep insertion order
        for (i, ms) in offsets.enumerated() {
            loop.timer(at: Deadline(nanoseconds: base + UInt64(ms) * 1_000_000)) { _ in order.append(i) }
        }
        drive(loop) { order.count == offsets.count }
        XCTAssertEqual(order, [5, 1, 3, 6, 4, 2, 0])
    }

    func testWakeUpFromAnotherThread() throws {
        let loop = try EventLoop()
        // A timer far away keeps the loop waiting.
        var timerOutcome: WaitOutcome?
        let t = loop.timer(at: .after(seconds: 60)) { timerOutcome = $0 }
        let waker = loop.waker
        let fd = loop.wakeFD
        let start = Deadline.now()
        let thread = Thread {
            usleep(100_000)
            waker.wake()
        }
        thread.start()
        let ran = loop.runOnce(until: nil)
        XCTAssertEqual(ran, 0)
        XCTAssertLessThan(-start.secondsFromNow, 30)
        XCTAssertNil(timerOutcome)
        // A raw write(2) on wakeFD, as C code or a signal handler would do it, works too.
        let thread2 = Thread {
            usleep(50_000)
            var one: UInt64 = 1
            _ = write(fd, &one, 8)
        }
        thread2.start()
        XCTAssertEqual(loop.runOnce(until: .after(seconds: 30)), 0)
        XCTAssertLessThan(-start.secondsFromNow, 50)
        loop.cancel(t)
        XCTAssertEqual(timerOutcome, .cancelled)
    }

    func testReadAndWriteWatchesOnOneSocket() throws {
        let loop = try EventLoop()
        var sv: [Int32] = [0, 0]
        XCTAssertEqual(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0, &sv), 0)
        defer { close(sv[0]); close(sv[1]) }
        var readOutcome: WaitOutcome?
        var writeOutcome: WaitOutcome?
        loop.watch(fd: sv[0], events: .readable, deadline: .after(seconds: 30)) { readOutcome = $0 }
        loop.watch(fd: sv[0], events: .writable, deadline: .after(seconds: 30)) { writeOutcome = $0 }
        // The socket is writable at once; not readable yet.
        drive(loop) { writeOutcome != nil }
        XCTAssertEqual(writeOutcome, .ready(.writable))
        XCTAssertNil(readOutcome)
        XCTAssertEqual(loop.pendingCount, 1)
        // The read watch survives the write watch's end (re-armed with MOD).
        XCTAssertEqual(write(sv[1], "hello", 5), 5)
        drive(loop) { readOutcome != nil }
        XCTAssertEqual(readOutcome, .ready(.readable))
        XCTAssertEqual(loop.pendingCount, 0)

        // Both at once when both are ready; and a handler may re-register on the same fd.
        readOutcome = nil; writeOutcome = nil
        var again: WaitOutcome?
        loop.watch(fd: sv[0], events: .readable, deadline: nil) { o in
            readOutcome = o
            loop.watch(fd: sv[0], events: .writable, deadline: nil) { again = $0 }
        }
        loop.watch(fd: sv[0], events: .writable, deadline: nil) { writeOutcome = $0 }
        drive(loop) { readOutcome != nil && writeOutcome != nil && again != nil }
        XCTAssertEqual(readOutcome, .ready(.readable))
        XCTAssertEqual(writeOutcome, .ready(.writable))
        XCTAssertEqual(again, .ready(.writable))
        XCTAssertEqual(loop.pendingCount, 0)
    }

    func testHangupIsReported() throws {
        let loop = try EventLoop()
        let (r, w) = makePipe()
        defer { close(r) }
        var outcome: WaitOutcome?
        loop.watch(fd: r, events: .readable, deadline: .after(seconds: 30)) { outcome = $0 }
        close(w)
        drive(loop) { outcome != nil }
        guard case .ready(let ev)? = outcome else { return XCTFail("\(String(describing: outcome))") }
        XCTAssertTrue(ev.contains(.hangup), "\(ev)")
    }

    func testFdClosedByOwnerAfterWatchEndedAndReused() throws {
        let loop = try EventLoop()
        var (r, w) = makePipe()
        var outcome: WaitOutcome?
        loop.watch(fd: r, events: .readable, deadline: nil) { outcome = $0 }
        XCTAssertEqual(write(w, "x", 1), 1)
        drive(loop) { outcome != nil }
        close(r); close(w)
        // The fd numbers are likely reused by the next pipe.
        (r, w) = makePipe()
        defer { close(r); close(w) }
        outcome = nil
        loop.watch(fd: r, events: .readable, deadline: nil) { outcome = $0 }
        XCTAssertEqual(write(w, "y", 1), 1)
        drive(loop) { outcome != nil }
        XCTAssertEqual(outcome, .ready(.readable))
    }

    func testFdClosedWhileWatchedThenReused() throws {
        let loop = try EventLoop()
        var (r, w) = makePipe()
        var first: WaitOutcome?
        let t = loop.watch(fd: r, events: .readable, deadline: nil) { first = $0 }
        _ = loop.runOnce(until: .after(seconds: 0.01))   // registers r in epoll
        close(r); close(w)                               // epoll drops it silently
        loop.cancel(t)
        XCTAssertEqual(first, .cancelled)
        (r, w) = makePipe()
        defer { close(r); close(w) }
        var second: WaitOutcome?
        loop.watch(fd: r, events: .readable, deadline: .after(seconds: 30)) { second = $0 }
        XCTAssertEqual(write(w, "z", 1), 1)
        drive(loop) { second != nil }
        XCTAssertEqual(second, .ready(.readable))
    }

    func testPersistentWatchFiresRepeatedlyUntilUnwatched() throws {
        let loop = try EventLoop()
        let (r, w) = makePipe()
        defer { close(r); close(w) }
        var fired = 0
        var token: WaitToken?
        token = loop.watchPersistent(fd: r, events: .readable) { ev in
            XCTAssertTrue(ev.contains(.readable))
            var b: UInt8 = 0
            _ = read(r, &b, 1)
            fired += 1
            if fired == 3 { loop.unwatch(token!) }
        }
        XCTAssertEqual(loop.pendingCount, 1)
        for i in 0..<3 {
            XCTAssertEqual(write(w, "a", 1), 1)
            drive(loop) { fired == i + 1 }
        }
        XCTAssertEqual(fired, 3)
        XCTAssertEqual(loop.pendingCount, 0)
        XCTAssertEqual(write(w, "b", 1), 1)
        _ = loop.runOnce(until: .after(seconds: 0.05))
        XCTAssertEqual(fired, 3)
    }

    func testPersistentUpdateChangesEvents() throws {
        let loop = try EventLoop()
        let (r, w) = makePipe()
        defer { close(r); close(w) }
        var seen: [IOEvents] = []
        let t = loop.watchPersistent(fd: w, events: []) { seen.append($0) }
        _ = loop.runOnce(until: .after(seconds: 0.02))
        XCTAssertEqual(seen, [])
        loop.update(t, events: .writable)
        drive(loop) { !seen.isEmpty }
        XCTAssertEqual(seen.first, .writable)
        loop.unwatch(t)
        loop.unwatch(t)
        XCTAssertEqual(loop.pendingCount, 0)
    }

    func testHandlersMayRegisterAndCancelDuringDispatch() throws {
        let loop = try EventLoop()
        var log: [String] = []
        var victim: WaitToken?
        loop.timer(at: .now()) { _ in
            log.append("a")
            if let v = victim { loop.cancel(v) }
            loop.timer(at: .now()) { _ in log.append("c") }
        }
        victim = loop.timer(at: .now()) { o in log.append(o == .cancelled ? "b-cancelled" : "b") }
        drive(loop) { log.count == 3 }
        XCTAssertEqual(log, ["a", "b-cancelled", "c"])
    }

    func testRegularFileIsAlwaysReady() throws {
        let loop = try EventLoop()
        let fd = open("/proc/self/stat", O_RDONLY)
        XCTAssertGreaterThanOrEqual(fd, 0)
        defer { close(fd) }
        var outcome: WaitOutcome?
        loop.watch(fd: fd, events: .readable, deadline: .after(seconds: 30)) { outcome = $0 }
        drive(loop) { outcome != nil }
        XCTAssertEqual(outcome, .ready(.readable))
    }

    func testManyCancelledTimersAndWatches() throws {
        let loop = try EventLoop()
        let (r, w) = makePipe()
        defer { close(r); close(w) }
        var cancelled = 0
        for _ in 0..<5_000 {
            let t = loop.timer(at: .after(seconds: 3600)) { if $0 == .cancelled { cancelled += 1 } }
            let u = loop.watch(fd: r, events: .readable, deadline: .after(seconds: 3600)) { if $0 == .cancelled { cancelled += 1 } }
            loop.cancel(u)
            loop.cancel(t)
        }
        XCTAssertEqual(cancelled, 10_000)
        XCTAssertEqual(loop.pendingCount, 0)
        var fired = false
        loop.timer(at: .now()) { _ in fired = true }
        drive(loop) { fired }
        XCTAssertTrue(fired)
        XCTAssertEqual(loop.runOnce(until: nil), 0)
    }

    /// A signal interrupting epoll_wait (EINTR, no SA_RESTART) is not an error: runOnce
    /// returns early and the loop keeps working.
    func testSignalInterruptingWaitIsNotAnError() throws {
        let loop = try EventLoop()
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in }
        action.sa_flags = 0                       // no SA_RESTART: epoll_wait fails with EINTR
        sigemptyset(&action.sa_mask)
        var old = sigaction()
        XCTAssertEqual(sigaction(SIGUSR2, &action, &old), 0)
        defer { sigaction(SIGUSR2, &old, nil) }

        var fired = false
        loop.timer(at: .after(seconds: 60)) { o in if o == .timedOut { fired = true } }
        let target = pthread_self()
        let stop = StopFlag()
        let thread = Thread {
            for _ in 0..<500 where !stop.isSet {
                usleep(20_000)
                pthread_kill(target, SIGUSR2)
            }
        }
        thread.start()
        let ran = loop.runOnce(until: .after(seconds: 30))
        stop.set()
        XCTAssertEqual(ran, 0)
        XCTAssertFalse(fired)
        XCTAssertEqual(loop.pendingCount, 1)
        var second = false
        loop.timer(at: .now()) { _ in second = true }
        drive(loop) { second }
        XCTAssertTrue(second)
        while thread.isExecuting { usleep(10_000) }
    }
}

final class StopFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }
    func set() { lock.lock(); value = true; lock.unlock() }
}
