import Agent
import Glibc
import Archive
import FileSystem
import LuaRuntime
import Schedule
import Sys

/// `opsh.agent`: what procedures see of the agent (docs/agent.md): its jobs from the
/// configuration, the run history, the daily check's verdict on the scheduled runs, one-shot
/// jobs (the guide's `at`), the maintenance windows, and the fencing script for shared writes
/// (stdlib opsh.fence). The Agent library does the work; this translates.
public enum AgentModule {
    public static let open: LuaFunction = { L in
        let lua = Lua(L!)
        lua.newModule([("settings", settings), ("jobs", jobs), ("runs", runs), ("check_scheduled", checkScheduled), ("at", at),
                       ("oneshots", oneShots), ("window", window)], extraFields: 1)
        lua.push(FencedWrite.script); lua.rawSet(-2, field: "FENCE_SCRIPT")
        return 1
    }

    /// The scheduler's settings from a resolved configuration (the host's, or the agent
    /// server's): the config values as the Agent library reads them.
    public static func settings(_ entries: [ConfigModule.Entry], opshPath: String, configFile: String?) throws(AgentError) -> SchedulerSettings {
        try SchedulerSettings(values: entries.map { ($0.key, BackupModule.mvalue($0.value)) }, opshPath: opshPath, configFile: configFile)
    }

    static func current(_ lua: Lua) throws(AgentError) -> SchedulerSettings {
        try settings(ConfigModule.store(lua).entries, opshPath: "opsh", configFile: nil)
    }

    static func fail(_ lua: Lua, _ error: any Error) -> Int32 {
        guard let e = error as? AgentError else { return lua.failure(code: "agent", message: "\(error)") }
        let code: String
        switch e {
        case .config: code = "config"
        case .unknownJob: code = "unknown_job"
        case .locked: code = "locked"
        case .redis: code = "redis"
        case .history: code = "history"
        case .spawn: code = "spawn"
        }
        return lua.failure(code: code, message: e.description)
    }

    /// The history, or nil when the agent has never written one (nothing to read yet).
    static func history(_ s: SchedulerSettings) throws(AgentError) -> RunHistory? {
        guard FileSystem.exists(s.historyPath) else { return nil }
        return try RunHistory(path: s.historyPath)
    }

    static func pushJob(_ lua: Lua, _ j: Job, now: Int64) {
        lua.newTable(hashCount: 10)
        lua.push(j.name); lua.rawSet(-2, field: "name")
        lua.push(j.procedure); lua.rawSet(-2, field: "procedure")
        lua.push(value: .array(j.arguments.map { .string($0) })); lua.rawSet(-2, field: "args")
        lua.push(j.scheduleText); lua.rawSet(-2, field: "schedule")
        lua.push(j.zone.name); lua.rawSet(-2, field: "timezone")
        lua.push(j.timeout); lua.rawSet(-2, field: "timeout")
        if let m = j.maxMemory { lua.push(m); lua.rawSet(-2, field: "max_memory") }
        lua.push(j.enabled); lua.rawSet(-2, field: "enabled")
        if j.enabled, let n = j.schedule?.next(after: now, in: j.zone) {
            lua.push(n); lua.rawSet(-2, field: "next_run")
            lua.push(CivilTime.iso(n, in: j.zone)); lua.rawSet(-2, field: "next_run_iso")
        }
    }

    static func pushRun(_ lua: Lua, _ r: RunRecord, report: Bool) {
        lua.newTable(hashCount: 14)
        lua.push(r.id); lua.rawSet(-2, field: "id")
        for (k, v) in [("job", r.job), ("procedure", r.procedure), ("agent", r.agent), ("trigger", r.trigger), ("status", r.status.rawValue)] {
            lua.push(v); lua.rawSet(-2, field: k)
        }
        lua.push(r.startedAt); lua.rawSet(-2, field: "started_at")
        if let v = r.finishedAt { lua.push(v); lua.rawSet(-2, field: "finished_at") }
        if let v = r.scheduledAt { lua.push(v); lua.rawSet(-2, field: "scheduled_at") }
        if let v = r.exitCode { lua.push(Int64(v)); lua.rawSet(-2, field: "exit_code") }
        if let v = r.message { lua.push(v); lua.rawSet(-2, field: "message") }
        if let v = r.fenceToken { lua.push(v); lua.rawSet(-2, field: "fence_token") }
        if report, let v = r.report { lua.push(v); lua.rawSet(-2, field: "report") }
    }

