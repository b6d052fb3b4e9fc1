/// The last `capacity` slots of the regular time grid the predictor works on: each slot's load
/// and the raw pressures the window features read. Slot `i` (counted from the first sample ever)
/// is at time `t0 + i × interval`.
struct History: Sendable, Equatable {
    let capacity: Int
    /// Slots ever appended (the newest has absolute index `total - 1`).
    private(set) var total = 0
    private(set) var load: [Double]
    /// Memory use 0...1, latency over the latency threshold, errors per second.
    private(set) var memory: [Float]
    private(set) var latency: [Float]
    private(set) var errors: [Float]
    /// 1 when the slot was filled in for a gap (carried forward, not measured).
    private(set) var filled: [UInt8]

    init(capacity: Int) {
        self.capacity = capacity
        load = []; memory = []; latency = []; errors = []; filled = []
        load.reserveCapacity(min(capacity, 4096))
    }

    var count: Int { min(total, capacity) }
    /// The absolute index of the oldest slot kept.
    var oldest: Int { total - count }

    @inline(__always) func slot(_ i: Int) -> Int { i % capacity }

    mutating func append(load l: Double, memory m: Float, latency lt: Float, errors e: Float, filled f: Bool) {
        if load.count < capacity {
            load.append(l); memory.append(m); latency.append(lt); errors.append(e); filled.append(f ? 1 : 0)
        } else {
            let s = slot(total)
            load[s] = l; memory[s] = m; latency[s] = lt; errors[s] = e; filled[s] = f ? 1 : 0
        }
        total += 1
    }

    /// Replaces the newest slot (more samples arrived within its interval).
    mutating func replaceNewest(load l: Double, memory m: Float, latency lt: Float, errors e: Float) {
        let s = slot(total - 1)
        load[s] = l; memory[s] = m; latency[s] = lt; errors[s] = e; filled[s] = 0
    }

    /// The load at absolute index `i`, clamped to the oldest kept slot.
    @inline(__always) func loadAt(_ i: Int) -> Double { load[slot(max(i, oldest))] }
    @inline(__always) func isFilled(_ i: Int) -> Bool { filled[slot(i)] != 0 }

    /// Oldest first: (load, memory, latency, errors, filled) of every slot kept.
    func ordered() -> [(Double, Float, Float, Float, Bool)] {
        (oldest..<total).map { let s = slot($0); return (load[s], memory[s], latency[s], errors[s], filled[s] != 0) }
    }

    /// Rebuilds a history from `ordered()`'s output, as if `total` slots had been appended.
    init(capacity: Int, total: Int, slots: [(Double, Float, Float, Float, Bool)]) {
        self.init(capacity: capacity)
        self.total = total - slots.count
        for s in slots { append(load: s.0, memory: s.1, latency: s.2, errors: s.3, filled: s.4) }
    }
}
