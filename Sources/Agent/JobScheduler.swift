import Archive
import Glibc
import Schedule
import Synchronization

/// The opsh agent's core (docs/agent.md): runs the configured jobs on their schedules, each
/// as its own `opsh run` process, never overlapping itself, one agent at a time per job when
/// a Redis is configured; records every run in the history; reports missed runs at start.
/// The HTTP server (the opsh-agent executable) drives it through this API:
///
///     let agent = try JobScheduler(settings: settings)      // opens the history
///     agent.start()                                   // missed runs reported, scheduler thread
///     agent.jobs()                                    // [JobStatus]: schedule, next run, last run
///     try agent.startNow("backup-daily")              // run-now in the background -> RunRecord (running)
///     try agent.runNow("backup-daily")                // run-now in the caller's thread -> the finished RunRecord
///     try agent.history.runs(job: "backup-daily")     // newest first; .run(id:), .audit(_:), .auditRecords()
///     agent.window("weekly")                          // WindowStatus: open now? next opening
///     agent.reload(newSettings)                       // SIGHUP: jobs replaced, running runs untouched
///     agent.refuseNewRuns()                           // SIGTERM's first moment: nothing new starts
///     agent.stop(grace: 30)                           // SIGTERM: no new runs, waits, then kills
///
/// `observer` hears of every run recorded as finished (ok, failed, skipped, missed, killed...):
/// the server's job metrics count them.
///
/// Everything reads the time from `clock`, so tests move time by hand and call `tick()`.
public final class JobScheduler: @unchecked Sendable {
    public let history: RunHistory
    public let clock: AgentClock

    struct State {
        var settings: SchedulerSettings
        /// next scheduled time per job name
        var nextDue: [String: Int64] = [:]
        /// running runs per job name
        var running: [String: RunRecord] = [:]
        /// run threads started and not yet finished (they are detached: a finished run's
        /// thread frees its stack at once instead of keeping it until a join)
        var live = 0
        var stopping = false
        var killRuns = false
        var started = false
        var lastPrune: Int64 = 0
    }
    let state: Mutex<State>
    var scheduler: pthread_t?
    let observer: @Sendable (RunRecord) -> Void

    public init(settings: SchedulerSettings, clock: AgentClock = SystemAgentClock(),
                observer: @escaping @Sendable (RunRecord) -> Void = { _ in }) throws(AgentError) {
        history = try RunHistory(path: settings.historyPath)
        self.clock = clock
        self.observer = observer
        state = Mutex(State(settings: settings))
    }

    public var settings: SchedulerSettings { state.withLock { $0.settings } }

    // MARK: lifecycle

    /// Marks this agent's runs left `running` by a previous life as abandoned, prunes the
    /// history, reports each job's runs missed while no agent ran (one `missed` record per job,
    /// never run in a burst), and plans the next run of each job. `start()` calls it.
    public func prepare() throws(AgentError) {
        let now = clock.now()
        let s = settings
        try history.abandonRunning(agent: s.agentID, at: now)
        try history.prune(olderThanDays: s.retentionDays, now: now)
        state.withLock { $0.lastPrune = Int64(now) }
        for job in s.jobs where job.enabled {
            try plan(job, now: Int64(now))
        }
        state.withLock { $0.started = true }
    }

    func plan(_ job: Job, now: Int64) throws(AgentError) {
        guard let schedule = job.schedule else { return }
        if let last = try history.lastScheduled(job.name), last < now {
            let missed = schedule.runs(after: last, through: now, in: job.zone, limit: 100_000)
            try recordMissed(job, missed, now: Double(now))
        }
        try history.setLastScheduled(job.name, now)
        let next = schedule.next(after: now, in: job.zone)
        state.withLock { $0.nextDue[job.name] = next }
    }

