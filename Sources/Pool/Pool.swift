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
///
/// In front of the lock, each thread keeps the last connection it returned (`ThreadCache`):
/// its next checkout takes it back without the lock (a hit counts as an acquire with no wait).
/// A return goes to the lock instead when someone waits (it is handed to the oldest waiter),
/// when the pool is closed or above its size, when the connection is past its lifetime, or when
/// the thread already holds one; the pool takes a cached connection back when a waiter, another
/// thread, affinity, eviction, `resize` or `close` needs it.
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
        @usableFromInline let generation: UInt32
        /// Idle for longer than the validation interval: check it before use.
        public let needsValidation: Bool
        /// The slot (the pool keeps every cell for its life; a lease is returned to a live pool).
        @usableFromInline let cell: Unmanaged<SlotCell>

        @usableFromInline
        init(connection: Connection, id: Int, generation: UInt32, needsValidation: Bool, cell: Unmanaged<SlotCell>) {
            self.connection = connection; self.id = id; self.generation = generation
            self.needsValidation = needsValidation; self.cell = cell
        }
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
    @usableFromInline let clock: PoolClock
    let state: Mutex<PoolState>
    /// `Gate` bits, published by the lock (see `PoolState.gateBits`); non-zero sends returns to
    /// the lock instead of the thread's cache.
    @usableFromInline let gate = Atomic<UInt8>(0)
    /// This pool's key in the threads' caches, and the threads' caches' key (read once here:
    /// a global's lazy initialisation is checked at every access).
    @usableFromInline let token = ThreadCache.newToken()
    @usableFromInline let threadKey = ThreadCache.key
    /// The options the lock-free paths read (fixed for the pool's life).
    @usableFromInline let lifetimeNs: UInt64, validateAfterNs: UInt64
    /// The clock is the system's (read without going through the manual clock's reference).
    @usableFromInline let systemClock: Bool

    public init(name: String, options: PoolOptions, connector: Connector, clock: PoolClock = .monotonic) throws(PoolError) {
        try options.validate()
        self.name = name
        self.connector = connector
        self.clock = clock
        self.state = Mutex(PoolState(options: options, capacity: options.max))
        lifetimeNs = PoolClock.nanos(options.maxLifetime)
        validateAfterNs = PoolClock.nanos(options.validationInterval)
        systemClock = clock.manual == nil
    }

    @inlinable
    var coarseNow: UInt64 { systemClock ? PoolClock.coarse() : clock.now() }

    deinit { close() }

    // MARK: checkout and return

    /// An idle connection, the right to make one, or a place in the queue (`completion` runs
    /// later with `.ready`, `.create` or `.failed`; never when `checkout` itself returns
    /// something else).
    ///
    /// Inlinable, with the thread-cache paths it starts with: specialised for the caller's
    /// connection type, instead of going through generic value witnesses at every call.
    @inlinable
    public func checkout(_ completion: @escaping Completion) -> Checkout {
        if let lease = checkoutCached() { return .ready(lease) }
        return checkout(choosing: nil, completion)
    }

    // MARK: the thread's cache

    /// The connection this thread returned last, if it is still cached for it (no lock).
    @inlinable
    public func checkoutCached() -> Lease? {
        guard let e = ThreadCache.entries(threadKey, create: false), let i = ThreadCache.find(e, token), let ref = e[i].cell else { return nil }
        let g = e[i].generation
        e[i].token = 0
        // the cell lives as long as the pool: no reference counting on this path
        return ref._withUnsafeGuaranteedRef { cell -> Lease? in
            guard cell.word.compareExchange(expected: SlotCell.pack(g, SlotCell.cached), desired: SlotCell.pack(g &+ 1, SlotCell.out),
                                            ordering: .acquiringAndReleasing).exchanged else { return nil }
            let now = coarseNow
            if lifetimeNs > 0 && now &- cell.born >= lifetimeNs {
                // past its lifetime while cached: closed, and the caller goes to the lock
                retire(cell.index, g &+ 1)
                return nil
            }
            cell.cacheHits.store(cell.cacheHits.load(ordering: .relaxed) &+ 1, ordering: .relaxed)
            return Lease(connection: unsafeDowncast(cell.connection.unsafelyUnwrapped, to: Connection.self), id: cell.index, generation: g &+ 1,
                         needsValidation: now &- cell.lastUsed.load(ordering: .relaxed) > validateAfterNs, cell: ref)
        }
    }

    /// Returns `lease` to this thread's cache; false when it must go to the lock (someone
    /// waits, the pool is closed or too big, the connection expired, the thread already holds
    /// one of this pool's, or the lease is not the slot's current loan).
    @inlinable
    func releaseToCache(_ lease: Lease) -> Bool {
        guard let e = ThreadCache.entries(threadKey, create: true) else { return false }
        let i = ThreadCache.place(e, token)
        if e[i].token == token, let held = e[i].cell,
           held._withUnsafeGuaranteedRef({ $0.word.load(ordering: .relaxed) }) == SlotCell.pack(e[i].generation, SlotCell.cached) { return false }
        let g = lease.generation
        let cached = lease.cell._withUnsafeGuaranteedRef { cell -> Bool in
            let now = coarseNow
            if lifetimeNs > 0 && now &- cell.born >= lifetimeNs { return false }
            cell.lastUsed.store(now, ordering: .relaxed)
            guard cell.word.compareExchange(expected: SlotCell.pack(g, SlotCell.out), desired: SlotCell.pack(g, SlotCell.cached),
                                            ordering: .sequentiallyConsistent).exchanged else { return false }
            // The lock publishes a gate bit before it looks for cached connections; this return
            // made the slot cached before reading the gate: one of the two sees the other.
            if gate.load(ordering: .sequentiallyConsistent) != 0 {
                // taken back here (to the lock), or by the lock (then it is the lock's: done)
                return !cell.word.compareExchange(expected: SlotCell.pack(g, SlotCell.cached), desired: SlotCell.pack(g, SlotCell.out),
                                                  ordering: .sequentiallyConsistent).exchanged
            }
            e[i] = CachedEntry(token: token, cell: lease.cell, generation: g)
            return true
        }
        return cached
    }

    /// Closes the connection of a slot a cache hit found past its lifetime.
    @usableFromInline
    func retire(_ slot: Int, _ generation: UInt32) {
        let (handoff, drop): (PoolHandoff?, AnyObject?) = state.withLock { s in
            guard s.isOut(slot, generation) else { return (nil, nil) }
            s.checkedOut -= 1
            let drop = s.free(slot)
            let h = s.serveWaiter()
            publishGate(s)
            return (h, drop)
        }
        if let drop { connector.close(unsafeDowncast(drop, to: Connection.self)) }
        handoff?.run()
    }

    /// Publishes the gate bits the lock's state calls for (clearing ones no longer needed;
    /// setting one is done where it is needed, before looking for cached connections).
    @inline(__always)
    func publishGate(_ s: borrowing PoolState) {
        let bits = s.gateBits
        if gate.load(ordering: .relaxed) != bits { gate.store(bits, ordering: .sequentiallyConsistent) }
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
                // affinity chooses among every idle connection, the cached ones too
                if choose != nil { s.stealCached() }
                if let choose, s.idle.count > 1, let id = choose(s.idle), let i = s.idle.lastIndex(of: id) {
                    s.idle.swapAt(i, s.idle.count - 1)
                }
                while true {
                    // none idle here: one another thread cached, before making a new one
                    guard let slot = s.idle.popLast() ?? (s.stealCached(limit: 1) > 0 ? s.idle.popLast() : nil) else { break }
                    if s.expired(slot, now) {
                        expired.append(s.free(slot))
                        continue
                    }
                    s.checkedOut += 1
                    s.acquired += 1
                    s.acquireWait.record(0)
                    let lent = s.lend(slot, now)
                    publishGate(s)
                    return (.ready(lent), expired)
                }
                if s.total < s.capacity {
                    s.creating += 1
                    return (.create(clock.precise()), expired)
                }
            }
            publishGate(s)
            return (nil, expired)
        }
        if !expired.isEmpty { closeAll(expired) }
        if let outcome { return Pool.wrap(outcome) }
        // Queued (the closure is made only here: the fast path allocates nothing).
        let ticket = state.withLock { s -> WaitTicket? in
            if s.waitingCount == 0 {
                // The first waiter: returns must come to the lock from now on. Published before
                // looking at the threads' caches (see `releaseToCache`), then what they hold is
                // taken back: no connection stays cached while someone waits.
                if gate.load(ordering: .relaxed) & Gate.waiters == 0 {
                    gate.store(gate.load(ordering: .relaxed) | Gate.waiters, ordering: .sequentiallyConsistent)
                }
                s.stealCached()
                if !s.idle.isEmpty || s.total < s.capacity { publishGate(s); return nil }
            }
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
        Lease(connection: unsafeDowncast(l.connection, to: Connection.self), id: l.cell.index, generation: l.generation,
              needsValidation: l.stale, cell: Unmanaged.passUnretained(l.cell))
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
            let h = s.serveWaiter()
            publishGate(s)
            return h
        }
        handoff?.run()
    }

    /// Returns a connection that still works.
    @inlinable
    public func release(_ lease: Lease) {
        if releaseToCache(lease) { return }
        releaseToPool(lease)
    }

    /// `release` through the lock: to the oldest waiter, the idle list, or closed.
    @usableFromInline
    func releaseToPool(_ lease: Lease) {
        let now = clock.now()
        let (handoff, drop): (PoolHandoff?, AnyObject?) = state.withLock { s in
            guard s.isOut(lease.id, lease.generation) else { return (nil, nil) }
            defer { publishGate(s) }
            if s.closed || s.open + s.creating > s.capacity || s.expired(lease.id, now) {
                s.checkedOut -= 1
                let drop = s.free(lease.id)
                return (s.serveWaiter(), drop)
            }
            s.slots[lease.id].lastUsed.store(now, ordering: .relaxed)
            if s.waitingCount > 0, let w = s.dequeue() {
                // Handed straight on: it stays checked out.
                s.acquired += 1
                s.acquireWait.record(clock.precise() &- w.since)
                return (PoolHandoff(waiter: w, outcome: .ready(s.lend(lease.id, now, reuse: true))), nil)
            }
            s.checkedOut -= 1
            s.makeIdle(lease.id)
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
            let h = s.serveWaiter()
            publishGate(s)
            return (h, drop)
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
            publishGate(s)
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
            if s.total > n {
                // above the new size: returns to the lock (which closes them) from now on, and
                // the threads' cached connections are idle ones to close first
                gate.store(gate.load(ordering: .relaxed) | Gate.overCapacity, ordering: .sequentiallyConsistent)
                s.stealCached()
            }
            while s.total > n, let slot = s.idle.first {
                s.idle.removeFirst()
                drop.append(s.free(slot))
            }
            var hs: [PoolHandoff] = []
            while s.waitingCount > 0 && s.total < s.capacity, let h = s.serveWaiter() { hs.append(h) }
            // cached connections taken back above but kept go to waiters first
            while s.waitingCount > 0, let slot = s.idle.popLast(), let w = s.dequeue() {
                s.checkedOut += 1
                s.acquired += 1
                s.acquireWait.record(clock.precise() &- w.since)
                hs.append(PoolHandoff(waiter: w, outcome: .ready(s.lend(slot, clock.now()))))
            }
            publishGate(s)
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
            var remaining = s.open
            func due(_ slot: Int) -> Bool {
                let tooIdle = idleNs > 0 && now &- s.slots[slot].lastUsed.load(ordering: .relaxed) > idleNs && remaining > s.options.min
                return s.expired(slot, now) || tooIdle
            }
            // Cached connections past their lifetime or idle too long are taken back to close
            // (while someone waits none stays cached: returns go to the lock).
            if s.waitingCount == 0 {
                for cell in s.slots where cell.state == SlotCell.cached && due(cell.index) && cell.steal() {
                    s.checkedOut -= 1
                    drop.append(s.free(cell.index))
                    remaining -= 1
                }
            }
            var keep: [Int] = []
            // Oldest first: the front of the idle list was used least recently.
            for slot in s.idle {
                if due(slot) { drop.append(s.free(slot)); remaining -= 1 } else { keep.append(slot) }
            }
            s.idle = keep
            var ps: [CreatePermit] = []
            while s.total < Swift.min(s.options.min, s.capacity) {
                s.creating += 1
                ps.append(CreatePermit(startedAt: clock.precise()))
            }
            publishGate(s)
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
        // to the pool, not to the maintaining thread's cache
        releaseToPool(Pool.lease(lent))
    }

    /// Closes every idle connection and fails every waiter; checked-out connections close
    /// when returned. Later checkouts fail.
    public func close() {
        let (waiters, drop): ([PoolWaiter], [AnyObject]) = state.withLock { s in
            if s.closed { return ([], []) }
            s.closed = true
            gate.store(s.gateBits, ordering: .sequentiallyConsistent)
            s.stealCached()
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

    /// The pool's counts. Each slot's state is read once, so a snapshot taken while threads
    /// check out and return from their caches is exact per connection, not frozen as a whole
    /// (a connection between two states is counted in one of them). Thread-cache hits count as
    /// acquires with no wait.
    public var stats: Stats {
        state.withLock { s in
            var cached = 0, hits = 0
            for cell in s.slots {
                if cell.state == SlotCell.cached { cached += 1 }
                hits += cell.cacheHits.load(ordering: .relaxed)
            }
            var wait = s.acquireWait
            wait.record(0, count: hits)
            return Stats(name: name, size: s.open, idle: s.idle.count + cached, checkedOut: s.checkedOut - cached, peakCheckedOut: s.peakCheckedOut,
                         creating: s.creating, waiting: s.waitingCount, capacity: s.capacity, min: s.options.min, max: s.options.max,
                         createdTotal: s.created, closedTotal: s.closedTotal, acquiredTotal: s.acquired + hits,
                         timeoutsTotal: s.timeouts, createFailuresTotal: s.createFailures, acquireWait: wait)
        }
    }

    /// The ids of the idle connections, most recently returned last (then those held in a
    /// thread's cache).
    public var idleIDs: [Int] {
        state.withLock { s in s.idle + s.slots.filter { $0.state == SlotCell.cached }.map(\.index) }
    }
}
