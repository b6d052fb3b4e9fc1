import EventLoop
import Synchronization

/// A pool of connections of any type, generic over the connection (a class: a socket, a
/// client). It does the accounting and the fairness; the caller does the I/O:
///
/// - `checkout` hands out an idle connection at once (`.ready`), or lets the caller make a new
///   one (`.create`: make it, then `fill` or `abandon` the permit), or queues the caller
///   (`.waiting`) in one FIFO queue. A connection returned or a slot freed goes to the oldest
///   waiter first, never to a newcomer: no barging, so no waiter starves.
/// - Nothing blocks inside the pool and no I/O happens under its lock, so it serves opsh's
///   single-threaded event loop (a waiter's completion only marks its task ready) and threads
///   alike; `acquire(timeout:)` is the blocking form for threads, on `Connector`'s closures.
/// - An idle connection unused for longer than `validationInterval` comes out with
///   `needsValidation` (ping it; `discard` it if dead); one older than `maxLifetime` or idle
///   past `idleTimeout` above `min` is closed by `checkout`, `release` and `maintain`.
///
/// Completions run on the thread that made a connection free (`release`, `discard`,
/// `resize`, `cancel`'s caller never), after the pool's lock is dropped.
public final class Pool<Connection: AnyObject>: @unchecked Sendable {
    /// What the blocking `acquire` and the pool's own closing use.
    public struct Connector: Sendable {
        /// Closes a connection the pool drops (expired, idle, broken, above capacity).
        public var close: @Sendable (Connection) -> Void
        /// Makes a new connection before the deadline (only `acquire(timeout:)` calls it).
        public var create: (@Sendable (Deadline) throws -> Connection)?
        /// True when the connection still works (only `acquire(timeout:)` calls it).
        public var validate: (@Sendable (Connection) -> Bool)?

        public init(close: @escaping @Sendable (Connection) -> Void,
                    create: (@Sendable (Deadline) throws -> Connection)? = nil,
                    validate: (@Sendable (Connection) -> Bool)? = nil) {
            self.close = close; self.create = create; self.validate = validate
        }
    }

    /// A connection lent by the pool; give it back with `release` or `discard`, exactly once.
    public struct Lease: @unchecked Sendable {
        public let connection: Connection
        /// The pool's number for the connection (stable while it lives; affinity keys on it).
        public let id: Int
        let generation: UInt32
        /// Idle for longer than the validation interval: check it before use.
        public let needsValidation: Bool
    }

    /// The right to make one new connection: the slot is reserved for it.
    public struct CreatePermit: Sendable {
        let startedAt: UInt64
    }

    public enum Checkout {
        case ready(Lease)
        case create(CreatePermit)
        case waiting(WaitTicket)
        case failed(PoolError)
    }

    public struct WaitTicket: Hashable, Sendable { let id: UInt64 }

    public typealias Completion = (Checkout) -> Void

    public let name: String
    let connector: Connector
    let clock: PoolClock
    let state: Mutex<PoolState>

    public init(name: String, options: PoolOptions, connector: Connector, clock: PoolClock = .monotonic) throws(PoolError) {
        try options.validate()
        self.name = name
        self.connector = connector
        self.clock = clock
        self.state = Mutex(PoolState(options: options, capacity: options.max))
    }

    deinit { close() }

    // MARK: checkout and return

    /// An idle connection, the right to make one, or a place in the queue (`completion` runs
    /// later with `.ready`, `.create` or `.failed`; never when `checkout` itself returns
    /// something else).
    public func checkout(_ completion: @escaping Completion) -> Checkout {
        checkout(choosing: nil, completion)
    }

    /// `checkout`, letting `choose` pick among the idle connections' ids (affinity routing;
    /// called under the pool's lock: it must not call the pool). nil or an unknown id: the
    /// most recently returned.
    public func checkout(choosing choose: (([Int]) -> Int?)?, _ completion: @escaping Completion) -> Checkout {
        let now = clock.now()
        let (outcome, expired): (PoolOutcome?, [AnyObject]) = state.withLock { s in
            if s.closed { return (.failed(PoolError(.closed, "pool \(name) is closed")), []) }
            var expired: [AnyObject] = []
            if s.waitingCount == 0 {
                if let choose, s.idle.count > 1, let id = choose(s.idle), let i = s.idle.lastIndex(of: id) {
                    s.idle.swapAt(i, s.idle.count - 1)
                }
                while let slot = s.idle.popLast() {
                    if s.expired(slot, now) {
                        expired.append(s.free(slot))
                        continue
                    }
                    s.checkedOut += 1
                    s.acquired += 1
                    s.acquireWait.record(0)
                    return (.ready(s.lend(slot, now)), expired)
                }
                if s.total < s.capacity {
                    s.creating += 1
                    return (.create(clock.precise()), expired)
                }
            }
            return (nil, expired)
        }
        if !expired.isEmpty { closeAll(expired) }
        if let outcome { return Pool.wrap(outcome) }
        // Queued (the closure is made only here: the fast path allocates nothing).
        let ticket = state.withLock { s -> WaitTicket? in
            if s.waitingCount == 0 && (!s.idle.isEmpty || s.total < s.capacity) { return nil }
            return WaitTicket(id: s.enqueue(clock.precise()) { o in completion(Pool.wrap(o)) })
        }
        return ticket.map { .waiting($0) } ?? checkout(choosing: choose, completion)
    }

