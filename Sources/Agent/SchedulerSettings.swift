import Archive
import Glibc
import Schedule

/// One scheduled job of the configuration (docs/agent.md "Jobs").
public struct Job: Sendable {
    public let name: String
    /// the procedure `opsh run` runs (backup/daily)
    public let procedure: String
    public let arguments: [String]
    /// the cron expression or window name as configured ("once" for a one-shot job)
    public let scheduleText: String
    /// nil for a one-shot job
    public let schedule: JobSchedule?
    public let zone: ZoneRules
    /// seconds; `opsh run --timeout`
    public let timeout: Double
    /// `opsh run --max-memory` (64M, 1G), nil: none
    public let maxMemory: String?
    public let enabled: Bool

    /// A one-shot job (a procedure's `opsh.agent.at`): runs once, named once:ID.
    public init(oneShot: OneShot, timeout: Double = 3600) {
        name = "once:" + String(oneShot.id)
        procedure = oneShot.procedure
        arguments = oneShot.arguments
        scheduleText = "once"
        schedule = nil
        zone = .utc
        self.timeout = timeout
        maxMemory = nil
        enabled = true
    }

    public init(name: String, procedure: String, arguments: [String] = [], schedule: String, timeZone: String = "UTC",
                timeout: Double = 3600, maxMemory: String? = nil, enabled: Bool = true) throws(AgentError) {
        guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." || $0 == "/" }), !name.hasPrefix("once:") else {
            throw AgentError.config("job name '\(name)': letters, digits, '-', '_', '.', '/' only")
        }
        guard !procedure.isEmpty else { throw AgentError.config("job \(name): no procedure") }
        guard timeout > 0 else { throw AgentError.config("job \(name): timeout must be positive") }
        self.name = name
        self.procedure = procedure
        self.arguments = arguments
        self.scheduleText = schedule
        do { self.schedule = try JobSchedule(parsing: schedule) } catch {
            throw AgentError.config("job \(name): \(error.message) (or a window: \(MaintenanceWindow.names.joined(separator: ", ")))")
        }
        do { self.zone = try ZoneRules(named: timeZone) } catch { throw AgentError.config("job \(name): \(error.message)") }
        self.timeout = timeout
        self.maxMemory = maxMemory
        self.enabled = enabled
    }
}

/// What the scheduler runs with: its identity, where things are, and the jobs. Made from the
/// configuration by `SchedulerSettings(values:)` (the Lua values converted by
/// `AgentModule.settings` in Sources/Modules: config.lua, .env, environment, --set; docs/agent.md).
public struct SchedulerSettings: Sendable {
    /// names this agent in the history and its locks (default: the host name)
    public var agentID: String
    /// the opsh binary each run executes
    public var opshPath: String
    /// passed on to every `opsh run` (--config FILE), nil: opsh's default
    public var configFile: String?
    /// the SQLite history database
    public var historyPath: String
    /// runs and audit records older than this are pruned
    public var retentionDays: Int
    /// the Redis that holds the job locks; nil: this agent runs alone (local locks only)
    public var redisURL: String?
    /// seconds a lock lives without a renewal (renewed every third of it)
    public var lockTTL: Double
    /// zone of the maintenance windows `opsh run` enforces
    public var maintenanceZone: String
    public var jobs: [Job]

    public init(agentID: String, opshPath: String, configFile: String? = nil, historyPath: String, retentionDays: Int = 90,
                redisURL: String? = nil, lockTTL: Double = 30, maintenanceZone: String = "UTC", jobs: [Job]) {
        self.agentID = agentID
        self.opshPath = opshPath
        self.configFile = configFile
        self.historyPath = historyPath
        self.retentionDays = retentionDays
        self.redisURL = redisURL
        self.lockTTL = lockTTL
        self.maintenanceZone = maintenanceZone
        self.jobs = jobs
    }

    /// The guide's scheduled work ("Daily Operations", "Maintenance Procedures", "Backup and
    /// Recovery"): BACKUP_SCHEDULE's daily backup at 02:00, the hourly Qdrant snapshot of the
    /// 1-hour RPO, the daily health check, the log cleanup in the daily window, and the weekly,
    /// monthly and quarterly maintenance runs (maintenance/*: the guide's steps, the monthly
    /// full backup among them) in their windows. config.lua's `agent_jobs` changes any of them
    /// (`name = false` removes one).
    public static let defaultJobs: [(name: String, procedure: String, schedule: String, timeout: Double)] = [
        ("backup-daily", "backup/daily", "0 2 * * *", 7200),
        ("qdrant-snapshot", "qdrant/snapshot", "0 * * * *", 1800),
        ("daily-check", "daily/check", "0 6 * * *", 900),
        ("log-cleanup", "logs/archive", "daily", 1800),
        ("weekly-maintenance", "maintenance/weekly", "weekly", 3600),
        ("monthly-maintenance", "maintenance/monthly", "monthly", 10800),
        ("quarterly-maintenance", "maintenance/quarterly", "quarterly", 10800),
    ]

