/// A five-field cron expression (minute hour day-of-month month day-of-week) as Vixie cron
/// reads it: `*`, numbers, ranges `a-b`, steps `*/n` and `a-b/n` (and `a/n`: a to the end),
/// lists, month and weekday names (JAN-DEC, SUN-SAT, any case), 0 or 7 for Sunday, and the
/// nicknames @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly.
///
/// The day rule: when both day-of-month and day-of-week are restricted (neither starts with
/// `*`), a day matches if EITHER matches ("0 0 1,15 * MON": the 1st, the 15th and every Monday);
/// when one starts with `*`, only the other counts.
///
/// Daylight saving time, as Vixie cron and cronie do it: a job with a fixed hour (its hour
/// field is not `*`) runs once at each of its times in the zone's clock: a time skipped by the
/// spring-forward jump runs at the instant of the jump (02:30 on the night Berlin goes from
/// 02:00 to 03:00 runs at 03:00 CEST), a time repeated by the fall-back runs at its first
/// occurrence only. A job whose hour field is `*` follows real time instead: it runs at both
/// occurrences of a repeated time and not at all in a skipped hour, so an hourly job stays
/// one hour apart through both changes.
public struct CronExpression: Sendable, CustomStringConvertible {
    public let text: String
    let minutes: UInt64
    let hours: UInt64
    let daysOfMonth: UInt64
    let months: UInt64
    let weekdays: UInt64
    let dayOfMonthStar: Bool
    let weekdayStar: Bool
    let hourStar: Bool
    /// both day fields must match (the maintenance windows' "first Sunday"); not cron syntax
    let daysBoth: Bool

    public var description: String { text }

    public struct ParseError: Error, CustomStringConvertible, Sendable {
        public let message: String
        public var description: String { message }
    }

