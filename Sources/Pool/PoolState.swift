import Synchronization

/// One connection's place in the pool. Its state and the loan's generation are one atomic word,
/// so that a thread's cached connection (`ThreadCache`) is lent and returned with one
/// compare-and-swap, without the pool's lock; everything else is written under the lock.
///
/// States: `free` (no connection), `idle` (in the pool's idle list), `out` (lent), `cached` (idle,
/// kept for the thread that returned it; counted by the lock's bookkeeping as checked out until
/// taken back). Only a thread-cache hit (cached → out, by the thread that cached it), a fast
/// return (out → cached, by the loan's holder) and `steal` (cached → idle, under the lock) race.
@usableFromInline
final class SlotCell: @unchecked Sendable {
    // computed, not stored: inlined into callers in other modules without a global's accessor
    @inlinable static var free: UInt64 { 0 }
    @inlinable static var idle: UInt64 { 1 }
    @inlinable static var out: UInt64 { 2 }
    @inlinable static var cached: UInt64 { 3 }

    /// generation << 2 | state
    @usableFromInline let word = Atomic<UInt64>(0)
    /// When the connection was last returned (coarse clock; a fast return writes it too).
    @usableFromInline let lastUsed = Atomic<UInt64>(0)
    /// Checkouts served from a thread's cache (written only by the thread holding the slot).
    @usableFromInline let cacheHits = Atomic<Int>(0)
    @usableFromInline let index: Int
    /// Under the lock, while no thread can reach the slot (free or idle).
    // (no dynamic exclusivity checks: the slot's state word is what orders access to them)
    @exclusivity(unchecked) @usableFromInline var born: UInt64 = 0
    @exclusivity(unchecked) @usableFromInline var connection: AnyObject?
    // Two cells on one cache line would make two threads' private slots contend.
    private let padding: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0)

    init(index: Int) { self.index = index }

    @inlinable static func pack(_ generation: UInt32, _ state: UInt64) -> UInt64 { UInt64(generation) << 2 | state }
    @inline(__always) static func generation(_ w: UInt64) -> UInt32 { UInt32(truncatingIfNeeded: w >> 2) }
    @inline(__always) static func state(_ w: UInt64) -> UInt64 { w & 3 }

    var state: UInt64 { Self.state(word.load(ordering: .acquiring)) }
    var generation: UInt32 { Self.generation(word.load(ordering: .acquiring)) }

    /// Takes a cached slot back for the pool (under its lock): true when it was cached and is now
    /// the lock's, idle.
    func steal() -> Bool {
        let w = word.load(ordering: .sequentiallyConsistent)
        guard Self.state(w) == Self.cached else { return false }
        return word.compareExchange(expected: w, desired: Self.pack(Self.generation(w), Self.idle), ordering: .sequentiallyConsistent).exchanged
    }

    /// Sets the state under the lock (the slot is the lock's: free, idle or out by a loan the
    /// lock is serving), bumping the generation when asked.
    func set(_ state: UInt64, bump: Bool) {
        let g = generation
        word.store(Self.pack(bump ? g &+ 1 : g, state), ordering: .sequentiallyConsistent)
    }
}

/// A connection lent: its slot, the loan's generation, and whether to validate it first.
struct PoolLent {
    let cell: SlotCell
    let generation: UInt32
    let connection: AnyObject
    let stale: Bool
}

enum PoolOutcome {
    case ready(PoolLent)
    /// A permit to make a connection, with the time the caller started waiting.
    case create(UInt64)
    case failed(PoolError)
}

struct PoolWaiter {
    let id: UInt64
    let since: UInt64
    let completion: (PoolOutcome) -> Void
}

struct PoolHandoff {
    let waiter: PoolWaiter
    let outcome: PoolOutcome
    func run() { waiter.completion(outcome) }
}

struct PoolState {
    var options: PoolOptions
    /// The size the pool may grow to now (`max` for a fixed pool; moved by `resize`).
    var capacity: Int
    var slots: [SlotCell] = []
    var freeSlots: [Int] = []
    /// Idle slots; the last is the most recently returned (LIFO keeps few connections warm
    /// and lets the others age out under idle_timeout).
    var idle: [Int] = []
    /// Connections lent or held in a thread's cache (a thread-cache hit or return does not take
    /// the lock; `Pool.stats` tells the two apart).
    var checkedOut = 0
    /// The most connections checked out or cached at once, as the lock saw them (the
    /// utilisation peak a run reports: above the true peak by at most the connections held in
    /// threads' caches).
    var peakCheckedOut = 0
    var creating = 0
    var waiters: [PoolWaiter?] = []
    var waitHead = 0
    var waitingCount = 0
    var nextTicket: UInt64 = 1
    var closed = false
    var created = 0
    var closedTotal = 0
    var timeouts = 0
    var acquired = 0
    var createFailures = 0
    var acquireWait = LogLinearHistogram()

