/// The pool's bookkeeping, under its lock. Not generic: connections are kept as AnyObject
/// and cast back by `Pool<Connection>` at its edge, so this code is compiled once, for real,
/// instead of going through generic metadata in every caller's module (that cost the hot path
/// over a microsecond).
struct PoolSlot {
    var connection: AnyObject?
    var generation: UInt32 = 0
    var born: UInt64 = 0
    var lastUsed: UInt64 = 0
    var out = false
}

/// A connection lent: its slot, the loan's generation, and whether to validate it first.
struct PoolLent {
    let slot: Int
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
    var slots: [PoolSlot] = []
    var freeSlots: [Int] = []
    /// Idle slots; the last is the most recently returned (LIFO keeps few connections warm
    /// and lets the others age out under idle_timeout).
    var idle: [Int] = []
    var checkedOut = 0
    /// The most connections checked out at once (the utilisation peak a run reports).
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
        slot < slots.count && slots[slot].out && slots[slot].generation == generation
    }

    mutating func lend(_ slot: Int, _ now: UInt64, reuse: Bool = false) -> PoolLent {
        let validateAfter = PoolClock.nanos(options.validationInterval)
        let stale = !reuse && now &- slots[slot].lastUsed > validateAfter
        // Each loan has its own generation: a lease returned once cannot return a later loan.
        if checkedOut > peakCheckedOut { peakCheckedOut = checkedOut }
        slots[slot].generation &+= 1
        slots[slot].out = true
        slots[slot].lastUsed = now
        return PoolLent(slot: slot, generation: slots[slot].generation, connection: slots[slot].connection!, stale: stale)
    }

    mutating func newSlot(_ c: AnyObject, _ now: UInt64) -> Int {
        let slot: Int
        if let f = freeSlots.popLast() { slot = f } else { slot = slots.count; slots.append(PoolSlot()) }
        slots[slot].connection = c
        slots[slot].born = now
        slots[slot].lastUsed = now
        slots[slot].out = false
        return slot
    }

    /// Forgets a slot's connection (the caller closes it, outside the lock).
    mutating func free(_ slot: Int) -> AnyObject {
        let c = slots[slot].connection!
        slots[slot].connection = nil
        slots[slot].out = false
        slots[slot].generation &+= 1
        freeSlots.append(slot)
        closedTotal += 1
        return c
    }

    /// Room was made (a connection closed, a permit given up): the oldest waiter may create.
    mutating func serveWaiter() -> PoolHandoff? {
        guard !closed, total < capacity, let w = dequeue() else { return nil }
        creating += 1
        return PoolHandoff(waiter: w, outcome: .create(w.since))
    }
}