    static let monthNames = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
    static let dayNames = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]

    public init(_ text: String) throws(ParseError) {
        try self.init(text, daysBoth: false)
    }

    init(_ text: String, daysBoth: Bool) throws(ParseError) {
        self.text = text
        self.daysBoth = daysBoth
        var expr = text.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        if expr.count == 1, let nick = expr.first, nick.hasPrefix("@") {
            switch nick.lowercased() {
            case "@yearly", "@annually": expr = ["0", "0", "1", "1", "*"]
            case "@monthly": expr = ["0", "0", "1", "*", "*"]
            case "@weekly": expr = ["0", "0", "*", "*", "0"]
            case "@daily", "@midnight": expr = ["0", "0", "*", "*", "*"]
            case "@hourly": expr = ["0", "*", "*", "*", "*"]
            default: throw ParseError(message: "cron '\(text)': unknown nickname \(nick)")
            }
        }
        guard expr.count == 5 else {
            throw ParseError(message: "cron '\(text)': expected 5 fields (minute hour day-of-month month day-of-week), got \(expr.count)")
        }
        func field(_ i: Int, _ name: String, _ lo: Int, _ hi: Int, _ names: [String], _ nameBase: Int) throws(ParseError) -> UInt64 {
            do {
                return try CronExpression.parseField(expr[i], lo: lo, hi: hi, names: names, nameBase: nameBase)
            } catch {
                throw ParseError(message: "cron '\(text)': \(name) field '\(expr[i])': \(error.message)")
            }
        }
        minutes = try field(0, "minute", 0, 59, [], 0)
        hours = try field(1, "hour", 0, 23, [], 0)
        daysOfMonth = try field(2, "day-of-month", 1, 31, [], 0)
        months = try field(3, "month", 1, 12, CronExpression.monthNames, 1)
        var wd = try field(4, "day-of-week", 0, 7, CronExpression.dayNames, 0)
        if wd & (1 << 7) != 0 { wd = (wd | 1) & ~(1 << 7) }   // 7 is Sunday too
        weekdays = wd
        dayOfMonthStar = expr[2].hasPrefix("*")
        weekdayStar = expr[4].hasPrefix("*")
        hourStar = expr[1].hasPrefix("*")
    }

    static func parseField(_ s: String, lo: Int, hi: Int, names: [String], nameBase: Int) throws(ParseError) -> UInt64 {
        func value(_ t: Substring) throws(ParseError) -> Int {
            if let n = Int(t) {
                guard n >= lo && n <= hi else { throw ParseError(message: "\(n) is out of range \(lo)-\(hi)") }
                return n
            }
            if let i = names.firstIndex(of: t.uppercased()) { return i + nameBase }
            throw ParseError(message: "'\(t)' is not a number\(names.isEmpty ? "" : " or a name (\(names.first!)-\(names.last!))")")
        }
        var bits: UInt64 = 0
        for item in s.split(separator: ",", omittingEmptySubsequences: false) {
            guard !item.isEmpty else { throw ParseError(message: "empty list item") }
            var range = item
            var step = 1
            if let slash = item.firstIndex(of: "/") {
                range = item[..<slash]
                guard let n = Int(item[item.index(after: slash)...]), n > 0 else { throw ParseError(message: "bad step in '\(item)'") }
                step = n
            }
            var a = lo, b = hi
            if range == "*" {
            } else if let dash = range.firstIndex(of: "-") {
                a = try value(range[..<dash])
                b = try value(range[range.index(after: dash)...])
                guard a <= b else { throw ParseError(message: "range \(range) runs backwards") }
            } else {
                a = try value(range)
                if step == 1 { b = a }   // `a/n` means a to the end, every n
            }
            var v = a
            while v <= b { bits |= 1 << UInt64(v); v += step }
        }
        return bits
    }

    func has(_ set: UInt64, _ v: Int) -> Bool { set & (1 << UInt64(v)) != 0 }

    func dayMatches(_ t: LocalTime) -> Bool {
        let d = t.date
        let dom = has(daysOfMonth, d.day), dow = has(weekdays, t.weekday)
        if daysBoth || dayOfMonthStar || weekdayStar { return dom && dow }
        return dom || dow
    }

    /// Whether a clock reading (to the minute) matches.
    public func matches(_ t: LocalTime) -> Bool {
        has(months, t.date.month) && dayMatches(t) && has(hours, t.hour) && has(minutes, t.minute)
    }

    /// The first matching clock reading strictly after `t`, within eight years (nil: none,
    /// e.g. "0 0 30 2 *").
    public func nextLocal(after t: LocalTime) -> LocalTime? {
        var s = (CivilTime.floorDiv(t.seconds, 60) + 1) * 60
        let limit = t.seconds + 8 * 366 * 86400
        while s < limit {
            let l = LocalTime(seconds: s)
            let d = l.date
            if !has(months, d.month) {
                let (y, m) = d.month == 12 ? (d.year + 1, 1) : (d.year, d.month + 1)
                s = CivilTime.daysFromCivil(y, m, 1) * 86400
                continue
            }
            if !dayMatches(l) { s = (l.day + 1) * 86400; continue }
            if !has(hours, l.hour) { s = l.day * 86400 + Int64(l.hour + 1) * 3600; continue }
            if !has(minutes, l.minute) { s += 60; continue }
            return l
        }
        return nil
    }

    /// The first run strictly after the instant `t` (Unix seconds) in `zone`, with the daylight
    /// saving rules above; nil if the expression never matches.
    public func next(after t: Int64, in zone: ZoneRules) -> Int64? {
        // a run after t may read earlier on the clock than t does (the second pass of a repeated
        // hour), so the scan starts three hours back, and it goes on three hours past the best
        // run found: no zone's clock moves by more
        let margin: Int64 = 3 * 3600
        var cursor = LocalTime(seconds: zone.local(t).seconds - margin - 60)
        var best: Int64?
        while let m = nextLocal(after: cursor) {
            if let b = best, m.seconds > b + Int64(zone.offset(at: b).utcOffset) + margin { break }
            cursor = m
            for u in instants(m, zone) where u > t {
                if best == nil || u < best! { best = u }
            }
        }
        return best
    }

    func instants(_ m: LocalTime, _ zone: ZoneRules) -> [Int64] {
        switch zone.resolve(m) {
        case .unique(let u): return [u]
        case .repeated(let a, let b): return hourStar ? [a, b] : [a]
        case .skipped(let jump): return hourStar ? [] : [jump]
        }
    }

    /// Runs in (from, through], oldest first, at most `limit` of them.
    public func runs(after from: Int64, through: Int64, in zone: ZoneRules, limit: Int = 1000) -> [Int64] {
        var out: [Int64] = []
        var t = from
        while out.count < limit, let n = next(after: t, in: zone), n <= through {
            out.append(n)
            t = n
        }
        return out
    }
}