    /// agent.settings() -> {agent_id, history, lock_url, lock_ttl, retention_days, maintenance_timezone} | nil, err
    static let settings: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let s: SchedulerSettings
            do { s = try current(lua) } catch { return fail(lua, error) }
            lua.newTable(hashCount: 6)
            lua.push(s.agentID); lua.rawSet(-2, field: "agent_id")
            lua.push(s.historyPath); lua.rawSet(-2, field: "history")
            if let u = s.redisURL { lua.push(u); lua.rawSet(-2, field: "lock_url") }
            lua.push(s.lockTTL); lua.rawSet(-2, field: "lock_ttl")
            lua.push(Int64(s.retentionDays)); lua.rawSet(-2, field: "retention_days")
            lua.push(s.maintenanceZone); lua.rawSet(-2, field: "maintenance_timezone")
            return 1
        }
    }

    /// agent.jobs() -> { {name, procedure, args, schedule, timezone, timeout, max_memory, enabled, next_run, next_run_iso}, ... } | nil, err
    static let jobs: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let s: SchedulerSettings
            do { s = try current(lua) } catch { return fail(lua, error) }
            let now = Int64(SystemClock.wall())
            lua.newTable(arrayCount: Int32(s.jobs.count))
            for (i, j) in s.jobs.enumerated() { pushJob(lua, j, now: now); lua.rawSet(-2, index: Int64(i + 1)) }
            return 1
        }
    }

    /// agent.runs{job = NAME, limit = 50, report = false} -> runs newest first | nil, err
    static let runs: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let o = try lua.options(1, known: ["job", "limit", "report"])
            var limit = 50
            if case .integer(let i)? = o["limit"] { limit = Int(i) }
            let list: [RunRecord]
            do {
                list = try history(try current(lua))?.runs(job: o["job"]?.text, limit: limit) ?? []
            } catch { return fail(lua, error) }
            let withReport = o["report"] == .boolean(true)
            lua.newTable(arrayCount: Int32(list.count))
            for (i, r) in list.enumerated() { pushRun(lua, r, report: withReport); lua.rawSet(-2, index: Int64(i + 1)) }
            return 1
        }
    }

    /// agent.check_scheduled() -> { {job, verdict = "ok"|"warning", message, last_due, status}, ... }, history_path | nil, err
    static let checkScheduled: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let s: SchedulerSettings
            let results: [ScheduledRunCheck.Result]
            do {
                s = try current(lua)
                guard let h = try history(s) else {
                    return lua.failure(code: "no_history", message: "no agent history at \(s.historyPath): the agent has not run here (opsh agent)")
                }
                results = try ScheduledRunCheck.evaluate(s, history: h, now: Int64(SystemClock.wall()))
            } catch { return fail(lua, error) }
            lua.newTable(arrayCount: Int32(results.count))
            for (i, r) in results.enumerated() {
                lua.newTable(hashCount: 5)
                lua.push(r.job); lua.rawSet(-2, field: "job")
                lua.push(r.verdict.rawValue); lua.rawSet(-2, field: "verdict")
                lua.push(r.message); lua.rawSet(-2, field: "message")
                if let d = r.lastDue { lua.push(d); lua.rawSet(-2, field: "last_due") }
                if let run = r.run { lua.push(run.status.rawValue); lua.rawSet(-2, field: "status") }
                lua.rawSet(-2, index: Int64(i + 1))
            }
            lua.push(s.historyPath)
            return 2
        }
    }

    /// agent.at(seconds, procedure [, args]) -> id | nil, err: runs `opsh run PROCEDURE ARGS`
    /// once, `seconds` from now, on the agent (the guide's `at now + 1 hour`).
    static let at: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let delay = try lua.checkNumber(1)
            let procedure = try lua.checkString(2)
            var args: [String] = []
            if lua.type(at: 3) != .nil && lua.type(at: 3) != .none {
                try lua.checkTable(3)
                guard case .array(let a)? = try? lua.value(at: 3) else { throw .argument(3, "a list of strings expected") }
                args = a.compactMap(\.text)
            }
            guard delay >= 0 else { throw .argument(1, "seconds from now, 0 or more") }
            if lua.vm.dryRun { return lua.would("schedule \(procedure) \(args.joined(separator: " ")) in \(Int(delay))s on the agent") }
            do {
                let s = try current(lua)
                let now = Int64(SystemClock.wall())
                let id = try RunHistory(path: s.historyPath).scheduleOnce(procedure: procedure, arguments: args, due: now + Int64(delay),
                                                                      now: now, createdBy: "opsh run (pid \(getpid()))")
                lua.push(id)
                return 1
            } catch { return fail(lua, error) }
        }
    }

    /// agent.oneshots() -> the pending one-shot jobs {id, procedure, args, due, created_by}
    static let oneShots: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let list: [OneShot]
            do { list = try history(try current(lua))?.oneShots() ?? [] } catch { return fail(lua, error) }
            lua.newTable(arrayCount: Int32(list.count))
            for (i, o) in list.enumerated() {
                lua.newTable(hashCount: 6)
                lua.push(o.id); lua.rawSet(-2, field: "id")
                lua.push(o.procedure); lua.rawSet(-2, field: "procedure")
                lua.push(value: .array(o.arguments.map { .string($0) })); lua.rawSet(-2, field: "args")
                lua.push(o.dueAt); lua.rawSet(-2, field: "due")
                lua.push(o.createdBy); lua.rawSet(-2, field: "created_by")
                lua.push(o.state); lua.rawSet(-2, field: "state")
                lua.rawSet(-2, index: Int64(i + 1))
            }
            return 1
        }
    }

    /// agent.window(name) -> {name, when, timezone, open, start, start_iso, opens_in, finish, text}: the maintenance
    /// window in maintenance_timezone, open now or its next opening.
    static let window: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let name = try lua.checkString(1)
            guard let w = MaintenanceWindow.named(name) else {
                throw .argument(1, "unknown maintenance window '\(name)' (\(MaintenanceWindow.names.joined(separator: ", ")))")
            }
            let zoneName = ConfigModule.string(lua, "maintenance_timezone") ?? "UTC"
            let zone: ZoneRules
            do { zone = try ZoneRules(named: zoneName) } catch { return lua.failure(code: "config", message: "maintenance_timezone: \(error)") }
            let st = WindowStatus(window: w, zone: zone, at: Int64(SystemClock.wall()))
            lua.newTable(hashCount: 9)
            lua.push(st.name); lua.rawSet(-2, field: "name")
            lua.push(st.when); lua.rawSet(-2, field: "when")
            lua.push(st.timeZone); lua.rawSet(-2, field: "timezone")
            lua.push(st.open); lua.rawSet(-2, field: "open")
            if let v = st.start {
                lua.push(v); lua.rawSet(-2, field: "start")
                lua.push(CivilTime.iso(v, in: zone)); lua.rawSet(-2, field: "start_iso")
                lua.push(DurationText.text(v - Int64(SystemClock.wall()))); lua.rawSet(-2, field: "opens_in")
            }
            if let v = st.end { lua.push(v); lua.rawSet(-2, field: "finish") }
            lua.push(st.text); lua.rawSet(-2, field: "text")
            return 1
        }
    }
}
