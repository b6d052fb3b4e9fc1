/// Requests per client (the access log's first field) and how many of them had status 200, in
/// one table: one hash and one probe a line serve the top-IP report and the per-IP 200 count.
///
/// A field of at most 15 bytes (every IPv4 address, short IPv6 ones, short host names) is its
/// own key: its bytes and its length packed into 128 bits, compared as two integers, with no
/// arena, no memcmp and no parse; the key is the field's text exactly, so `10.0.0.01` and
/// `10.0.0.1` stay two clients, as they are for `awk '{print $1}' | sort | uniq -c`. A packed
/// integer of the address would merge them. Longer fields (long IPv6 addresses) go to two
/// `ByteCounter`s. Bounded as they are: a short client first seen once `limit` clients are
/// held is counted in `untracked`, and the long ones' table has the same limit of its own (so
/// at most twice `limit` in all). One table belongs to one thread.
final class ClientCounter {
    /// hi's top byte is the key's length; 0 marks an empty slot.
    struct Slot { var lo: UInt64; var hi: UInt64; var all: Int; var ok: Int }
    private var slots: UnsafeMutablePointer<Slot>
    private var shift: UInt64
    private var used = 0
    private(set) var untrackedShort = 0
    let long: ByteCounter
    let longOK: ByteCounter
    let limit: Int

    init(limit: Int) {
        self.limit = max(1, limit)
        long = ByteCounter(limit: limit)
        longOK = ByteCounter(limit: limit)
        shift = 64 - 11
        slots = ClientCounter.table(1 << 11)
    }

    deinit { slots.deallocate() }

    private static func table(_ c: Int) -> UnsafeMutablePointer<Slot> {
        let t = UnsafeMutablePointer<Slot>.allocate(capacity: c)
        t.initialize(repeating: Slot(lo: 0, hi: 0, all: 0, ok: 0), count: c)
        return t
    }

    var distinct: Int { used + long.distinct }
    var untracked: Int { untrackedShort + long.untracked }

    /// The packed key of p[0..<n) when n <= 15; `readable` bytes from p may be read (16 or more:
    /// two word loads, the bytes past the field masked off).
    @inline(__always) static func key(_ p: UnsafePointer<UInt8>, _ n: Int, readable: Int) -> (UInt64, UInt64)? {
        if n > 15 || n < 1 { return nil }
        var lo: UInt64 = 0, hi: UInt64 = 0
        if readable >= 16 {
            let raw = UnsafeRawPointer(p)
            lo = UInt64(littleEndian: raw.loadUnaligned(as: UInt64.self))
            hi = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
            if n < 8 { lo &= (1 << UInt64(8 * n)) - 1; hi = 0 } else { hi &= (1 << UInt64(8 * (n - 8))) &- 1 }
        } else {
            for i in 0..<min(n, 8) { lo |= UInt64(p[i]) << UInt64(8 * i) }
            if n > 8 { for i in 8..<n { hi |= UInt64(p[i]) << UInt64(8 * (i - 8)) } }
        }
        return (lo, hi | UInt64(n) << 56)
    }

    /// Counts one request of the client p[0..<n); `ok`: its status was 200.
    @inline(__always) func add(_ p: UnsafePointer<UInt8>, _ n: Int, readable: Int, ok: Bool) {
        if let (lo, hi) = ClientCounter.key(p, n, readable: readable) {
            add(lo, hi, all: 1, ok: ok ? 1 : 0)
        } else {
            let h = ByteCounter.hash(p, n)
            long.add(p, n, hash: h)
            if ok { longOK.add(p, n, hash: h) }
        }
    }

    @inline(__always) private func add(_ lo: UInt64, _ hi: UInt64, all: Int, ok: Int) {
        let t = slots
        let mask = Int(truncatingIfNeeded: UInt64.max >> shift)
        var h = (lo &* 0x9E37_79B9_7F4A_7C15) ^ (hi &* 0xC2B2_AE3D_27D4_EB4F)
        h ^= h >> 29
        var i = Int(truncatingIfNeeded: (h &* 0x9E37_79B9_7F4A_7C15) >> shift)
        while true {
            let s = t[i]
            if s.hi == hi && s.lo == lo { t[i].all += all; t[i].ok += ok; return }
            if s.hi == 0 { break }
            i = (i + 1) & mask
        }
        if used + long.distinct >= limit { untrackedShort += all; return }
        t[i] = Slot(lo: lo, hi: hi, all: all, ok: ok)
        used += 1
        if used * 4 > mask * 3 { grow() }   // up to 3/4 full: 20,000 clients in 1 MiB, not 2 (§23)
    }

    private func grow() {
        let old = slots, oldCount = Int(truncatingIfNeeded: UInt64.max >> shift) + 1
        shift -= 1
        slots = ClientCounter.table(oldCount * 2)
        used = 0
        for k in 0..<oldCount where old[k].hi != 0 { add(old[k].lo, old[k].hi, all: old[k].all, ok: old[k].ok) }
        old.deallocate()
    }

    /// Adds every count of `other` into this table.
    func merge(_ other: ClientCounter) {
        let n = Int(truncatingIfNeeded: UInt64.max >> other.shift) + 1
        for k in 0..<n where other.slots[k].hi != 0 {
            let s = other.slots[k]
            add(s.lo, s.hi, all: s.all, ok: s.ok)
        }
        untrackedShort += other.untrackedShort
        long.merge(other.long)
        longOK.merge(other.longOK)
    }

    /// The `n` clients with the most requests (n < 0: all), or with `ok` those with more than
    /// `minimum` status-200 requests; ordered as `ByteCounter.top` orders them.
    func top(_ n: Int, ok: Bool = false, minimum: Int = 0) -> [Counted] {
        var all: [(UnsafeBufferPointer<UInt8>, Int)] = []
        let count = Int(truncatingIfNeeded: UInt64.max >> shift) + 1
        // a slot's first bytes are its key's (the words are stored little-endian)
        let raw = UnsafeRawPointer(slots)
        for k in 0..<count where slots[k].hi != 0 {
            slots[k].lo = slots[k].lo.littleEndian
            slots[k].hi = slots[k].hi.littleEndian
            let c = ok ? slots[k].ok : slots[k].all
            if c > minimum {
                let len = Int(UInt64(littleEndian: slots[k].hi) >> 56)
                all.append((UnsafeBufferPointer(start: (raw + k * MemoryLayout<Slot>.stride).assumingMemoryBound(to: UInt8.self), count: len), c))
            }
        }
        (ok ? longOK : long).forEach { key, c in if c > minimum { all.append((key, c)) } }
        let result = ByteCounter.top(all, n)
        for k in 0..<count where slots[k].hi != 0 {
            slots[k].lo = UInt64(littleEndian: slots[k].lo)
            slots[k].hi = UInt64(littleEndian: slots[k].hi)
        }
        return result
    }
}
