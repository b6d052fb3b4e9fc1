import Glibc

/// Counts byte strings (IP addresses, paths) without allocating per key: the keys live in one
/// growing arena, the table is open addressing over parallel arrays of plain memory (read and
/// written through pointers: the scan's inner loop pays no bounds, uniqueness or retain cost).
/// The number of distinct keys is capped so memory stays bounded whatever the log holds; a key
/// first seen once the table is full is counted in `untracked` (the report says so) instead of
/// growing the table. One table belongs to one thread.
final class ByteCounter {
    private var arena: UnsafeMutablePointer<UInt8>
    private var arenaUsed = 0
    private var arenaCapacity: Int
    private var hashes: UnsafeMutablePointer<UInt64>
    private var offsets: UnsafeMutablePointer<Int32>     // -1: empty slot
    private var lengths: UnsafeMutablePointer<Int32>
    private var counts: UnsafeMutablePointer<Int>
    private var mask: Int
    private(set) var distinct = 0
    private(set) var untracked = 0
    let limit: Int

    init(limit: Int, capacity: Int = 1024) {
        var c = 16
        while c < capacity * 2 { c <<= 1 }
        mask = c - 1
        (hashes, offsets, lengths, counts) = ByteCounter.slots(c)
        arenaCapacity = 1 << 14
        arena = .allocate(capacity: arenaCapacity)
        self.limit = max(1, limit)
    }

    deinit {
        arena.deallocate(); hashes.deallocate(); offsets.deallocate(); lengths.deallocate(); counts.deallocate()
    }

    private static func slots(_ c: Int) -> (UnsafeMutablePointer<UInt64>, UnsafeMutablePointer<Int32>, UnsafeMutablePointer<Int32>, UnsafeMutablePointer<Int>) {
        let h = UnsafeMutablePointer<UInt64>.allocate(capacity: c)
        let o = UnsafeMutablePointer<Int32>.allocate(capacity: c)
        let l = UnsafeMutablePointer<Int32>.allocate(capacity: c)
        let n = UnsafeMutablePointer<Int>.allocate(capacity: c)
        h.initialize(repeating: 0, count: c); o.initialize(repeating: -1, count: c)
        l.initialize(repeating: 0, count: c); n.initialize(repeating: 0, count: c)
        return (h, o, l, n)
    }

