/// The times written in log lines, read into Unix seconds without any allocation: the access
/// log's `[10/Oct/2000:13:55:36 -0700]`, ISO 8601 at the start of a line (`2026-12-03 15:20:00,123`,
/// `2026-12-03T15:20:00Z`, with or without a zone; none means UTC) and syslog's `Dec  3 15:20:00`
/// (no year in the line: the year given, one earlier when that would lie in the future).
enum Timestamps {
    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
    static func days(_ y0: Int, _ m: Int, _ d: Int) -> Int {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146097 + doe - 719468
    }

    /// The civil date of a Unix time (the inverse of `days`), for the syslog year guess.
    static func year(ofUnix t: Int64) -> Int {
        let z = Int(t / 86400) + 719468
        let era = (z >= 0 ? z : z - 146096) / 146097
        let doe = z - era * 146097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let m = mp < 10 ? mp + 3 : mp - 9
        return yoe + era * 400 + (m <= 2 ? 1 : 0)
    }

    @inline(__always) static func digits(_ p: UnsafePointer<UInt8>, _ at: Int, _ count: Int) -> Int? {
        var v = 0
        for i in at..<(at + count) {
            let d = Int(p[i]) - 48
            if d < 0 || d > 9 { return nil }
            v = v * 10 + d
        }
        return v
    }

    /// "Jan" ... "Dec" (any case) to 1...12.
    @inline(__always) static func month(_ p: UnsafePointer<UInt8>, _ at: Int) -> Int? {
        let k = (UInt32(p[at] | 0x20) << 16) | (UInt32(p[at + 1] | 0x20) << 8) | UInt32(p[at + 2] | 0x20)
        switch k {
        case 0x6A616E: return 1   // jan
        case 0x666562: return 2   // feb
        case 0x6D6172: return 3   // mar
        case 0x617072: return 4   // apr
        case 0x6D6179: return 5   // may
        case 0x6A756E: return 6   // jun
        case 0x6A756C: return 7   // jul
        case 0x617567: return 8   // aug
        case 0x736570: return 9   // sep
        case 0x6F6374: return 10  // oct
        case 0x6E6F76: return 11  // nov
        case 0x646563: return 12  // dec
        default: return nil
        }
    }

    /// `10/Oct/2000:13:55:36 -0700` (the bracketed field of the combined format, without brackets).
    static func combined(_ p: UnsafePointer<UInt8>, _ n: Int) -> Int64? {
        guard n >= 20, p[2] == 0x2F, p[6] == 0x2F, p[11] == 0x3A, p[14] == 0x3A, p[17] == 0x3A,
              let d = digits(p, 0, 2), let mo = month(p, 3), let y = digits(p, 7, 4),
              let hh = digits(p, 12, 2), let mm = digits(p, 15, 2), let ss = digits(p, 18, 2) else { return nil }
        var t = Int64(days(y, mo, d)) * 86400 + Int64(hh * 3600 + mm * 60 + ss)
        if n >= 26 && p[20] == 0x20, let z = zone(p, 21, n) { t -= z }
        return t
    }

    /// A zone `+0700`, `-07:00` or `Z` at `at`, in seconds east of UTC.
    static func zone(_ p: UnsafePointer<UInt8>, _ at: Int, _ n: Int) -> Int64? {
        guard at < n else { return nil }
        if p[at] == 0x5A { return 0 }
        guard p[at] == 0x2B || p[at] == 0x2D, at + 5 <= n, let h = digits(p, at + 1, 2) else { return nil }
        let mAt = p[at + 3] == 0x3A ? at + 4 : at + 3
        guard mAt + 2 <= n, let m = digits(p, mAt, 2) else { return nil }
        let s = Int64(h * 3600 + m * 60)
        return p[at] == 0x2D ? -s : s
    }

    /// The time a plain log line starts with (after an optional `[`), or nil.
    static func leading(_ p: UnsafePointer<UInt8>, _ n0: Int, year: Int) -> Int64? {
        var p = p, n = n0
        if n > 0 && p[0] == 0x5B { p += 1; n -= 1 }
        if n >= 19 && p[4] == 0x2D && p[7] == 0x2D && (p[10] == 0x54 || p[10] == 0x20) && p[13] == 0x3A && p[16] == 0x3A,
           let y = digits(p, 0, 4), let mo = digits(p, 5, 2), let d = digits(p, 8, 2),
           let hh = digits(p, 11, 2), let mm = digits(p, 14, 2), let ss = digits(p, 17, 2), mo >= 1, mo <= 12 {
            var t = Int64(days(y, mo, d)) * 86400 + Int64(hh * 3600 + mm * 60 + ss)
            var i = 19
            if i < n && (p[i] == 0x2E || p[i] == 0x2C) {
                i += 1
                while i < n && p[i] &- 48 < 10 { i += 1 }
            }
            if i < n && p[i] == 0x20 && i + 1 < n && (p[i + 1] == 0x2B || p[i + 1] == 0x2D) { i += 1 }
            if let z = zone(p, i, n) { t -= z }
            return t
        }
        // syslog: "Dec  3 15:20:00"
        if n >= 15 && p[3] == 0x20 && p[9] == 0x3A && p[12] == 0x3A, let mo = month(p, 0),
           let hh = digits(p, 7, 2), let mm = digits(p, 10, 2), let ss = digits(p, 13, 2) {
            let d: Int
            if p[4] == 0x20, let d1 = digits(p, 5, 1) { d = d1 } else if let d2 = digits(p, 4, 2) { d = d2 } else { return nil }
            return Int64(days(year, mo, d)) * 86400 + Int64(hh * 3600 + mm * 60 + ss)
        }
        return nil
    }
}
