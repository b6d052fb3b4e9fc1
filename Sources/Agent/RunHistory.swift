import Archive
import FileSystem
import Store
import Synchronization

/// The run history, the audit records and the scheduler's memory, in one SQLite file
/// (the lead's `Store`; docs/agent.md "History"). Several threads write (one per running job,
/// the API's audit records): every call holds this object's lock.
public final class RunHistory: @unchecked Sendable {
    public let path: String
    let db: Mutex<Database>

    static let schema = [
        """
        CREATE TABLE runs (id INTEGER PRIMARY KEY, job TEXT NOT NULL, procedure TEXT NOT NULL, agent TEXT NOT NULL,
          trigger TEXT NOT NULL, scheduled_at INTEGER, started_at REAL NOT NULL, finished_at REAL, status TEXT NOT NULL,
          exit_code INTEGER, report TEXT, message TEXT, fence_token INTEGER);
        CREATE INDEX runs_job_started ON runs(job, started_at);
        CREATE INDEX runs_started ON runs(started_at);
        CREATE TABLE audit (id INTEGER PRIMARY KEY, at REAL NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
          target TEXT, result TEXT NOT NULL, detail TEXT);
        CREATE INDEX audit_at ON audit(at);
        CREATE TABLE job_state (job TEXT PRIMARY KEY, last_scheduled INTEGER NOT NULL);
        CREATE TABLE oneshots (id INTEGER PRIMARY KEY, procedure TEXT NOT NULL, args TEXT NOT NULL, due_at INTEGER NOT NULL,
          created_at INTEGER NOT NULL, created_by TEXT NOT NULL, state TEXT NOT NULL DEFAULT 'pending');
        CREATE INDEX oneshots_due ON oneshots(state, due_at);
        """,
        // One audit trail for the core and the API: the API's calls carry the caller's role and
        // address and the answer's status; the API's former table (agent_api_audit) is moved in.
        """
        ALTER TABLE audit ADD COLUMN role TEXT;
        ALTER TABLE audit ADD COLUMN address TEXT;
        ALTER TABLE audit ADD COLUMN status INTEGER;
        CREATE TABLE IF NOT EXISTS agent_api_audit (id INTEGER PRIMARY KEY, at REAL NOT NULL, actor TEXT NOT NULL, role TEXT,
          address TEXT NOT NULL, method TEXT NOT NULL, path TEXT NOT NULL, body TEXT, status INTEGER NOT NULL, result TEXT NOT NULL);
        INSERT INTO audit (at, actor, action, target, result, detail, role, address, status)
          SELECT at, actor, method || ' ' || path, NULL, result, body, role, address, status FROM agent_api_audit ORDER BY id;
        DROP TABLE agent_api_audit;
        """,
    ]

    /// Opens (creating it and its directory) the database and brings its schema up to date.
    public init(path: String) throws(AgentError) {
        self.path = path
        do {
            let dir = FileSystem.directory(of: path)
            if !dir.isEmpty && !FileSystem.isDirectory(dir) { try FileSystem.makeDirectories(dir, mode: 0o700) }
            let d = try Database(path: path)
            try d.migrate(RunHistory.schema)
            db = Mutex(d)
        } catch {
            throw AgentError.history("\(path): \(error)")
        }
    }

    func with<T>(_ body: (Database) throws -> T) throws(AgentError) -> T {
        do {
            return try db.withLock { d in try body(d) }
        } catch let e as AgentError {
            throw e
        } catch {
            throw AgentError.history("\(path): \(error)")
        }
    }

    // MARK: runs

