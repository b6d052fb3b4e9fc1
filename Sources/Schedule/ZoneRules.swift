import Glibc

/// A time zone's rules without Foundation, so `opsh run` (which imports none: Package.swift)
/// can check maintenance windows in a named zone: the system's compiled tz database
/// (TZif files under $TZDIR or /usr/share/zoneinfo, RFC 8536) for the transitions it lists,
/// and the POSIX TZ rule in its footer (`CET-1CEST,M3.5.0,M10.5.0/3`) for instants after the
/// last one. localtime_r with TZ set would need setenv, which is process-wide and not
/// thread-safe in the agent (threads run jobs while the scheduler reads clocks); this reader
/// is a value, immutable once loaded. A bare POSIX TZ string (`<+03>-3`, `EST5EDT,M3.2.0,M11.1.0`)
/// is accepted too when no file has that name.
public struct ZoneRules: Sendable, CustomStringConvertible {
    public struct Offset: Sendable, Equatable {
        /// seconds east of UTC
        public let utcOffset: Int
        public let isDST: Bool
        public let abbreviation: String
    }

    public struct Failure: Error, CustomStringConvertible, Sendable {
        public let message: String
        public var description: String { message }
    }

    public let name: String
    let transitions: [Int64]
    let transitionTypes: [Int]
    let types: [Offset]
    let rule: PosixRule?

    public var description: String { name }

    public static let utc = ZoneRules(name: "UTC", transitions: [], transitionTypes: [],
                                      types: [Offset(utcOffset: 0, isDST: false, abbreviation: "UTC")], rule: nil)

    init(name: String, transitions: [Int64], transitionTypes: [Int], types: [Offset], rule: PosixRule?) {
        self.name = name
        self.transitions = transitions
        self.transitionTypes = transitionTypes
        self.types = types
        self.rule = rule
    }

    /// Loads a zone by its tz database name (Europe/Berlin, America/New_York, UTC), or reads a
    /// POSIX TZ string.
    public init(named name: String) throws(Failure) {
        if name == "UTC" || name == "Etc/UTC" || name == "Z" { self = .utc; return }
        let dir = getenv("TZDIR").map { String(cString: $0) } ?? "/usr/share/zoneinfo"
        if !name.isEmpty, !name.hasPrefix("/"), !name.split(separator: "/").contains(".."),
           let bytes = ZoneRules.readFile(dir + "/" + name) {
            self = try ZoneRules.parseTZif(bytes, name: name)
            return
        }
        if let rule = PosixRule(name) {
            self.init(name: name, transitions: [], transitionTypes: [], types: [rule.std], rule: rule)
            return
        }
        throw Failure(message: "unknown time zone '\(name)' (a tz database name such as Europe/Berlin, or a POSIX TZ string)")
    }

    /// The offset in force at a Unix instant.
    public func offset(at t: Int64) -> Offset {
        if transitions.isEmpty || t >= transitions[transitions.count - 1] {
            if let rule { return rule.offset(at: t) }
            return transitions.isEmpty ? types[0] : types[transitionTypes[transitions.count - 1]]
        }
        if t < transitions[0] { return types[0] }
        var lo = 0, hi = transitions.count - 1   // transitions[lo] <= t < transitions[hi]
        while hi - lo > 1 {
            let mid = (lo + hi) / 2
            if transitions[mid] <= t { lo = mid } else { hi = mid }
        }
        return types[transitionTypes[lo]]
    }

    /// The zone's clock reading at an instant.
    public func local(_ t: Int64) -> LocalTime { LocalTime(seconds: t + Int64(offset(at: t).utcOffset)) }

    /// What a clock reading means as an instant.
    public enum Resolution: Sendable, Equatable {
        case unique(Int64)
        /// the reading happens twice (fall back): the first and the second instant
        case repeated(Int64, Int64)
        /// the reading never happens (spring forward): the instant the clock jumped over it
        case skipped(transition: Int64)
    }

