/// Calendar arithmetic on wall-clock time without Foundation: a `LocalTime` is a zone's clock
/// reading, kept as seconds since 1970-01-01 00:00 *on that clock* ("local seconds"), so adding
/// a day or a minute is integer arithmetic and converting to an instant is one zone lookup
/// (`ZoneRules.instants(forLocal:)`). Days from civil dates by Howard Hinnant's algorithm.
public struct LocalTime: Sendable, Equatable, Comparable, CustomStringConvertible {
    public let seconds: Int64

    public init(seconds: Int64) { self.seconds = seconds }

    public init(year: Int, month: Int, day: Int, hour: Int = 0, minute: Int = 0, second: Int = 0) {
        seconds = CivilTime.daysFromCivil(year, month, day) * 86400 + Int64(hour * 3600 + minute * 60 + second)
    }

    public var day: Int64 { CivilTime.floorDiv(seconds, 86400) }
    public var secondOfDay: Int { Int(seconds - day * 86400) }
    public var hour: Int { secondOfDay / 3600 }
    public var minute: Int { secondOfDay / 60 % 60 }
    public var second: Int { secondOfDay % 60 }
    /// (year, month 1-12, day of month 1-31)
    public var date: (year: Int, month: Int, day: Int) { CivilTime.civilFromDays(day) }
    /// 0 = Sunday ... 6 = Saturday (cron's numbering)
    public var weekday: Int { Int(CivilTime.floorMod(day + 4, 7)) }

    public static func < (a: LocalTime, b: LocalTime) -> Bool { a.seconds < b.seconds }

    /// 2026-03-29T02:30:00 (no zone: it is a clock reading)
    public var description: String {
        let d = date
        return "\(CivilTime.pad(d.year, 4))-\(CivilTime.pad(d.month))-\(CivilTime.pad(d.day))T\(CivilTime.pad(hour)):\(CivilTime.pad(minute)):\(CivilTime.pad(second))"
    }
}

public enum CivilTime {
    static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 { a >= 0 ? a / b : -((-a + b - 1) / b) }
    static func floorMod(_ a: Int64, _ b: Int64) -> Int64 { a - floorDiv(a, b) * b }

    public static func daysFromCivil(_ y0: Int, _ m: Int, _ d: Int) -> Int64 {
        let y = Int64(m <= 2 ? y0 - 1 : y0)
        let era = floorDiv(y, 400)
        let yoe = y - era * 400
        let mp = Int64((m + 9) % 12)
        let doy = (153 * mp + 2) / 5 + Int64(d) - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146097 + doe - 719468
    }

    public static func civilFromDays(_ z0: Int64) -> (year: Int, month: Int, day: Int) {
        let z = z0 + 719468
        let era = floorDiv(z, 146097)
        let doe = z - era * 146097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = Int(doy - (153 * mp + 2) / 5 + 1)
        let m = Int(mp < 10 ? mp + 3 : mp - 9)
        return (Int(yoe + era * 400) + (m <= 2 ? 1 : 0), m, d)
    }

    public static func daysInMonth(_ year: Int, _ month: Int) -> Int {
        let next = month == 12 ? daysFromCivil(year + 1, 1, 1) : daysFromCivil(year, month + 1, 1)
        return Int(next - daysFromCivil(year, month, 1))
    }

    static func pad(_ n: Int, _ width: Int = 2) -> String {
        let s = String(n)
        return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
    }

    /// An instant as ISO 8601 UTC: 2026-03-29T01:00:00Z
    public static func iso(_ unix: Int64) -> String { LocalTime(seconds: unix).description + "Z" }

    /// An instant as ISO 8601 with the zone's offset: 2026-03-29T03:00:00+02:00
    public static func iso(_ unix: Int64, in zone: ZoneRules) -> String {
        let off = zone.offset(at: unix).utcOffset
        let sign = off < 0 ? "-" : "+"
        let a = abs(off)
        return LocalTime(seconds: unix + Int64(off)).description + sign + pad(a / 3600) + ":" + pad(a / 60 % 60)
    }
}
