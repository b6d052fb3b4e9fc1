/// The guide's maintenance windows ("Maintenance Procedures / Maintenance Windows"), in a zone's
/// clock (the guide says UTC; `maintenance_timezone` changes it):
///
/// - daily: 02:00-02:30 (log rotation, cleanup)
/// - weekly: Sunday 02:00-03:00 (database optimisation)
/// - monthly: the first Sunday of the month, 01:00-04:00 (system updates)
/// - quarterly: the guide names no time ("security patches and major updates"); opsh takes the
///   monthly window of the quarter's first month: the first Sunday of January, April, July and
///   October, 01:00-04:00.
///
/// A window opens when the zone's clock reads its start (with cron's rules for a fixed time: a
/// start skipped by the spring-forward jump opens at the jump, a repeated start opens at its
/// first occurrence) and lasts its length in real time, so a window is never shortened or
/// doubled by a daylight saving change.
public struct MaintenanceWindow: Sendable, CustomStringConvertible {
    public let name: String
    /// "Sunday 02:00-03:00"
    public let when: String
    let start: CronExpression
    /// seconds
    public let length: Int64

    public var description: String { "\(name) (\(when))" }

    public static let all: [MaintenanceWindow] = [
        MaintenanceWindow(name: "daily", when: "daily 02:00-02:30", start: "0 2 * * *", length: 1800),
        MaintenanceWindow(name: "weekly", when: "Sunday 02:00-03:00", start: "0 2 * * 0", length: 3600),
        MaintenanceWindow(name: "monthly", when: "first Sunday of the month 01:00-04:00", start: "0 1 1-7 * 0", length: 10800),
        MaintenanceWindow(name: "quarterly", when: "first Sunday of January, April, July and October 01:00-04:00",
                          start: "0 1 1-7 1,4,7,10 0", length: 10800),
    ]

    init(name: String, when: String, start: String, length: Int64) {
        self.name = name
        self.when = when
        // the tables above are fixed and valid; "first Sunday" needs both day fields to match
        self.start = try! CronExpression(start, daysBoth: true)
        self.length = length
    }

    public static func named(_ name: String) -> MaintenanceWindow? { all.first { $0.name == name } }

    public static var names: [String] { all.map(\.name) }

    /// One opening of the window: [start, end) in Unix seconds.
    public struct Occurrence: Sendable, Equatable {
        public let start: Int64
        public let end: Int64
    }

    /// The opening that contains `t`, if the window is open then.
    public func occurrence(containing t: Int64, in zone: ZoneRules) -> Occurrence? {
        // an opening that contains t started in (t - length, t]
        guard let s = start.next(after: t - length, in: zone), s <= t else { return nil }
        return Occurrence(start: s, end: s + length)
    }

    /// The first opening that starts strictly after `t`.
    public func next(after t: Int64, in zone: ZoneRules) -> Occurrence? {
        start.next(after: t, in: zone).map { Occurrence(start: $0, end: $0 + length) }
    }

    /// Open now, or the next opening.
    public func current(at t: Int64, in zone: ZoneRules) -> (open: Bool, occurrence: Occurrence?) {
        if let o = occurrence(containing: t, in: zone) { return (true, o) }
        return (false, next(after: t, in: zone))
    }

    /// The openings that started in (from, through]: the agent's scheduled starts.
    public func starts(after from: Int64, through: Int64, in zone: ZoneRules, limit: Int = 1000) -> [Int64] {
        start.runs(after: from, through: through, in: zone, limit: limit)
    }

    /// "the weekly maintenance window (Sunday 02:00-03:00 UTC) opens 2026-12-06T02:00:00Z (in 2d 21h)"
    public func nextOpeningText(at t: Int64, in zone: ZoneRules) -> String {
        let head = "the \(name) maintenance window (\(when) \(zone.name))"
        let c = current(at: t, in: zone)
        guard let o = c.occurrence else { return head + " never opens" }
        if c.open { return head + " is open until " + CivilTime.iso(o.end, in: zone) }
        return head + " opens " + CivilTime.iso(o.start, in: zone) + " (in " + DurationText.text(o.start - t) + ")"
    }
}

/// When a job runs: a cron expression or the start of a maintenance window, in its zone.
public enum JobSchedule: Sendable, CustomStringConvertible {
    case cron(CronExpression)
    case window(MaintenanceWindow)

    /// "0 2 * * *", or a window's name ("weekly").
    public init(parsing text: String) throws(CronExpression.ParseError) {
        if let w = MaintenanceWindow.named(text) { self = .window(w); return }
        self = .cron(try CronExpression(text))
    }

    public var description: String {
        switch self {
        case .cron(let c): return c.text
        case .window(let w): return "window \(w.name) (\(w.when))"
        }
    }

    public func next(after t: Int64, in zone: ZoneRules) -> Int64? {
        switch self {
        case .cron(let c): return c.next(after: t, in: zone)
        case .window(let w): return w.next(after: t, in: zone)?.start
        }
    }

    public func runs(after from: Int64, through: Int64, in zone: ZoneRules, limit: Int = 1000) -> [Int64] {
        switch self {
        case .cron(let c): return c.runs(after: from, through: through, in: zone, limit: limit)
        case .window(let w): return w.starts(after: from, through: through, in: zone, limit: limit)
        }
    }
}

public enum DurationText {
    /// 2d 21h, 45m, 30s
    public static func text(_ seconds: Int64) -> String {
        let s = max(0, seconds)
        if s >= 86400 { return "\(s / 86400)d \(s % 86400 / 3600)h" }
        if s >= 3600 { return "\(s / 3600)h \(s % 3600 / 60)m" }
        if s >= 60 { return "\(s / 60)m" }
        return "\(s)s"
    }
}
