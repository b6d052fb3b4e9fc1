import Glibc
import LuaRuntime
import Sys

/// `opsh.time`: the monotonic clock, wall time, durations like "24h", ISO 8601 and Unix timestamps.
public enum TimeModule {
    public static let open: LuaFunction = { L in
        let lua = Lua(L!)
        lua.newModule([
            ("now", now), ("monotonic", monotonic), ("duration", duration), ("iso", iso),
            ("parse_iso", parseISO), ("since", since), ("format_duration", formatDuration),
        ])
        return 1
    }

    public static func monotonicSeconds() -> Double { SystemClock.monotonic() }
    public static func wallSeconds() -> Double { SystemClock.wall() }

    static let units: [(String, Double)] = [
        ("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86400), ("w", 604800),
    ]

    /// "90", "1.5h", "1h30m", "500ms", "2d" -> seconds; nil if malformed.
    public static func parseDuration(_ text: String) -> Double? {
        let s = Array(text.utf8)
        if s.isEmpty { return nil }
        if let plain = Double(text), plain.isFinite { return plain }
        var i = 0, total = 0.0
        while i < s.count {
            let start = i
            while i < s.count, (s[i] >= 0x30 && s[i] <= 0x39) || s[i] == 0x2E { i += 1 }
            guard i > start, let n = Double(String(decoding: s[start..<i], as: UTF8.self)) else { return nil }
            let ustart = i
            while i < s.count, s[i] >= 0x61 && s[i] <= 0x7A { i += 1 }
            let unit = String(decoding: s[ustart..<i], as: UTF8.self)
            guard let f = units.first(where: { $0.0 == unit })?.1 else { return nil }
            total += n * f
        }
        return total
    }

    /// Seconds since the epoch as "2026-11-29T03:04:20Z" (UTC), with fraction digits if asked.
    public static func iso8601(_ t: Double, fractionDigits: Int = 0) -> String {
        var secs = time_t(floor(t))
        var tmv = tm()
        gmtime_r(&secs, &tmv)
        func pad(_ v: Int32, _ w: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, w - s.count)) + s
        }
        var out = "\(pad(tmv.tm_year + 1900, 4))-\(pad(tmv.tm_mon + 1, 2))-\(pad(tmv.tm_mday, 2))T\(pad(tmv.tm_hour, 2)):\(pad(tmv.tm_min, 2)):\(pad(tmv.tm_sec, 2))"
        if fractionDigits > 0 {
            var scale = 1.0
            for _ in 0..<fractionDigits { scale *= 10 }
            let frac = Int32(min(scale - 1, ((t - floor(t)) * scale).rounded(.down)))
            out += "." + pad(frac, fractionDigits)
        }
        return out + "Z"
    }

    /// "2026-11-29T03:04:20Z", "...20.5+01:00", "2026-11-29" -> seconds since the epoch.
    public static func parseISO(_ text: String) -> Double? {
        let s = Array(text.utf8)
        func num(_ a: Int, _ n: Int) -> Int32? {
            guard a + n <= s.count else { return nil }
            var v: Int32 = 0
            for i in a..<(a + n) {
                guard s[i] >= 0x30 && s[i] <= 0x39 else { return nil }
                v = v * 10 + Int32(s[i] - 0x30)
            }
            return v
        }
        guard let y = num(0, 4), s.count >= 10, s[4] == 0x2D, let mo = num(5, 2), s[7] == 0x2D, let d = num(8, 2),
              (1...12).contains(mo), (1...31).contains(d) else { return nil }
        var tmv = tm()
        tmv.tm_year = y - 1900; tmv.tm_mon = mo - 1; tmv.tm_mday = d
        var i = 10
        var frac = 0.0
        var offset = 0
        if i < s.count {
            guard s[i] == 0x54 || s[i] == 0x20, let h = num(i + 1, 2), s.count > i + 3, s[i + 3] == 0x3A,
                  let mi = num(i + 4, 2), h < 24, mi < 60 else { return nil }
            tmv.tm_hour = h; tmv.tm_min = mi
            i += 6
            if i < s.count, s[i] == 0x3A {
                guard let sec = num(i + 1, 2), sec <= 60 else { return nil }
                tmv.tm_sec = sec
                i += 3
                if i < s.count, s[i] == 0x2E {
                    var j = i + 1, scale = 0.1
                    while j < s.count, s[j] >= 0x30 && s[j] <= 0x39 { frac += Double(s[j] - 0x30) * scale; scale /= 10; j += 1 }
                    guard j > i + 1 else { return nil }
                    i = j
                }
            }
            if i < s.count {
                if s[i] == 0x5A { i += 1 }
                else if s[i] == 0x2B || s[i] == 0x2D {
                    let sign = s[i] == 0x2B ? 1 : -1
                    guard let oh = num(i + 1, 2) else { return nil }
                    var om: Int32 = 0
                    if i + 3 < s.count, s[i + 3] == 0x3A {
                        guard let m = num(i + 4, 2) else { return nil }
                        om = m; i += 6
                    } else if i + 3 < s.count {
                        guard let m = num(i + 3, 2) else { return nil }
                        om = m; i += 5
                    } else { i += 3 }
                    offset = sign * Int(oh * 3600 + om * 60)
                } else { return nil }
            }
            guard i == s.count else { return nil }
        }
        let secs = timegm(&tmv)
        return Double(secs) + frac - Double(offset)
    }

    static let now: LuaFunction = { L in Lua(L!).push(wallSeconds()); return 1 }
    static let monotonic: LuaFunction = { L in Lua(L!).push(monotonicSeconds()); return 1 }

    /// time.duration("24h") -> 86400 (numbers pass through)
    static let duration: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            if lua.type(at: 1) == .number { lua.pushValue(at: 1); return 1 }
            let s = try lua.checkString(1)
            guard let d = parseDuration(s) else {
                throw .argument(1, "invalid duration '\(s)' (use e.g. 90, 30s, 15m, 24h, 7d, 1h30m, 500ms)")
            }
            lua.push(d)
            return 1
        }
    }

    /// time.iso([t [, fraction_digits]]) -> "2026-11-29T03:04:20Z"
    static let iso: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let t = try lua.optNumber(1, wallSeconds())
            let digits = try lua.optInteger(2, 0)
            guard (0...9).contains(digits) else { throw .argument(2, "fraction digits must be 0..9") }
            lua.push(iso8601(t, fractionDigits: Int(digits)))
            return 1
        }
    }

    /// time.parse_iso(s) -> seconds since the epoch, or nil, err
    static let parseISO: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let s = try lua.checkString(1)
            guard let t = TimeModule.parseISO(s) else {
                return lua.failure(code: "invalid_time", message: "not an ISO 8601 time: '\(s)'")
            }
            lua.push(t)
            return 1
        }
    }

    /// time.since("24h") -> the Unix time 24 hours ago
    static let since: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let d: Double
            if let n = lua.type(at: 1) == .number ? lua.toNumber(1) : nil { d = n } else {
                let s = try lua.checkString(1)
                guard let p = parseDuration(s) else { throw .argument(1, "invalid duration '\(s)'") }
                d = p
            }
            lua.push(wallSeconds() - d)
            return 1
        }
    }

    /// time.format_duration(3725) -> "1h2m5s"
    static let formatDuration: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            var s = try lua.checkNumber(1)
            if s < 1 && s > -1 { lua.push(s == 0 ? "0s" : "\(Int((s * 1000).rounded()))ms"); return 1 }
            var out = s < 0 ? "-" : ""
            s = abs(s).rounded()
            let parts: [(Double, String)] = [(86400, "d"), (3600, "h"), (60, "m"), (1, "s")]
            for (f, u) in parts where s >= f {
                let n = (s / f).rounded(.down)
                out += "\(Int(n))\(u)"
                s -= n * f
            }
            lua.push(out)
            return 1
        }
    }
}
