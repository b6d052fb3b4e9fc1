/// Which lines a log scan keeps: those containing any of the patterns (plain substrings, not
/// regular expressions), ASCII case folded when asked — `grep -i error` without handing every
/// line to Lua. No patterns keeps every line.
public struct LineMatcher: Sendable {
    let patterns: [[UInt8]]
    let ignoreCase: Bool
    /// For each pattern, its first byte in both cases (the scan looks for those first).
    let firsts: [(UInt8, UInt8)]

    public init(patterns: [String], ignoreCase: Bool) {
        self.ignoreCase = ignoreCase
        self.patterns = patterns.filter { !$0.isEmpty }.map { p in ignoreCase ? Array(p.utf8).map(LineMatcher.lower) : Array(p.utf8) }
        self.firsts = self.patterns.map { p in ignoreCase ? (LineMatcher.lower(p[0]), LineMatcher.upper(p[0])) : (p[0], p[0]) }
    }

    public var keepsEverything: Bool { patterns.isEmpty }

    @inline(__always) static func lower(_ b: UInt8) -> UInt8 { b &- 65 < 26 ? b | 0x20 : b }
    @inline(__always) static func upper(_ b: UInt8) -> UInt8 { b &- 97 < 26 ? b & 0xDF : b }

    public func matches(_ line: UnsafeRawBufferPointer) -> Bool {
        if patterns.isEmpty { return true }
        let n = line.count
        for (k, p) in patterns.enumerated() {
            let m = p.count
            if m > n { continue }
            let (f1, f2) = firsts[k]
            var i = 0
            let last = n - m
            while i <= last {
                let b = line[i]
                if b == f1 || b == f2 {
                    var j = 1
                    if ignoreCase {
                        while j < m && LineMatcher.lower(line[i + j]) == p[j] { j += 1 }
                    } else {
                        while j < m && line[i + j] == p[j] { j += 1 }
                    }
                    if j == m { return true }
                }
                i += 1
            }
        }
        return false
    }
}