    @inline(__always) static func hash(_ p: UnsafePointer<UInt8>, _ n: Int) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325 ^ UInt64(n)
        var i = 0
        while i + 8 <= n {
            let w = UnsafeRawPointer(p + i).loadUnaligned(as: UInt64.self)
            h = (h ^ w) &* 0x9E37_79B9_7F4A_7C15
            h ^= h >> 29
            i += 8
        }
        var tail: UInt64 = 0
        var shift: UInt64 = 0
        while i < n { tail |= UInt64(p[i]) << shift; shift += 8; i += 1 }
        h = (h ^ tail) &* 0x9E37_79B9_7F4A_7C15
        return h ^ (h >> 32)
    }

    /// Adds `by` to the key's count (the key is copied the first time it is seen).
    @inline(__always) func add(_ p: UnsafePointer<UInt8>, _ n: Int, by: Int = 1) {
        add(p, n, hash: ByteCounter.hash(p, n), by: by)
    }

    @inline(__always) func add(_ p: UnsafePointer<UInt8>, _ n: Int, hash h: UInt64, by: Int = 1) {
        let hs = hashes, os = offsets, ls = lengths, m = mask
        var i = Int(truncatingIfNeeded: h) & m
        while true {
            let off = os[i]
            if off < 0 { break }
            if hs[i] == h && Int(ls[i]) == n && memcmp(arena + Int(off), p, n) == 0 {
                counts[i] += by
                return
            }
            i = (i + 1) & m
        }
        insert(at: i, p, n, h, by)
    }

    private func insert(at i: Int, _ p: UnsafePointer<UInt8>, _ n: Int, _ h: UInt64, _ by: Int) {
        if distinct >= limit || arenaUsed + n > Int(Int32.max) { untracked += by; return }
        if arenaUsed + n > arenaCapacity {
            var c = arenaCapacity * 2
            while c < arenaUsed + n { c *= 2 }
            let a = UnsafeMutablePointer<UInt8>.allocate(capacity: c)
            a.update(from: arena, count: arenaUsed)
            arena.deallocate()
            arena = a
            arenaCapacity = c
        }
        (arena + arenaUsed).update(from: p, count: n)
        hashes[i] = h
        offsets[i] = Int32(arenaUsed)
        lengths[i] = Int32(n)
        counts[i] = by
        arenaUsed += n
        distinct += 1
        if distinct * 2 > mask { grow() }
    }

    func add(_ key: [UInt8], by: Int = 1) {
        key.withUnsafeBufferPointer { b in
            if let base = b.baseAddress { add(base, b.count, by: by) } else { var z: UInt8 = 0; add(&z, 0, by: by) }
        }
    }

    private func grow() {
        let old = mask + 1
        let (oh, oo, ol, oc) = (hashes, offsets, lengths, counts)
        let c = old * 2
        (hashes, offsets, lengths, counts) = ByteCounter.slots(c)
        mask = c - 1
        for k in 0..<old where oo[k] >= 0 {
            var i = Int(truncatingIfNeeded: oh[k]) & mask
            while offsets[i] >= 0 { i = (i + 1) & mask }
            hashes[i] = oh[k]; offsets[i] = oo[k]; lengths[i] = ol[k]; counts[i] = oc[k]
        }
        oh.deallocate(); oo.deallocate(); ol.deallocate(); oc.deallocate()
    }

    /// Every key with its count.
    func forEach(_ body: (UnsafeBufferPointer<UInt8>, Int) -> Void) {
        for k in 0...mask where offsets[k] >= 0 {
            body(UnsafeBufferPointer(start: arena + Int(offsets[k]), count: Int(lengths[k])), counts[k])
        }
    }

    /// Adds every count of `other` into this table.
    func merge(_ other: ByteCounter) {
        other.forEach { key, count in add(key.baseAddress!, key.count, by: count) }
        untracked += other.untracked
    }

    /// The `n` keys with the highest counts (n < 0: all) above `minimum`; ties go to the greater
    /// key in byte order, as `sort | uniq -c | sort -nr` orders them.
    func top(_ n: Int, minimum: Int = 0) -> [Counted] {
        var all: [(UnsafeBufferPointer<UInt8>, Int)] = []
        forEach { key, count in if count > minimum { all.append((key, count)) } }
        return ByteCounter.top(all, n)
    }

    /// The `n` highest of keys and counts (n < 0: all, sorted), ordered as `top` orders them;
    /// the keys' bytes are copied out.
    static func top(_ entries: [(UnsafeBufferPointer<UInt8>, Int)], _ n: Int) -> [Counted] {
        var all = entries
        func before(_ a: (UnsafeBufferPointer<UInt8>, Int), _ b: (UnsafeBufferPointer<UInt8>, Int)) -> Bool {
            if a.1 != b.1 { return a.1 > b.1 }
            let c = memcmp(a.0.baseAddress!, b.0.baseAddress!, min(a.0.count, b.0.count))
            return c != 0 ? c > 0 : a.0.count > b.0.count
        }
        if n >= 0 && all.count > n {
            // a bounded selection: the table may hold hundreds of thousands of keys
            var best: [(UnsafeBufferPointer<UInt8>, Int)] = []
            for e in all {
                if best.count < n { best.append(e); best.sort(by: before); continue }
                if n > 0 && before(e, best[n - 1]) {
                    best[n - 1] = e
                    var j = n - 1
                    while j > 0 && before(best[j], best[j - 1]) { best.swapAt(j, j - 1); j -= 1 }
                }
            }
            all = best
        } else {
            all.sort(by: before)
        }
        return all.map { Counted(key: Array($0.0), count: $0.1) }
    }
}

/// A key and how often it was seen.
public struct Counted: Sendable, Equatable {
    public let key: [UInt8]
    public let count: Int
    public var text: String { String(decoding: key, as: UTF8.self) }
}