    func recordMissed(_ job: Job, _ missed: [Int64], now: Double) throws(AgentError) {
        guard let first = missed.first, let last = missed.last else { return }
        let s = settings
        let what = missed.count == 1 ? "1 run missed (\(CivilTime.iso(first, in: job.zone)))"
            : "\(missed.count) runs missed, \(CivilTime.iso(first, in: job.zone)) to \(CivilTime.iso(last, in: job.zone))"
        observer(try history.insert(RunRecord(job: job.name, procedure: job.procedure, agent: s.agentID, trigger: "startup", scheduledAt: last,
                                              startedAt: now, finishedAt: now, status: .missed,
                                              message: what + " while no agent was running; not run now (the next run is on schedule)")))
    }

    /// Prepares, then runs the scheduler on its own thread (about one check a second).
    public func start() throws(AgentError) {
        try prepare()
        scheduler = startThread { [self] in
            while !state.withLock({ $0.stopping }) {
                tick()
                usleep(250_000)
            }
        }
    }

    /// Nothing new starts from now on (no scheduled run, no one-shot); what runs goes on.
    /// SIGTERM calls it at once; `stop(grace:)` follows when the server has closed.
    public func refuseNewRuns() {
        state.withLock { $0.stopping = true }
    }

    /// Stops taking new runs, waits up to `grace` seconds for the running ones, then kills
    /// what still runs (recorded `abandoned`) and returns when every run is recorded.
    public func stop(grace: Double) {
        refuseNewRuns()
        if let t = scheduler { joinThread(t); scheduler = nil }
        let deadline = SystemAgentClock().now() + grace
        while state.withLock({ !$0.running.isEmpty }) && SystemAgentClock().now() < deadline { usleep(50_000) }
        state.withLock { $0.killRuns = true }
        waitIdle()
    }

    /// Waits until every run started so far has ended and been recorded.
    public func waitIdle() {
        while state.withLock({ $0.live > 0 }) { usleep(10_000) }
    }

    /// Runs `body` on a thread of its own, detached, counted in `live` until it returns.
    func spawnRun(_ body: @escaping () -> Void) -> Bool {
        state.withLock { $0.live += 1 }
        guard let t = startThread({ [self] in
            body()
            state.withLock { $0.live -= 1 }
        }) else {
            state.withLock { $0.live -= 1 }
            return false
        }
        pthread_detach(t)
        return true
    }

    /// Replaces the jobs and settings (a SIGHUP's reload): jobs no longer configured are
    /// forgotten (a running one finishes), new ones are planned from now.
    public func reload(_ settings: SchedulerSettings) throws(AgentError) {
        let old = state.withLock { s -> [String] in
            let names = s.settings.jobs.map(\.name)
            s.settings = settings
            s.nextDue = s.nextDue.filter { due in settings.jobs.contains { $0.name == due.key && $0.enabled } }
            return names
        }
        let now = Int64(clock.now())
        for job in settings.jobs where job.enabled {
            if !old.contains(job.name) || state.withLock({ $0.nextDue[job.name] == nil }) {
                try plan(job, now: now)
            } else {
                // a changed schedule takes effect from now
                let next = job.schedule?.next(after: now, in: job.zone)
                state.withLock { $0.nextDue[job.name] = next }
            }
        }
    }

    // MARK: scheduling

