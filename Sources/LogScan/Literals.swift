/// Finds whether a line holds any of a set of literal strings, in one pass over the line (the
/// guide's `grep -E "(union|select|insert|update|delete|drop)"` is such a set). Wu–Manber:
/// a window as long as the shortest literal slides over the line, and a table indexed by the
/// window's last two bytes says how far it may jump; only windows whose last two bytes end some
/// literal's prefix are compared. For six words of four to six letters the window mostly jumps
/// three bytes, so the cost is about a third of a byte-by-byte scan. Optionally ASCII case
/// folded and word-bounded (the literal neither preceded nor followed by a letter, digit or _).
struct LiteralSet {
    let literals: [[UInt8]]          // folded when ignoreCase
    let ignoreCase: Bool
    let wordBounded: Bool
    let window: Int                  // the shortest literal's length
    private let shift: [UInt8]       // by the window's last two bytes (folded)
    private let candidates: [[Int]]   // by two bytes: the literals whose prefix ends with them
    private let firstBytes: [Bool]   // one-byte literals: which bytes start one

    init(_ words: [[UInt8]], ignoreCase: Bool, wordBounded: Bool) {
        let lits = words.filter { !$0.isEmpty }.map { w in ignoreCase ? w.map(LiteralSet.fold) : w }
        literals = lits
        self.ignoreCase = ignoreCase
        self.wordBounded = wordBounded
        let m = lits.map(\.count).min() ?? 1
        window = m
        var first = [Bool](repeating: false, count: 256)
        var sh = [UInt8](repeating: 0, count: m >= 2 ? 65536 : 0)
        var cand: [[Int]] = m >= 2 ? [[Int]](repeating: [], count: 65536) : []
        if m >= 2 {
            let deflt = UInt8(min(255, m - 1))
            for i in 0..<65536 { sh[i] = deflt }
            for (k, l) in lits.enumerated() {
                for q in 2...m {               // the block l[q-2], l[q-1] ends q bytes into the window
                    let block = Int(l[q - 2]) << 8 | Int(l[q - 1])
                    let s = m - q
                    if ignoreCase {
                        for b in LiteralSet.cases(UInt16(block)) { sh[Int(b)] = min(sh[Int(b)], UInt8(min(255, s))) }
                    } else {
                        sh[block] = min(sh[block], UInt8(min(255, s)))
                    }
                    if s == 0 {
                        for b in ignoreCase ? LiteralSet.cases(UInt16(block)) : [UInt16(block)] { cand[Int(b)].append(k) }
                    }
                }
            }
        } else {
            for l in lits {
                first[Int(l[0])] = true
                if ignoreCase { first[Int(LiteralSet.upper(l[0]))] = true }
            }
        }
        shift = sh
        candidates = cand
        firstBytes = first
    }

    @inline(__always) static func fold(_ b: UInt8) -> UInt8 { b &- 65 < 26 ? b | 0x20 : b }
    @inline(__always) static func upper(_ b: UInt8) -> UInt8 { b &- 97 < 26 ? b & 0xDF : b }
    @inline(__always) static func isWord(_ b: UInt8) -> Bool {
        (b | 0x20) &- 97 < 26 || b &- 48 < 10 || b == 95
    }

    /// Every case variant of a folded two-byte block.
    private static func cases(_ block: UInt16) -> [UInt16] {
        let a = UInt8(block >> 8), b = UInt8(block & 0xff)
        var out: Set<UInt16> = []
        for x in [a, upper(a)] { for y in [b, upper(b)] { out.insert(UInt16(x) << 8 | UInt16(y)) } }
        return Array(out)
    }

    var isEmpty: Bool { literals.isEmpty }

    /// Whether the line holds one of the literals (bounded by non-word bytes when asked).
    func matches(_ p: UnsafePointer<UInt8>, _ n: Int) -> Bool {
        if literals.isEmpty || n < window { return false }
        if window < 2 { return matchesShort(p, n) }
        return shift.withUnsafeBufferPointer { sh in
            var i = window - 1
            while i < n {
                var a = p[i - 1], b = p[i]
                if ignoreCase { a = LiteralSet.fold(a); b = LiteralSet.fold(b) }
                let block = Int(a) << 8 | Int(b)
                let s = Int(sh[block])
                if s > 0 { i += s; continue }
                let start = i - window + 1
                for k in candidates[block] where verify(literals[k], p, n, start) { return true }
                i += 1
            }
            return false
        }
    }

    private func matchesShort(_ p: UnsafePointer<UInt8>, _ n: Int) -> Bool {
        for i in 0..<n where firstBytes[Int(p[i])] {
            for l in literals where verify(l, p, n, i) { return true }
        }
        return false
    }

    @inline(__always) private func verify(_ l: [UInt8], _ p: UnsafePointer<UInt8>, _ n: Int, _ start: Int) -> Bool {
        let m = l.count
        if start + m > n { return false }
        var j = 0
        if ignoreCase {
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
