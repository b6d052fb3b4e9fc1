import CLogScan

/// Finds whether a line holds any of a set of literal strings, in one pass over the line (the
/// guide's `grep -E "(union|select|insert|update|delete|drop)"` is such a set). Optionally ASCII
/// case folded and word-bounded (the literal neither preceded nor followed by a letter, digit or _).
///
/// With at most eight literals (the guide's sets have three to six), CLogScan's vector search:
/// each literal's two rarest bytes (its fingerprint) are compared at 32 positions at once (AVX2;
/// SSE2 16 where AVX2 is missing), and only positions whose fingerprint matches are verified. It
/// searches a whole buffer of lines as well as one line (`find`), so the scanner can skip from
/// match to match instead of calling it line by line: ripgrep's way, with a simpler prefilter
/// than its Teddy.
///
/// Otherwise, when the literals fit in 64 bits together, Shift-And: one 64-bit state holds, for
/// every position of every literal, whether the text just read matches the literal up to there;
/// each byte costs a load from a 2 KiB table and three ALU operations, with no branch but the
/// (rare) match. Otherwise Wu–Manber: a window as long as the shortest literal slides over the
/// line, and a table indexed by the window's last two bytes says how far it may jump.
///
/// The tables are plain memory read through pointers (no Swift array on the scanning path:
/// no retain, no bounds or uniqueness check per byte); they are immutable once built, so any
/// number of threads may scan with one set.
final class LiteralSet: @unchecked Sendable {
    let ignoreCase: Bool
    let wordBounded: Bool
    let window: Int                  // the shortest literal's length
    let count: Int
    /// By the window's last two bytes (folded): how far the window may jump.
    private let shift: UnsafeMutablePointer<UInt8>
    /// By the same two bytes: where their candidates start in `candidateList`, and how many.
    private let candidateStart: UnsafeMutablePointer<Int32>
    private let candidateCount: UnsafeMutablePointer<UInt8>
    private let candidateList: UnsafeMutablePointer<Int32>
    /// The literals (folded when ignoreCase), one after the other.
    private let bytes: UnsafeMutablePointer<UInt8>
    private let starts: UnsafeMutablePointer<Int32>
    private let lengths: UnsafeMutablePointer<Int32>
    /// One-byte literals: which bytes start one.
    private let firstBytes: UnsafeMutablePointer<Bool>
    /// Shift-And: by byte, the positions (bits) of the literals that hold it; the first and the
    /// last position of each literal. nil when the literals are longer than 64 bytes in all.
    private let positions: UnsafeMutablePointer<UInt64>?
    private let firstBits: UInt64
    private let lastBits: UInt64
    /// The literal that ends at each bit.
    private let literalAt: UnsafeMutablePointer<Int32>
    /// The vector search (at most eight literals), nil otherwise.
    private let vector: UnsafeMutablePointer<opsh_lits>?
    /// Whether `find` may run over many lines at once: no literal holds a line's end (\n, or the
    /// \r a line loses before it is matched).
    let searchesBuffers: Bool