    static func wrap(_ o: PoolOutcome) -> Checkout {
        switch o {
        case .ready(let l): return .ready(Pool.lease(l))
        case .create(let t): return .create(CreatePermit(startedAt: t))
        case .failed(let e): return .failed(e)
        }
    }

    @inline(__always)
    static func lease(_ l: PoolLent) -> Lease {
        Lease(connection: unsafeDowncast(l.connection, to: Connection.self), id: l.slot, generation: l.generation, needsValidation: l.stale)
    }

    /// Records the connection made under `permit` as checked out by its maker.
    public func fill(_ permit: CreatePermit, with connection: Connection) -> Lease {
        // The slot's times are on the coarse clock that `release` and `checkout` compare them
        // with (the precise one runs ahead of it: a birth stamped with it looked like a
        // lifetime of 2^64 ns to the next coarse reading); only the wait is measured precisely.
        let now = clock.now()
        let waited = clock.precise() &- permit.startedAt
        // A pool closed meanwhile still lends it; it is closed when returned.
        return Pool.lease(state.withLock { s in
            s.creating -= 1
            s.created += 1
            s.acquired += 1
            s.acquireWait.record(waited)
            let slot = s.newSlot(connection, now)
            s.checkedOut += 1
            return s.lend(slot, now)
        })
    }

    /// Gives up the permit (the connection could not be made): the slot goes to the next waiter.
    public func abandon(_ permit: CreatePermit) {
        let handoff: PoolHandoff? = state.withLock { s in
            s.creating -= 1
            s.createFailures += 1
            return s.serveWaiter()
        }
        handoff?.run()
    }

    /// Returns a connection that still works.
    public func release(_ lease: Lease) {
        let now = clock.now()
        let (handoff, drop): (PoolHandoff?, AnyObject?) = state.withLock { s in
            guard s.isOut(lease.id, lease.generation) else { return (nil, nil) }
            if s.closed || s.open + s.creating > s.capacity || s.expired(lease.id, now) {
                s.checkedOut -= 1
                let drop = s.free(lease.id)
                return (s.serveWaiter(), drop)
            }
            s.slots[lease.id].lastUsed = now
            if s.waitingCount > 0, let w = s.dequeue() {
                // Handed straight on: it stays checked out.
                s.acquired += 1
                s.acquireWait.record(clock.precise() &- w.since)
                return (PoolHandoff(waiter: w, outcome: .ready(s.lend(lease.id, now, reuse: true))), nil)
            }
            s.checkedOut -= 1
            s.slots[lease.id].out = false
            s.idle.append(lease.id)
            return (nil, nil)
        }
        if let drop { connector.close(unsafeDowncast(drop, to: Connection.self)) }
        handoff?.run()
    }

    /// Closes a connection that failed (or failed validation); its slot goes to the next waiter.
    public func discard(_ lease: Lease) {
        let (handoff, drop): (PoolHandoff?, AnyObject?) = state.withLock { s in
            guard s.isOut(lease.id, lease.generation) else { return (nil, nil) }
            s.checkedOut -= 1
            let drop = s.free(lease.id)
            return (s.serveWaiter(), drop)
        }
        if let drop { connector.close(unsafeDowncast(drop, to: Connection.self)) }
        handoff?.run()
    }

    /// Leaves the queue. False when the waiter was already served: its completion has run or
    /// is running, and what it got must be released.
    @discardableResult
    public func cancel(_ ticket: WaitTicket, timedOut: Bool = true) -> Bool {
        state.withLock { s in
            guard s.remove(ticket.id) else { return false }
            if timedOut { s.timeouts += 1 }
            return true
        }
    }

    // MARK: size

    /// Sets the size the pool may grow to. Above `max` it raises `max` (an operator's
    /// decision, e.g. an emergency increase); below `min` it lowers `min`. Idle connections
    /// above the new size close at once, checked-out ones when returned; waiters get the
    /// room a larger size makes.
    public func resize(_ n: Int) throws(PoolError) {
        if n < 1 { throw .badOption("size", "must be 1 or more, got \(n)") }
        let (handoffs, drop): ([PoolHandoff], [AnyObject]) = state.withLock { s in
            var drop: [AnyObject] = []
            s.capacity = n
            if n > s.options.max { s.options.max = n }
            if n < s.options.min { s.options.min = n }
            while s.total > n, let slot = s.idle.first {
                s.idle.removeFirst()
                drop.append(s.free(slot))
            }
            var hs: [PoolHandoff] = []
            while s.waitingCount > 0 && s.total < s.capacity, let h = s.serveWaiter() { hs.append(h) }
            return (hs, drop)
        }
        closeAll(drop)
        for h in handoffs { h.run() }
    }