    /// Stores a new run; returns it with its id.
    @discardableResult
    public func insert(_ r: RunRecord) throws(AgentError) -> RunRecord {
        var out = r
        out.id = try with { d in
            try d.execute("""
                INSERT INTO runs (job, procedure, agent, trigger, scheduled_at, started_at, finished_at, status, exit_code, report, message, fence_token)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, RunHistory.values(r))
            let rows = try d.query("SELECT last_insert_rowid()", [])
            if case .integer(let id)? = rows.first?[0] { return id }
            return 0
        }
        return out
    }

    /// Writes a run's end (or any change) over its row.
    public func update(_ r: RunRecord) throws(AgentError) {
        try with { d in
            try d.execute("""
                UPDATE runs SET job = ?, procedure = ?, agent = ?, trigger = ?, scheduled_at = ?, started_at = ?, finished_at = ?, status = ?,
                  exit_code = ?, report = ?, message = ?, fence_token = ? WHERE id = ?
                """, RunHistory.values(r) + [.integer(r.id)])
        }
    }

    static func values(_ r: RunRecord) -> [SQLValue] {
        [.text(r.job), .text(r.procedure), .text(r.agent), .text(r.trigger), r.scheduledAt.map { .integer($0) } ?? .null,
         .real(r.startedAt), r.finishedAt.map { .real($0) } ?? .null, .text(r.status.rawValue),
         r.exitCode.map { .integer(Int64($0)) } ?? .null, r.report.map { .text($0) } ?? .null,
         r.message.map { .text($0) } ?? .null, r.fenceToken.map { .integer($0) } ?? .null]
    }

    static let columns = "id, job, procedure, agent, trigger, scheduled_at, started_at, finished_at, status, exit_code, report, message, fence_token"

    static func record(_ row: Row) -> RunRecord {
        func text(_ i: Int) -> String? { if case .text(let s) = row[i] { return s }; return nil }
        func int(_ i: Int) -> Int64? { if case .integer(let v) = row[i] { return v }; return nil }
        func real(_ i: Int) -> Double? {
            switch row[i] {
            case .real(let v): return v
            case .integer(let v): return Double(v)
            default: return nil
            }
        }
        return RunRecord(id: int(0) ?? 0, job: text(1) ?? "", procedure: text(2) ?? "", agent: text(3) ?? "", trigger: text(4) ?? "",
                         scheduledAt: int(5), startedAt: real(6) ?? 0, finishedAt: real(7),
                         status: RunRecord.Status(rawValue: text(8) ?? "") ?? .unknown, exitCode: int(9).map { Int($0) },
                         report: text(10), message: text(11), fenceToken: int(12))
    }

    /// Runs, newest first: of one job or all, started before `before` (paging), at most `limit`.
    public func runs(job: String? = nil, before: Double? = nil, limit: Int = 50) throws(AgentError) -> [RunRecord] {
        var sql = "SELECT \(RunHistory.columns) FROM runs WHERE 1 = 1"
        var args: [SQLValue] = []
        if let job { sql += " AND job = ?"; args.append(.text(job)) }
        if let before { sql += " AND started_at < ?"; args.append(.real(before)) }
        sql += " ORDER BY started_at DESC, id DESC LIMIT ?"
        args.append(.integer(Int64(max(0, limit))))
        return try with { d in try d.query(sql, args).map(RunHistory.record) }
    }

    public func run(id: Int64) throws(AgentError) -> RunRecord? {
        try with { d in try d.query("SELECT \(RunHistory.columns) FROM runs WHERE id = ?", [.integer(id)]).first.map(RunHistory.record) }
    }

    /// Runs this agent left `running` when it died: they are marked abandoned.
    @discardableResult
    public func abandonRunning(agent: String, at: Double) throws(AgentError) -> Int {
        try with { d in
            let n = try d.query("SELECT count(*) FROM runs WHERE agent = ? AND status = 'running'", [.text(agent)])
            try d.execute("UPDATE runs SET status = 'abandoned', finished_at = ?, message = 'the agent stopped or died while it ran' WHERE agent = ? AND status = 'running'",
                          [.real(at), .text(agent)])
            if case .integer(let c)? = n.first?[0] { return Int(c) }
            return 0
        }
    }

    /// A job's other runs still marked `running` when its lock was just taken: their holder
    /// died or lost the lock (it expired), so they are marked abandoned.
    @discardableResult
    public func abandonRunning(job: String, except id: Int64, at: Double) throws(AgentError) -> Int {
        try with { d in
            try d.execute("UPDATE runs SET status = 'abandoned', finished_at = ?, message = 'its agent died or lost the lock; run ' || ? || ' took the job over' WHERE job = ? AND status = 'running' AND id != ?",
                          [.real(at), .integer(id), .text(job), .integer(id)])
        }
    }

    /// Deletes runs and audit records older than `days` days before `now`; returns how many.
    @discardableResult
    public func prune(olderThanDays days: Int, now: Double) throws(AgentError) -> Int {
        let cut = now - Double(days) * 86400
        return try with { d in
            var n = 0
            try d.transaction {
                for table in ["runs WHERE started_at < ? AND status != 'running'", "audit WHERE at < ?", "oneshots WHERE due_at < ? AND state = 'done'"] {
                    let c = try d.query("SELECT count(*) FROM " + table, [.real(cut)])
                    if case .integer(let k)? = c.first?[0] { n += Int(k) }
                    try d.execute("DELETE FROM " + table, [.real(cut)])
                }
            }
            return n
        }
    }

    /// Each job's latest successful run's end (Unix seconds), for the job metrics after a restart.
    public func lastSuccesses() throws(AgentError) -> [String: Double] {
        try with { d in
            var out: [String: Double] = [:]
            for row in try d.query("SELECT job, max(finished_at) FROM runs WHERE status = 'ok' GROUP BY job", []) {
                guard case .text(let job) = row[0] else { continue }
                switch row[1] {
                case .real(let t): out[job] = t
                case .integer(let t): out[job] = Double(t)
                default: break
                }
            }
            return out
        }
    }

    // MARK: the scheduler's memory

    /// The last scheduled time the agent handled for a job (Unix seconds).
    public func lastScheduled(_ job: String) throws(AgentError) -> Int64? {
        try with { d in
            let rows = try d.query("SELECT last_scheduled FROM job_state WHERE job = ?", [.text(job)])
            if case .integer(let v)? = rows.first?[0] { return v }
            return nil
        }
    }

    public func setLastScheduled(_ job: String, _ t: Int64) throws(AgentError) {
        try with { d in
            try d.execute("INSERT INTO job_state (job, last_scheduled) VALUES (?, ?) ON CONFLICT(job) DO UPDATE SET last_scheduled = excluded.last_scheduled",
                          [.text(job), .integer(t)])
        }
    }

    // MARK: one-shot jobs

    /// Schedules a procedure to run once at `due` (Unix seconds); returns its id.
    @discardableResult
    public func scheduleOnce(procedure: String, arguments: [String], due: Int64, now: Int64, createdBy: String) throws(AgentError) -> Int64 {
        let args = String(decoding: MValue.array(arguments.map { .string($0) }).json(pretty: false), as: UTF8.self)
        return try with { d in
            try d.execute("INSERT INTO oneshots (procedure, args, due_at, created_at, created_by) VALUES (?, ?, ?, ?, ?)",
                          [.text(procedure), .text(args), .integer(due), .integer(now), .text(createdBy)])
            let rows = try d.query("SELECT last_insert_rowid()", [])
            if case .integer(let id)? = rows.first?[0] { return id }
            return 0
        }
    }

    /// One-shot jobs, pending first by due time, then the others newest first.
    public func oneShots(includeDone: Bool = false) throws(AgentError) -> [OneShot] {
        try with { d in
            try d.query("SELECT id, procedure, args, due_at, created_at, created_by, state FROM oneshots" + (includeDone ? "" : " WHERE state = 'pending'")
                        + " ORDER BY state = 'pending' DESC, due_at", []).map(RunHistory.oneShot)
        }
    }

    /// Pending one-shots due by `now`, marked started in the same transaction, so an agent
    /// sharing this file never starts one twice.
    public func takeDueOneShots(now: Int64) throws(AgentError) -> [OneShot] {
        try with { d in
            var out: [OneShot] = []
            try d.transaction {
                out = try d.query("SELECT id, procedure, args, due_at, created_at, created_by, state FROM oneshots WHERE state = 'pending' AND due_at <= ? ORDER BY due_at",
                                  [.integer(now)]).map(RunHistory.oneShot)
                for o in out { try d.execute("UPDATE oneshots SET state = 'started' WHERE id = ?", [.integer(o.id)]) }
            }
            return out
        }
    }

    public func finishOneShot(_ id: Int64) throws(AgentError) {
        try with { d in try d.execute("UPDATE oneshots SET state = 'done' WHERE id = ?", [.integer(id)]) }
    }

    static func oneShot(_ row: Row) -> OneShot {
        func text(_ i: Int) -> String { if case .text(let s) = row[i] { return s }; return "" }
        func int(_ i: Int) -> Int64 { if case .integer(let v) = row[i] { return v }; return 0 }
        let args = MValue.parse(Array(text(2).utf8))?.array.compactMap(\.string) ?? []
        return OneShot(id: int(0), procedure: text(1), arguments: args, dueAt: int(3), createdAt: int(4), createdBy: text(5), state: text(6))
    }

    // MARK: audit

    /// Records a state-changing call (the admin API writes one per call).
    @discardableResult
    public func audit(_ a: AuditRecord) throws(AgentError) -> Int64 {
        try with { d in
            try d.execute("INSERT INTO audit (at, actor, action, target, result, detail, role, address, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                          [.real(a.at), .text(a.actor), .text(a.action), a.target.map { .text($0) } ?? .null, .text(a.result), a.detail.map { .text($0) } ?? .null,
                           a.role.map { .text($0) } ?? .null, a.address.map { .text($0) } ?? .null, a.status.map { .integer(Int64($0)) } ?? .null])
            let rows = try d.query("SELECT last_insert_rowid()", [])
            if case .integer(let id)? = rows.first?[0] { return id }
            return 0
        }
    }

    /// Audit records, newest first.
    public func auditRecords(limit: Int = 100, before: Double? = nil) throws(AgentError) -> [AuditRecord] {
        var sql = "SELECT id, at, actor, action, target, result, detail, role, address, status FROM audit"
        var args: [SQLValue] = []
        if let before { sql += " WHERE at < ?"; args.append(.real(before)) }
        sql += " ORDER BY at DESC, id DESC LIMIT ?"
        args.append(.integer(Int64(limit)))
        return try with { d in
            try d.query(sql, args).map { row in
                func text(_ i: Int) -> String? { if case .text(let s) = row[i] { return s }; return nil }
                var at = 0.0
                if case .real(let v) = row[1] { at = v } else if case .integer(let v) = row[1] { at = Double(v) }
                var id: Int64 = 0
                if case .integer(let v) = row[0] { id = v }
                var status: Int?
                if case .integer(let v) = row[9] { status = Int(v) }
                return AuditRecord(id: id, at: at, actor: text(2) ?? "", action: text(3) ?? "", target: text(4), result: text(5) ?? "", detail: text(6),
                                   role: text(7), address: text(8), status: status)
            }
        }
    }
}