    init(options: PoolOptions, capacity: Int) {
        self.options = options
        self.capacity = capacity
    }

    var open: Int { idle.count + checkedOut }
    var total: Int { idle.count + checkedOut + creating }

    mutating func enqueue(_ since: UInt64, _ completion: @escaping (PoolOutcome) -> Void) -> UInt64 {
        let id = nextTicket
        nextTicket += 1
        waiters.append(PoolWaiter(id: id, since: since, completion: completion))
        waitingCount += 1
        return id
    }

    mutating func dequeue() -> PoolWaiter? {
        while waitHead < waiters.count {
            let w = waiters[waitHead]
            waiters[waitHead] = nil
            waitHead += 1
            if let w {
                waitingCount -= 1
                compactQueue()
                return w
            }
        }
        compactQueue()
        return nil
    }

    mutating func remove(_ id: UInt64) -> Bool {
        for i in waitHead..<waiters.count where waiters[i]?.id == id {
            waiters[i] = nil
            waitingCount -= 1
            return true
        }
        return false
    }

    mutating func compactQueue() {
        if waitHead == waiters.count {
            waiters.removeAll(keepingCapacity: true); waitHead = 0
        } else if waitHead > 64 && waitHead * 2 > waiters.count {
            waiters.removeFirst(waitHead); waitHead = 0
        }
    }

    func expired(_ slot: Int, _ now: UInt64) -> Bool {
        let life = PoolClock.nanos(options.maxLifetime)
        return life > 0 && now &- slots[slot].born >= life
    }

    func isOut(_ slot: Int, _ generation: UInt32) -> Bool {
        slot < slots.count && slots[slot].word.load(ordering: .sequentiallyConsistent) == SlotCell.pack(generation, SlotCell.out)
    }

    mutating func lend(_ slot: Int, _ now: UInt64, reuse: Bool = false) -> PoolLent {
        let cell = slots[slot]
        let validateAfter = PoolClock.nanos(options.validationInterval)
        let stale = !reuse && now &- cell.lastUsed.load(ordering: .relaxed) > validateAfter
        if checkedOut > peakCheckedOut { peakCheckedOut = checkedOut }
        // Each loan has its own generation: a lease returned once cannot return a later loan.
        cell.set(SlotCell.out, bump: true)
        cell.lastUsed.store(now, ordering: .relaxed)
        return PoolLent(cell: cell, generation: cell.generation, connection: cell.connection!, stale: stale)
    }

    mutating func newSlot(_ c: AnyObject, _ now: UInt64) -> Int {
        let slot: Int
        if let f = freeSlots.popLast() { slot = f } else { slot = slots.count; slots.append(SlotCell(index: slot)) }
        let cell = slots[slot]
        cell.connection = c
        cell.born = now
        cell.lastUsed.store(now, ordering: .relaxed)
        cell.set(SlotCell.idle, bump: false)
        return slot
    }

    /// Forgets a slot's connection (the caller closes it, outside the lock).
    mutating func free(_ slot: Int) -> AnyObject {
        let cell = slots[slot]
        let c = cell.connection!
        cell.set(SlotCell.free, bump: true)
        cell.connection = nil
        freeSlots.append(slot)
        closedTotal += 1
        return c
    }

    /// Puts a returned (or stolen) slot in the idle list.
    mutating func makeIdle(_ slot: Int) {
        slots[slot].set(SlotCell.idle, bump: false)
        idle.append(slot)
    }

    /// Takes back every connection held in a thread's cache into the idle list (they stop
    /// counting as checked out). The number taken.
    @discardableResult
    mutating func stealCached(limit: Int = .max) -> Int {
        var n = 0
        for cell in slots where n < limit && cell.steal() {
            checkedOut -= 1
            idle.append(cell.index)
            n += 1
        }
        return n
    }

    /// Bits that send thread-cache returns to the lock: the pool is closed, someone waits, or
    /// more connections are open than the pool's size allows.
    var gateBits: UInt8 {
        (closed ? Gate.closed : 0) | (waitingCount > 0 ? Gate.waiters : 0) | (open + creating > capacity ? Gate.overCapacity : 0)
    }

    /// Room was made (a connection closed, a permit given up): the oldest waiter may create.
    mutating func serveWaiter() -> PoolHandoff? {
        guard !closed, total < capacity, let w = dequeue() else { return nil }
        creating += 1
        return PoolHandoff(waiter: w, outcome: .create(w.since))
    }
}

enum Gate {
    static let closed: UInt8 = 1, waiters: UInt8 = 2, overCapacity: UInt8 = 4
}
