import Archive
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

/// What the agent runs with: its identity, where things are, and the jobs. Made by
/// `AgentSettings(json:)` from what `opsh agent config --json` prints (the one place the
/// configuration is read: flags, environment, .env, config.lua, defaults; docs/agent.md).
public struct AgentSettings: Sendable {
    /// names this agent in locks and history (default: hostname:pid)
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

    /// Reads the document `opsh agent config --json` prints:
    /// `{"agent_id", "history", "retention_days", "redis_url", "lock_ttl", "maintenance_timezone",
    ///   "jobs": [{"name", "procedure", "args", "schedule", "timezone", "timeout", "max_memory", "enabled"}]}`.
    public init(json: [UInt8], opshPath: String, configFile: String?) throws(AgentError) {
        guard let doc = MValue.parse(json), case .object = doc else { throw AgentError.config("agent configuration: not a JSON object") }
        var jobs: [Job] = []
        for j in doc["jobs"]?.array ?? [] {
            guard let name = j["name"]?.string, let procedure = j["procedure"]?.string, let schedule = j["schedule"]?.string else {
                throw AgentError.config("a job needs name, procedure and schedule (cron or window)")
            }
            let timeout = j["timeout"].flatMap { v -> Double? in if case .double(let d) = v { return d }; return v.int.map(Double.init) } ?? 3600
            jobs.append(try Job(name: name, procedure: procedure, arguments: (j["args"]?.array ?? []).compactMap(\.string), schedule: schedule,
                                timeZone: j["timezone"]?.string ?? "UTC", timeout: timeout, maxMemory: j["max_memory"]?.string,
                                enabled: j["enabled"]?.bool ?? true))
        }
        self.init(agentID: doc["agent_id"]?.string ?? AgentSettings.defaultID(), opshPath: opshPath, configFile: configFile,
                  historyPath: doc["history"]?.string ?? "opsh-agent.db",
                  retentionDays: Int(doc["retention_days"]?.int ?? 90), redisURL: doc["redis_url"]?.string,
                  lockTTL: Double(doc["lock_ttl"]?.int ?? 30), maintenanceZone: doc["maintenance_timezone"]?.string ?? "UTC", jobs: jobs)
    }

    public func job(_ name: String) -> Job? { jobs.first { $0.name == name } }

    public static func defaultID() -> String { Host.name() + ":" + String(Host.pid()) }
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