    public func resolve(_ local: LocalTime) -> Resolution {
        let l = local.seconds
        // no zone moves its clock by more than a day: the offsets in force a day either side
        // cover every instant this reading could be
        let before = offset(at: l - 93600).utcOffset, after = offset(at: l + 93600).utcOffset
        var found: [Int64] = []
        for o in [before, after, offset(at: l - Int64(before)).utcOffset, offset(at: l - Int64(after)).utcOffset] {
            let u = l - Int64(o)
            if offset(at: u).utcOffset == o, !found.contains(u) { found.append(u) }
        }
        found.sort()
        if found.count == 1 { return .unique(found[0]) }
        if found.count >= 2 { return .repeated(found[0], found[found.count - 1]) }
        // a gap: the clock jumped from `before` to `after` (after > before) at some instant in
        // (l - after, l - before]; find it
        var lo = l - Int64(after), hi = l - Int64(before)
        let base = offset(at: lo).utcOffset
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2
            if offset(at: mid).utcOffset == base { lo = mid } else { hi = mid }
        }
        return .skipped(transition: hi)
    }

    static func readFile(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, st.st_size < 1 << 20 else { return nil }
        var out = [UInt8](repeating: 0, count: Int(st.st_size))
        var got = 0
        while got < out.count {
            let n = out.withUnsafeMutableBytes { read(fd, $0.baseAddress! + got, $0.count - got) }
            if n <= 0 { break }
            got += n
        }
        return got == out.count ? out : nil
    }

    /// RFC 8536: the version 2+ block (64-bit times) when present, and the footer's TZ rule.
    static func parseTZif(_ b: [UInt8], name: String) throws(Failure) -> ZoneRules {
        func fail() -> Failure { Failure(message: "\(name): not a valid TZif file") }
        func be(_ at: Int, _ n: Int) -> Int64 {
            var v: UInt64 = 0
            for i in 0..<n { v = v << 8 | UInt64(b[at + i]) }
            if n == 4 { return Int64(Int32(bitPattern: UInt32(v))) }
            return Int64(bitPattern: v)
        }
        guard b.count >= 44, b[0] == 0x54, b[1] == 0x5A, b[2] == 0x69, b[3] == 0x66 else { throw fail() }
        let version = b[4]
        func counts(_ at: Int) -> [Int] { (0..<6).map { Int(be(at + 20 + $0 * 4, 4)) } }
        var at = 0
        var timeSize = 4
        var c = counts(0)
        func blockSize(_ c: [Int], _ ts: Int) -> Int {
            c[3] * ts + c[3] + c[4] * 6 + c[5] + c[2] * (ts + 4) + c[1] + c[0]
        }
        if version >= 0x32 {   // skip the v1 block
            at = 44 + blockSize(c, 4)
            guard b.count >= at + 44 else { throw fail() }
            c = counts(at)
            timeSize = 8
        }
        let (isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt) = (c[0], c[1], c[2], c[3], c[4], c[5])
        var p = at + 44
        guard typecnt > 0, b.count >= p + blockSize(c, timeSize) else { throw fail() }
        _ = (isutcnt, isstdcnt, leapcnt)
        var transitions: [Int64] = []
        for i in 0..<timecnt { transitions.append(be(p + i * timeSize, timeSize)) }
        p += timecnt * timeSize
        let transitionTypes = (0..<timecnt).map { Int(b[p + $0]) }
        p += timecnt
        let typeStart = p
        p += typecnt * 6
        let chars = Array(b[p..<(p + charcnt)])
        var types: [Offset] = []
        for i in 0..<typecnt {
            let q = typeStart + i * 6
            let idx = Int(b[q + 5])
            var abbr = ""
            if idx < chars.count {
                var e = idx
                while e < chars.count && chars[e] != 0 { e += 1 }
                abbr = String(decoding: chars[idx..<e], as: UTF8.self)
            }
            types.append(Offset(utcOffset: Int(be(q, 4)), isDST: b[q + 4] != 0, abbreviation: abbr))
        }
        guard transitionTypes.allSatisfy({ $0 < typecnt }) else { throw fail() }
        var rule: PosixRule?
        if timeSize == 8 {
            let footerStart = at + 44 + blockSize(c, 8)
            if footerStart < b.count, b[footerStart] == 0x0A {
                var e = footerStart + 1
                while e < b.count && b[e] != 0x0A { e += 1 }
                rule = PosixRule(String(decoding: b[(footerStart + 1)..<e], as: UTF8.self))
            }
        }
        return ZoneRules(name: name, transitions: transitions, transitionTypes: transitionTypes, types: types, rule: rule)
    }
}

/// A POSIX TZ string: `std offset [dst [offset] [,start[/time],end[/time]]]`, with the
/// rules as Mm.w.d (the d'th day of week w of month m, 5 = last), Jn (Julian day, no Feb 29)
/// or n (zero-based day of year). Offsets are hours west of UTC, as POSIX writes them.
struct PosixRule: Sendable {
    struct DateRule: Sendable {
        enum Kind: Sendable { case monthWeekDay(Int, Int, Int), julian1(Int), julian0(Int) }
        let kind: Kind
        let time: Int   // seconds after local midnight (may be negative or past 24h)