    init(_ words: [[UInt8]], ignoreCase: Bool, wordBounded: Bool) {
        let lits = words.filter { !$0.isEmpty }.map { w in ignoreCase ? w.map(LiteralSet.fold) : w }
        self.ignoreCase = ignoreCase
        self.wordBounded = wordBounded
        count = lits.count
        let m = lits.map(\.count).min() ?? 1
        window = m
        bytes = .allocate(capacity: max(1, lits.reduce(0) { $0 + $1.count }))
        starts = .allocate(capacity: max(1, lits.count))
        lengths = .allocate(capacity: max(1, lits.count))
        var off = 0
        for (k, l) in lits.enumerated() {
            for (j, b) in l.enumerated() { bytes[off + j] = b }
            starts[k] = Int32(off); lengths[k] = Int32(l.count)
            off += l.count
        }
        firstBytes = .allocate(capacity: 256)
        firstBytes.initialize(repeating: false, count: 256)
        for l in lits {
            firstBytes[Int(l[0])] = true
            if ignoreCase { firstBytes[Int(LiteralSet.upper(l[0]))] = true }
        }
        literalAt = .allocate(capacity: 64)
        literalAt.initialize(repeating: -1, count: 64)
        let total = lits.reduce(0) { $0 + $1.count }
        if total <= 64 && !lits.isEmpty {
            let table = UnsafeMutablePointer<UInt64>.allocate(capacity: 256)
            table.initialize(repeating: 0, count: 256)
            var bit = 0, firsts: UInt64 = 0, lasts: UInt64 = 0
            for (k, l) in lits.enumerated() {
                for (j, b) in l.enumerated() {
                    table[Int(b)] |= 1 << UInt64(bit + j)
                    if ignoreCase { table[Int(LiteralSet.upper(b))] |= 1 << UInt64(bit + j) }
                }
                firsts |= 1 << UInt64(bit)
                lasts |= 1 << UInt64(bit + l.count - 1)
                literalAt[bit + l.count - 1] = Int32(k)
                bit += l.count
            }
            positions = table
            firstBits = firsts
            lastBits = lasts
        } else {
            positions = nil
            firstBits = 0
            lastBits = 0
        }
        if !lits.isEmpty && lits.count <= Int(OPSH_LITS_MAX) {
            let v = UnsafeMutablePointer<opsh_lits>.allocate(capacity: 1)
            opsh_lits_init(v, ignoreCase ? 1 : 0, wordBounded ? 1 : 0)
            for k in 0..<lits.count { _ = opsh_lits_add(v, bytes + Int(starts[k]), UInt32(lengths[k])) }
            vector = v
        } else {
            vector = nil
        }
        searchesBuffers = vector != nil && !lits.contains { $0.contains(0x0A) || $0.contains(0x0D) }
        shift = .allocate(capacity: 65536)
        shift.initialize(repeating: UInt8(min(255, max(0, m - 1))), count: 65536)
        var lists = [[Int32]](repeating: [], count: m >= 2 ? 65536 : 0)
        if m >= 2 {
            for (k, l) in lits.enumerated() {
                for q in 2...m {               // the block l[q-2], l[q-1] ends q bytes into the window
                    let block = Int(l[q - 2]) << 8 | Int(l[q - 1])
                    shift[block] = min(shift[block], UInt8(min(255, m - q)))
                    if q == m { lists[block].append(Int32(k)) }
                }
            }
        }
        candidateStart = .allocate(capacity: 65536)
        candidateCount = .allocate(capacity: 65536)
        candidateStart.initialize(repeating: 0, count: 65536)
        candidateCount.initialize(repeating: 0, count: 65536)
        candidateList = .allocate(capacity: max(1, lists.reduce(0) { $0 + $1.count }))
        var at = 0
        for (block, list) in lists.enumerated() where !list.isEmpty {
            candidateStart[block] = Int32(at)
            candidateCount[block] = UInt8(min(255, list.count))
            for k in list { candidateList[at] = k; at += 1 }
        }
    }

    deinit {
        shift.deallocate(); candidateStart.deallocate(); candidateCount.deallocate(); candidateList.deallocate()
        bytes.deallocate(); starts.deallocate(); lengths.deallocate(); firstBytes.deallocate()
        positions?.deallocate(); literalAt.deallocate(); vector?.deallocate()
    }

    @inline(__always) static func fold(_ b: UInt8) -> UInt8 { b &- 65 < 26 ? b | 0x20 : b }
    @inline(__always) static func upper(_ b: UInt8) -> UInt8 { b &- 97 < 26 ? b & 0xDF : b }
    @inline(__always) static func isWord(_ b: UInt8) -> Bool {
        (b | 0x20) &- 97 < 26 || b &- 48 < 10 || b == 95
    }

    var isEmpty: Bool { count == 0 }