    /// Moves the size within the configured bounds (adaptive sizing): like `resize`, but
    /// clamped to [max(min, 1), max] instead of moving the bounds.
    public func setCapacityWithinBounds(_ n: Int) -> Int {
        let b = bounds
        let target = Swift.max(Swift.max(b.min, 1), Swift.min(n, b.max))
        try? resize(target)
        return target
    }

    public var bounds: (min: Int, max: Int) { state.withLock { ($0.options.min, $0.options.max) } }
    public var capacity: Int { state.withLock { $0.capacity } }
    public var options: PoolOptions { state.withLock { $0.options } }

    // MARK: housekeeping

    /// Closes expired and idle-too-long connections (keeping `min` open) and returns permits
    /// to make the connections missing to reach `min` (make each, then `fill` + `release`,
    /// or `abandon`).
    public func maintain() -> [CreatePermit] {
        let now = clock.now()
        let (permits, drop): ([CreatePermit], [AnyObject]) = state.withLock { s in
            if s.closed { return ([], []) }
            var drop: [AnyObject] = []
            let idleNs = PoolClock.nanos(s.options.idleTimeout)
            var keep: [Int] = []
            // Oldest first: the front of the idle list was used least recently.
            for slot in s.idle {
                let tooIdle = idleNs > 0 && now &- s.slots[slot].lastUsed > idleNs && s.open - drop.count > s.options.min
                if s.expired(slot, now) || tooIdle { drop.append(s.free(slot)) } else { keep.append(slot) }
            }
            s.idle = keep
            var ps: [CreatePermit] = []
            while s.total < Swift.min(s.options.min, s.capacity) {
                s.creating += 1
                ps.append(CreatePermit(startedAt: clock.precise()))
            }
            return (ps, drop)
        }
        closeAll(drop)
        return permits
    }

    /// Puts a connection made under a `maintain` permit straight into the idle list.
    public func fillIdle(_ permit: CreatePermit, with connection: Connection) {
        let now = clock.now()
        let lent = state.withLock { s in
            s.creating -= 1
            s.created += 1
            s.checkedOut += 1
            return s.lend(s.newSlot(connection, now), now)
        }
        release(Pool.lease(lent))
    }

    /// Closes every idle connection and fails every waiter; checked-out connections close
    /// when returned. Later checkouts fail.
    public func close() {
        let (waiters, drop): ([PoolWaiter], [AnyObject]) = state.withLock { s in
            if s.closed { return ([], []) }
            s.closed = true
            var drop: [AnyObject] = []
            for slot in s.idle { drop.append(s.free(slot)) }
            s.idle.removeAll()
            var ws: [PoolWaiter] = []
            while let w = s.dequeue() { ws.append(w) }
            return (ws, drop)
        }
        closeAll(drop)
        for w in waiters { w.completion(.failed(PoolError(.closed, "pool \(name) is closed"))) }
    }

    func closeAll(_ list: [AnyObject]) { for c in list { connector.close(unsafeDowncast(c, to: Connection.self)) } }

    // MARK: statistics

    public struct Stats: Sendable {
        public var name: String
        /// Open connections (idle + checked out).
        public var size: Int
        public var idle: Int
        public var checkedOut: Int
        /// The most connections checked out at once since the pool was made.
        public var peakCheckedOut: Int
        public var creating: Int
        public var waiting: Int
        public var capacity: Int
        public var min: Int
        public var max: Int
        public var createdTotal: Int
        public var closedTotal: Int
        public var acquiredTotal: Int
        public var timeoutsTotal: Int
        public var createFailuresTotal: Int
        /// Nanoseconds from asking to getting a connection (0 when one was idle).
        public var acquireWait: LogLinearHistogram
    }

    public var stats: Stats {
        state.withLock { s in
            Stats(name: name, size: s.open, idle: s.idle.count, checkedOut: s.checkedOut, peakCheckedOut: s.peakCheckedOut, creating: s.creating,
                  waiting: s.waitingCount, capacity: s.capacity, min: s.options.min, max: s.options.max,
                  createdTotal: s.created, closedTotal: s.closedTotal, acquiredTotal: s.acquired,
                  timeoutsTotal: s.timeouts, createFailuresTotal: s.createFailures, acquireWait: s.acquireWait)
        }
    }

    /// The ids of the idle connections, most recently returned last.
    public var idleIDs: [Int] { state.withLock { $0.idle } }
}