    /// Resolves the settings from the configuration's values (config.lua, .env, environment,
    /// --set: docs/agent.md "Jobs"): agent_id, agent_history_db (default state_dir/agent.db), agent_history_days,
    /// agent_lock_url (default redis_url; "none": no Redis lock), agent_lock_ttl, agent_timezone
    /// (the jobs' default zone), maintenance_timezone, agent_default_jobs (false: only
    /// agent_jobs) and agent_jobs = { NAME = { procedure, args, schedule, timezone, timeout,
    /// max_memory, enabled } | false }. A bad value is an error naming its key.
    public init(values: [(String, MValue)], opshPath: String, configFile: String?) throws(AgentError) {
        func value(_ k: String) -> MValue? {
            guard let v = values.last(where: { $0.0 == k })?.1, v != .null else { return nil }
            return v
        }
        func text(_ k: String) throws(AgentError) -> String? {
            guard let v = value(k) else { return nil }
            guard let s = v.string, !s.isEmpty else { throw AgentError.config("\(k): must be a non-empty string") }
            return s
        }
        func seconds(_ v: MValue?, _ key: String) throws(AgentError) -> Double? {
            guard let v else { return nil }
            if case .double(let d) = v, d > 0 { return d }
            if let i = v.int, i > 0 { return Double(i) }
            if let s = v.string, let d = SchedulerSettings.duration(s) { return d }
            throw AgentError.config("\(key): must be a positive number of seconds or a duration such as 30m or 2h")
        }
        let zone = try text("agent_timezone") ?? "UTC"
        var jobs: [Job] = []
        var overrides: [(String, MValue)] = []
        if let t = value("agent_jobs") {
            switch t {
            case .object(let o): overrides = o
            case .array(let a) where a.isEmpty: break   // {}
            default: throw AgentError.config("agent_jobs: must be a table of NAME = { procedure = ..., schedule = ... }")
            }
        }
        let defaults = value("agent_default_jobs")?.bool ?? true
        var names: [String] = defaults ? SchedulerSettings.defaultJobs.map(\.name) : []
        for (k, _) in overrides where !names.contains(k) { names.append(k) }
        for name in names {
            let base = defaults ? SchedulerSettings.defaultJobs.first { $0.name == name } : nil
            let o = overrides.last { $0.0 == name }?.1
            if o == .bool(false) { continue }
            if let o {
                guard case .object = o else { throw AgentError.config("agent_jobs.\(name): must be a table or false") }
            }
            let key = "agent_jobs.\(name)"
            guard let procedure = o?["procedure"]?.string ?? base?.procedure else { throw AgentError.config("\(key): needs a procedure") }
            guard let schedule = o?["schedule"]?.string ?? base?.schedule else {
                throw AgentError.config("\(key): needs a schedule (a cron expression or a window: \(MaintenanceWindow.names.joined(separator: ", ")))")
            }
            var args: [String] = []
            if let a = o?["args"] {
                guard case .array(let items) = a else { throw AgentError.config("\(key).args: must be a list of strings") }
                args = items.map { $0.string ?? $0.int.map { String($0) } ?? "" }
            }
            jobs.append(try Job(name: name, procedure: procedure, arguments: args, schedule: schedule,
                                timeZone: o?["timezone"]?.string ?? zone,
                                timeout: try seconds(o?["timeout"], key + ".timeout") ?? base?.timeout ?? 3600,
                                maxMemory: o?["max_memory"]?.string, enabled: o?["enabled"]?.bool ?? true))
        }
        var lockURL = try text("agent_lock_url")
        if lockURL == nil { lockURL = try text("redis_url") }
        if lockURL == "none" { lockURL = nil }
        let days = value("agent_history_days")
        guard days == nil || (days!.int ?? 0) > 0 else { throw AgentError.config("agent_history_days: must be a positive number of days") }
        let maintenanceZone = try text("maintenance_timezone") ?? "UTC"
        do { _ = try ZoneRules(named: maintenanceZone) } catch { throw AgentError.config("maintenance_timezone: \(error.message)") }
        var history = try text("agent_history_db")
        if history == nil, let dir = try text("state_dir") { history = dir + "/agent.db" }
        self.init(agentID: try text("agent_id") ?? Host.name(), opshPath: opshPath, configFile: configFile,
                  historyPath: history ?? SchedulerSettings.defaultHistoryPath(),
                  retentionDays: Int(days?.int ?? 90), redisURL: lockURL,
                  lockTTL: try seconds(value("agent_lock_ttl"), "agent_lock_ttl") ?? 30, maintenanceZone: maintenanceZone, jobs: jobs)
    }

    /// Without state_dir: $XDG_STATE_HOME/opsh/agent.db, else ~/.local/state/opsh/agent.db
    public static func defaultHistoryPath() -> String {
        if let x = getenv("XDG_STATE_HOME"), x.pointee != 0 { return String(cString: x) + "/opsh/agent.db" }
        let home = getenv("HOME").map { String(cString: $0) } ?? "."
        return home + "/.local/state/opsh/agent.db"
    }

    /// 90, 30s, 15m, 2h, 1d
    static func duration(_ s: String) -> Double? {
        if let d = Double(s) { return d > 0 ? d : nil }
        guard let unit = s.last, let n = Double(s.dropLast()), n > 0 else { return nil }
        switch unit {
        case "s": return n
        case "m": return n * 60
        case "h": return n * 3600
        case "d": return n * 86400
        default: return nil
        }
    }

    public func job(_ name: String) -> Job? { jobs.first { $0.name == name } }

    }

public enum AgentError: Error, CustomStringConvertible, Sendable {
    case config(String)
    case unknownJob(String)
    /// another agent (or run) holds the job's lock
    case locked(job: String, holder: String)
    case redis(String)
    case history(String)
    case spawn(String)

    public var description: String {
        switch self {
        case .config(let m): return m
        case .unknownJob(let j): return "no job named '\(j)' (opsh agent jobs lists them)"
        case .locked(let j, let h): return "job \(j) is running elsewhere (lock held by \(h))"
        case .redis(let m): return "redis: \(m)"
        case .history(let m): return "history: \(m)"
        case .spawn(let m): return m
        }
    }
}