    /// Whether the line holds one of the literals (bounded by non-word bytes when asked).
    func matches(_ p: UnsafePointer<UInt8>, _ n: Int) -> Bool {
        if count == 0 || n < window { return false }
        if let v = vector { return opsh_lits_find(v, p, n, 0) < n }
        if let table = positions { return shiftAnd(table, p, n) }
        if window < 2 { return matchesShort(p, n) }
        return ignoreCase ? scan(p, n, folding: true) : scan(p, n, folding: false)
    }

    @inline(__always) private func scan(_ p: UnsafePointer<UInt8>, _ n: Int, folding: Bool) -> Bool {
        let sh = shift, w = window
        var i = w - 1
        while i < n {
            var a = p[i - 1], b = p[i]
            if folding { a = LiteralSet.fold(a); b = LiteralSet.fold(b) }
            let block = Int(a) << 8 | Int(b)
            let s = Int(sh[block])
            if s > 0 { i += s; continue }
            let c = Int(candidateCount[block])
            if c > 0 {
                let first = Int(candidateStart[block])
                let start = i - w + 1
                for k in first..<(first + c) where verify(Int(candidateList[k]), p, n, start, folding: folding) { return true }
            }
            i += 1
        }
        return false
    }

    /// Where the first literal at or after `from` starts in p[0..<n) (n: none); p starts a line,
    /// and n may span many lines when `searchesBuffers`. Only for sets of the vector search.
    @inline(__always) func find(_ p: UnsafePointer<UInt8>, _ n: Int, from: Int) -> Int {
        opsh_lits_find(vector!, p, n, from)
    }

    /// `find` that adds the newlines it passes to `lines` and notes the first NUL in `nul` (n
    /// when none yet): one pass for the search and the line count.
    @inline(__always) func findLines(_ p: UnsafePointer<UInt8>, _ n: Int, from: Int, lines: inout Int, nul: inout Int) -> Int {
        var l = 0, z = nul
        let m = opsh_lits_find_lines(vector!, p, n, from, &l, &z)
        lines += l
        nul = z
        return m
    }

    @inline(__always) private func shiftAnd(_ table: UnsafeMutablePointer<UInt64>, _ p: UnsafePointer<UInt8>, _ n: Int) -> Bool {
        var d: UInt64 = 0
        let firsts = firstBits, lasts = lastBits
        for i in 0..<n {
            d = ((d << 1) | firsts) & table[Int(p[i])]
            if d & lasts != 0 && ended(d & lasts, p, n, at: i) { return true }
        }
        return false
    }

    /// Whether one of the literals whose last byte is at `i` (their bits in `hits`) counts:
    /// always, unless word-bounded and a word byte touches it.
    private func ended(_ hits: UInt64, _ p: UnsafePointer<UInt8>, _ n: Int, at i: Int) -> Bool {
        if !wordBounded { return true }
        var h = hits
        while h != 0 {
            let bit = h.trailingZeroBitCount
            h &= h - 1
            let m = Int(lengths[Int(literalAt[bit])])
            let start = i - m + 1
            if start > 0 && LiteralSet.isWord(p[start - 1]) { continue }
            if i + 1 < n && LiteralSet.isWord(p[i + 1]) { continue }
            return true
        }
        return false
    }

    private func matchesShort(_ p: UnsafePointer<UInt8>, _ n: Int) -> Bool {
        for i in 0..<n where firstBytes[Int(p[i])] {
            for k in 0..<count where verify(k, p, n, i, folding: ignoreCase) { return true }
        }
        return false
    }

    @inline(__always) private func verify(_ k: Int, _ p: UnsafePointer<UInt8>, _ n: Int, _ start: Int, folding: Bool) -> Bool {
        let m = Int(lengths[k])
        if start + m > n { return false }
        let l = bytes + Int(starts[k])
        var j = 0
        if folding {
            while j < m && LiteralSet.fold(p[start + j]) == l[j] { j += 1 }
        } else {
            while j < m && p[start + j] == l[j] { j += 1 }
        }
        if j < m { return false }
        if wordBounded {
            if start > 0 && LiteralSet.isWord(p[start - 1]) { return false }
            if start + m < n && LiteralSet.isWord(p[start + m]) { return false }
        }
        return true
    }
}