    /// Starts every job that is due at the clock's time, and every due one-shot job; returns
    /// the names started. A job still running when it is due again is not started: the
    /// skipped run is recorded. A tick that comes late (the machine slept) runs a job once and
    /// records the runs it passed over as missed.
    @discardableResult
    public func tick() -> [String] {
        let now = Int64(clock.now())
        let (s, due) = state.withLock { st -> (SchedulerSettings, [(Job, Int64)]) in
            guard !st.stopping else { return (st.settings, []) }
            return (st.settings, st.settings.jobs.compactMap { j in
                guard j.enabled, let d = st.nextDue[j.name], d <= now else { return nil }
                return (j, d)
            })
        }
        var started: [String] = []
        for (job, dueAt) in due {
            guard let schedule = job.schedule else { continue }
            let passed = schedule.runs(after: dueAt, through: now, in: job.zone, limit: 100_000)
            let scheduledAt = passed.last ?? dueAt
            let skippedOver = passed.isEmpty ? [] : [dueAt] + passed.dropLast()
            try? recordMissed(job, skippedOver, now: Double(now))
            try? history.setLastScheduled(job.name, now)
            state.withLock { $0.nextDue[job.name] = schedule.next(after: now, in: job.zone) }
            if launch(job, trigger: "schedule", scheduledAt: scheduledAt, force: false) { started.append(job.name) }
        }
        // a long-running agent prunes the history once a day
        let prune = state.withLock { st -> Bool in
            guard now - st.lastPrune >= 86400 else { return false }
            st.lastPrune = now
            return true
        }
        if prune { _ = try? history.prune(olderThanDays: s.retentionDays, now: Double(now)) }
        if let shots = try? history.takeDueOneShots(now: now) {
            for o in shots {
                let job = Job(oneShot: o)
                if launch(job, trigger: "once", scheduledAt: o.dueAt, force: false, oneShot: o.id) { started.append(job.name) }
            }
        }
        return started
    }

    /// The next run of each job, in its order of the configuration.
    public func jobs() -> [JobStatus] {
        let (s, due, running) = state.withLock { ($0.settings, $0.nextDue, $0.running) }
        let now = Int64(clock.now())
        return s.jobs.map { j in
            let last = (try? history.runs(job: j.name, limit: 1))?.first
            return JobStatus(job: j, nextRunAt: j.enabled ? (due[j.name] ?? j.schedule?.next(after: now, in: j.zone)) : nil,
                             running: running[j.name], lastRun: last)
        }
    }

    /// The runs going on now, by job name (no database read: /metrics asks often).
    public func running() -> [String: RunRecord] {
        state.withLock { $0.running }
    }

    /// Whether `refuseNewRuns` or `stop` was called.
    public var isStopping: Bool { state.withLock { $0.stopping } }

    // MARK: running

    /// Starts a run on its own thread unless the job is running here already (then records
    /// the skipped run); false when it did not start.
    @discardableResult
    func launch(_ job: Job, trigger: String, scheduledAt: Int64?, force: Bool, oneShot: Int64? = nil) -> Bool {
        let now = clock.now()
        let s = settings
        let placeholder = RunRecord(job: job.name, procedure: job.procedure, agent: s.agentID, trigger: trigger,
                                    scheduledAt: scheduledAt, startedAt: now, status: .running)
        let busy: RunRecord? = state.withLock { st in
            if let r = st.running[job.name] { return r }
            st.running[job.name] = placeholder
            return nil
        }
        if let busy {
            var r = placeholder
            r.status = .skipped
            r.finishedAt = now
            r.message = "still running (run \(busy.id) started \(CivilTime.iso(Int64(busy.startedAt)))): a job never overlaps itself"
            _ = try? history.insert(r)
            observer(r)
            return false
        }
        let started = spawnRun { [self] in
            _ = execute(job, trigger: trigger, scheduledAt: scheduledAt, force: force)
            if let oneShot { try? history.finishOneShot(oneShot) }
        }
        if !started { state.withLock { _ = $0.running.removeValue(forKey: job.name) } }
        return started
    }

    /// Runs a job in this thread, already marked running; records it; unmarks it.
    func execute(_ job: Job, trigger: String, scheduledAt: Int64?, force: Bool) -> RunRecord {
        let runner = JobRunner(settings: settings)
        var final = runner.run(job, trigger: trigger, scheduledAt: scheduledAt, force: force, clock: clock, started: { r in
            let stored = (try? history.insert(r)) ?? r
            state.withLock { $0.running[job.name] = stored }
            // holding the Redis lock means no other run of this job is alive anywhere
            if r.fenceToken != nil { try? history.abandonRunning(job: job.name, except: stored.id, at: clock.now()) }
            return stored
        }, stop: { state.withLock { $0.killRuns } })
        if final.id != 0 {
            try? history.update(final)
        } else {
            final = (try? history.insert(final)) ?? final   // it never started: skipped, failed
        }
        state.withLock { _ = $0.running.removeValue(forKey: job.name) }
        observer(final)
        return final
    }