        /// local seconds of the change in `year`
        func localSeconds(year: Int) -> Int64 {
            var day: Int64
            switch kind {
            case let .monthWeekDay(m, w, d):
                let first = CivilTime.daysFromCivil(year, m, 1)
                let firstWeekday = Int(CivilTime.floorMod(first + 4, 7))
                var dom = 1 + (d - firstWeekday + 7) % 7 + (w - 1) * 7
                let dim = CivilTime.daysInMonth(year, m)
                while dom > dim { dom -= 7 }
                day = first + Int64(dom - 1)
            case let .julian1(n):
                let leap = CivilTime.daysInMonth(year, 2) == 29
                day = CivilTime.daysFromCivil(year, 1, 1) + Int64(n - 1) + (leap && n >= 60 ? 1 : 0)
            case let .julian0(n):
                day = CivilTime.daysFromCivil(year, 1, 1) + Int64(n)
            }
            return day * 86400 + Int64(time)
        }
    }

    let std: ZoneRules.Offset
    let dst: ZoneRules.Offset?
    let start: DateRule?
    let end: DateRule?

    init?(_ text: String) {
        var s = Substring(text)
        func name() -> String? {
            if s.first == "<" {
                guard let close = s.firstIndex(of: ">") else { return nil }
                let n = String(s[s.index(after: s.startIndex)..<close])
                s = s[s.index(after: close)...]
                return n
            }
            let n = s.prefix { $0.isLetter }
            guard n.count >= 3 else { return nil }
            s = s.dropFirst(n.count)
            return String(n)
        }
        func number() -> Int? {
            let d = s.prefix { $0.isNumber }
            guard !d.isEmpty else { return nil }
            s = s.dropFirst(d.count)
            return Int(d)
        }
        func clock() -> Int? {   // [+-]hh[:mm[:ss]]
            var sign = 1
            if s.first == "+" || s.first == "-" { sign = s.first == "-" ? -1 : 1; s = s.dropFirst() }
            guard let h = number() else { return nil }
            var total = h * 3600
            if s.first == ":" { s = s.dropFirst(); guard let m = number() else { return nil }; total += m * 60 }
            if s.first == ":" { s = s.dropFirst(); guard let x = number() else { return nil }; total += x }
            return sign * total
        }
        func dateRule() -> DateRule? {
            let kind: DateRule.Kind
            if s.first == "M" {
                s = s.dropFirst()
                guard let m = number(), s.first == ".", (1...12).contains(m) else { return nil }
                s = s.dropFirst()
                guard let w = number(), s.first == ".", (1...5).contains(w) else { return nil }
                s = s.dropFirst()
                guard let d = number(), (0...6).contains(d) else { return nil }
                kind = .monthWeekDay(m, w, d)
            } else if s.first == "J" {
                s = s.dropFirst()
                guard let n = number(), (1...365).contains(n) else { return nil }
                kind = .julian1(n)
            } else {
                guard let n = number(), (0...365).contains(n) else { return nil }
                kind = .julian0(n)
            }
            var time = 7200
            if s.first == "/" { s = s.dropFirst(); guard let t = clock() else { return nil }; time = t }
            return DateRule(kind: kind, time: time)
        }
        guard let stdName = name(), let stdWest = clock() else { return nil }
        std = ZoneRules.Offset(utcOffset: -stdWest, isDST: false, abbreviation: stdName)
        if s.isEmpty { dst = nil; start = nil; end = nil; return }
        guard let dstName = name() else { return nil }
        var dstOffset = -stdWest + 3600
        if let f = s.first, f != "," { guard let w = clock() else { return nil }; dstOffset = -w }
        dst = ZoneRules.Offset(utcOffset: dstOffset, isDST: true, abbreviation: dstName)
        // without a rule POSIX leaves the dates to the implementation; glibc uses the US rule
        if s.isEmpty { s = ",M3.2.0,M11.1.0" }
        guard s.first == "," else { return nil }
        s = s.dropFirst()
        guard let a = dateRule(), s.first == "," else { return nil }
        s = s.dropFirst()
        guard let b = dateRule(), s.isEmpty else { return nil }
        start = a; end = b
    }

    func offset(at t: Int64) -> ZoneRules.Offset {
        guard let dst, let start, let end else { return std }
        let year = LocalTime(seconds: t + Int64(std.utcOffset)).date.year
        // the start time is on standard time's clock, the end on daylight time's
        let s = start.localSeconds(year: year) - Int64(std.utcOffset)
        let e = end.localSeconds(year: year) - Int64(dst.utcOffset)
        let inDST = s < e ? (t >= s && t < e) : !(t >= e && t < s)
        return inDST ? dst : std
    }
}
