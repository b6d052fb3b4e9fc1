import Glibc

/// Counts byte strings (IP addresses, paths) without allocating per key: the keys live in one
/// growing arena, the table is open addressing over parallel arrays. The number of distinct
/// keys is capped so memory stays bounded whatever the log holds; a key first seen once the
/// table is full is counted in `untracked` (the report says so) instead of growing the table.
final class ByteCounter {
    private(set) var arena: [UInt8] = []
    private var hashes: [UInt64]
    private var offsets: [Int32]     // -1: empty slot
    private var lengths: [Int32]
    private var counts: [Int]
    private var mask: Int
    private(set) var distinct = 0
    private(set) var untracked = 0
    let limit: Int

    init(limit: Int, capacity: Int = 1024) {
        var c = 16
        while c < capacity * 2 { c <<= 1 }
        hashes = [UInt64](repeating: 0, count: c)
        offsets = [Int32](repeating: -1, count: c)
        lengths = [Int32](repeating: 0, count: c)
        counts = [Int](repeating: 0, count: c)
        mask = c - 1
        self.limit = max(1, limit)
    }

    @inline(__always) static func hash(_ p: UnsafePointer<UInt8>, _ n: Int) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        var i = 0
        while i + 8 <= n {
            let w = UnsafeRawPointer(p + i).loadUnaligned(as: UInt64.self)
            h = (h ^ w) &* 0x0000_0100_0000_01b3
            h ^= h >> 29
            i += 8
        }
        while i < n { h = (h ^ UInt64(p[i])) &* 0x0000_0100_0000_01b3; i += 1 }
        return h ^ (h >> 32)
    }

    /// Adds `by` to the key's count (the key is copied the first time it is seen).
    @inline(__always) func add(_ p: UnsafePointer<UInt8>, _ n: Int, by: Int = 1) {
        add(p, n, hash: ByteCounter.hash(p, n), by: by)
    }

    @inline(__always) func add(_ p: UnsafePointer<UInt8>, _ n: Int, hash h: UInt64, by: Int = 1) {
        var i = Int(truncatingIfNeeded: h) & mask
        while true {
            let off = offsets[i]
            if off < 0 { break }
            if hashes[i] == h && Int(lengths[i]) == n && equal(Int(off), p, n) {
                counts[i] += by
                return
            }
            i = (i + 1) & mask
        }
        if distinct >= limit || arena.count + n > Int(Int32.max) { untracked += by; return }
        hashes[i] = h
        offsets[i] = Int32(arena.count)
        lengths[i] = Int32(n)
        counts[i] = by
        arena.append(contentsOf: UnsafeBufferPointer(start: p, count: n))
        distinct += 1
        if distinct * 2 > mask { grow() }
    }

    func add(_ key: [UInt8], by: Int = 1) {
        key.withUnsafeBufferPointer { b in
            if let base = b.baseAddress { add(base, b.count, by: by) } else { var z: UInt8 = 0; add(&z, 0, by: by) }
        }
    }

    @inline(__always) private func equal(_ off: Int, _ p: UnsafePointer<UInt8>, _ n: Int) -> Bool {
        arena.withUnsafeBufferPointer { a in memcmp(a.baseAddress! + off, p, n) == 0 }
    }

    private func grow() {
        let oldH = hashes, oldO = offsets, oldL = lengths, oldC = counts
        let c = (mask + 1) * 2
        hashes = [UInt64](repeating: 0, count: c)
        offsets = [Int32](repeating: -1, count: c)
        lengths = [Int32](repeating: 0, count: c)
        counts = [Int](repeating: 0, count: c)
        mask = c - 1
        for k in 0..<oldO.count where oldO[k] >= 0 {
            var i = Int(truncatingIfNeeded: oldH[k]) & mask
            while offsets[i] >= 0 { i = (i + 1) & mask }
            hashes[i] = oldH[k]; offsets[i] = oldO[k]; lengths[i] = oldL[k]; counts[i] = oldC[k]
        }
    }

    /// Every key with its count.
    func forEach(_ body: (UnsafeBufferPointer<UInt8>, Int) -> Void) {
        arena.withUnsafeBufferPointer { a in
            for k in 0..<offsets.count where offsets[k] >= 0 {
                body(UnsafeBufferPointer(rebasing: a[Int(offsets[k])..<(Int(offsets[k]) + Int(lengths[k]))]), counts[k])
            }
        }
    }

    /// Adds every count of `other` into this table.
    func merge(_ other: ByteCounter) {
        other.forEach { key, count in
            if let base = key.baseAddress { add(base, key.count, by: count) } else { var z: UInt8 = 0; add(&z, 0, by: count) }
        }
        untracked += other.untracked
    }

    /// The `n` keys with the highest counts; ties go to the greater key in byte order, as
    /// `sort | uniq -c | sort -nr` orders them under LC_ALL=C.
    func top(_ n: Int, minimum: Int = 0) -> [Counted] {
        var all: [Counted] = []
        forEach { key, count in if count > minimum { all.append(Counted(key: Array(key), count: count)) } }
        all.sort { a, b in a.count != b.count ? a.count > b.count : !a.key.lexicographicallyPrecedes(b.key) && a.key != b.key }
        return n >= 0 && all.count > n ? Array(all[0..<n]) : all
    }
}

/// A key and how often it was seen.
public struct Counted: Sendable, Equatable {
    public let key: [UInt8]
    public let count: Int
    public var text: String { String(decoding: key, as: UTF8.self) }
}