    /// `opsh agent run-now JOB`, the API's run-now when it waits: runs the job now in the
    /// caller's thread (with its lock) and returns the finished record. `force` runs it
    /// outside its procedure's maintenance window. Throws when the job is unknown or already
    /// running on this agent.
    public func runNow(_ name: String, force: Bool = false) throws(AgentError) -> RunRecord {
        let job = try claim(name)
        return execute(job, trigger: "run-now", scheduledAt: nil, force: force)
    }

    /// The API's run-now: starts the run on its own thread and returns at once with the
    /// running record (its id may be 0 until the process has started; read it back with
    /// `history.runs(job:)`).
    @discardableResult
    public func startNow(_ name: String, force: Bool = false) throws(AgentError) -> RunRecord {
        let job = try claim(name)
        let placeholder = state.withLock { $0.running[name]! }
        if !spawnRun({ [self] in _ = execute(job, trigger: "run-now", scheduledAt: nil, force: force) }) {
            state.withLock { _ = $0.running.removeValue(forKey: name) }
            throw AgentError.spawn("cannot start a thread")
        }
        return placeholder
    }

    func claim(_ name: String) throws(AgentError) -> Job {
        let s = settings
        guard let job = s.job(name) else { throw AgentError.unknownJob(name) }
        let placeholder = RunRecord(job: job.name, procedure: job.procedure, agent: s.agentID, trigger: "run-now",
                                    scheduledAt: nil, startedAt: clock.now(), status: .running)
        let busy = state.withLock { st -> RunRecord? in
            if let r = st.running[name] { return r }
            st.running[name] = placeholder
            return nil
        }
        if let busy { throw AgentError.locked(job: name, holder: "this agent (run \(busy.id), started \(CivilTime.iso(Int64(busy.startedAt))))") }
        return job
    }

    /// Schedules a procedure to run once `delay` seconds from now (the guide's `at`).
    @discardableResult
    public func runOnce(procedure: String, arguments: [String] = [], in delay: Double, createdBy: String) throws(AgentError) -> Int64 {
        let now = Int64(clock.now())
        return try history.scheduleOnce(procedure: procedure, arguments: arguments, due: now + Int64(delay), now: now, createdBy: createdBy)
    }

    // MARK: windows

    /// A maintenance window in the configured zone: open now, and its current or next opening.
    public func window(_ name: String) -> WindowStatus? {
        guard let w = MaintenanceWindow.named(name) else { return nil }
        let zone = (try? ZoneRules(named: settings.maintenanceZone)) ?? .utc
        return WindowStatus(window: w, zone: zone, at: Int64(clock.now()))
    }
}

/// A job as the API and `opsh agent jobs` show it.
public struct JobStatus: Sendable {
    public let job: Job
    /// Unix seconds; nil: disabled or never again
    public let nextRunAt: Int64?
    public let running: RunRecord?
    public let lastRun: RunRecord?
}

/// A maintenance window's state at a time.
public struct WindowStatus: Sendable {
    public let name: String
    /// "Sunday 02:00-03:00"
    public let when: String
    public let timeZone: String
    public let open: Bool
    /// the current opening when open, else the next one (Unix seconds)
    public let start: Int64?
    public let end: Int64?
    /// "the weekly maintenance window (Sunday 02:00-03:00 UTC) opens ... (in 2d 21h)"
    public let text: String

    public init(window w: MaintenanceWindow, zone: ZoneRules, at t: Int64) {
        let c = w.current(at: t, in: zone)
        name = w.name
        when = w.when
        timeZone = zone.name
        open = c.open
        start = c.occurrence?.start
        end = c.occurrence?.end
        text = w.nextOpeningText(at: t, in: zone)
    }
}
