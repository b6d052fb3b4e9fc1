import Schedule

/// The daily check's "scheduled maintenance tasks" item (lua/daily/check.lua, through
/// opsh.agent): for each enabled job, its last scheduled time before now and what became of
/// it. A job that did not run, or whose run failed, in its last window (its last scheduled
/// time) is a warning.
public struct ScheduledRunCheck: Sendable {
    public enum Verdict: String, Sendable { case ok, warning }

    public struct Result: Sendable {
        public let job: String
        public let verdict: Verdict
        public let message: String
        /// the last scheduled time (Unix seconds), nil if none in the look-back
        public let lastDue: Int64?
        public let run: RunRecord?
    }

    /// How long after its scheduled time a run may still be starting (the agent checks about
    /// once a second; a busy machine may take longer).
    public static let startGrace: Int64 = 300
    /// How far back the last scheduled time is looked for: a quarter and a bit.
    public static let lookBack: Int64 = 100 * 86400

    public static func evaluate(_ settings: SchedulerSettings, history: RunHistory, now: Int64) throws(AgentError) -> [Result] {
        var out: [Result] = []
        for job in settings.jobs where job.enabled {
            guard let schedule = job.schedule else { continue }
            let due = ScheduledRunCheck.lastDue(schedule, zone: job.zone, now: now)
            guard let due else {
                out.append(Result(job: job.name, verdict: .ok, message: "not scheduled in the last 100 days", lastDue: nil, run: nil))
                continue
            }
            let when = CivilTime.iso(due, in: job.zone)
            // the runs since that time: the scheduled one, or a run-now after it
            let runs = try history.runs(job: job.name, limit: 20).filter { ($0.scheduledAt ?? 0) >= due || $0.startedAt >= Double(due) }
            let scheduled = runs.first { $0.scheduledAt == due && $0.trigger != "startup" } ?? runs.first { $0.status != .missed && $0.status != .skipped }
            if let r = scheduled {
                switch r.status {
                case .ok: out.append(Result(job: job.name, verdict: .ok, message: "ran \(when): ok", lastDue: due, run: r))
                case .running: out.append(Result(job: job.name, verdict: .ok, message: "running since \(CivilTime.iso(Int64(r.startedAt), in: job.zone))", lastDue: due, run: r))
                default:
                    let why = r.message.map { ": " + ($0.split(separator: "\n").last.map(String.init) ?? "") } ?? ""
                    out.append(Result(job: job.name, verdict: .warning, message: "run of \(when) ended \(r.status.rawValue)\(why)", lastDue: due, run: r))
                }
            } else if now - due < startGrace {
                out.append(Result(job: job.name, verdict: .ok, message: "due \(when), starting", lastDue: due, run: nil))
            } else {
                let missed = runs.first { $0.status == .missed || $0.status == .skipped }
                let why = missed.map { ": " + $0.status.rawValue + ($0.message.map { " (" + $0 + ")" } ?? "") } ?? ": no run recorded (is the agent running?)"
                out.append(Result(job: job.name, verdict: .warning, message: "did not run at \(when)\(why)", lastDue: due, run: missed))
            }
        }
        return out
    }

    static func lastDue(_ schedule: JobSchedule, zone: ZoneRules, now: Int64) -> Int64? {
        // step back a day at a time until a scheduled time is found, then take the last one
        var from = now - 86400
        while from >= now - lookBack {
            if let t = schedule.runs(after: from, through: now, in: zone, limit: 2000).last { return t }
            from -= 7 * 86400
        }
        return nil
    }
}
