import FileSystem
import Store

/// The audit trail of the API in the history database: one row per state-changing call
/// (POST, PUT, DELETE), allowed or refused: who (user and role, or "anonymous"), from where,
/// what (method, path, body), when, and the result (status and a short message). Its own table,
/// created if missing, so it takes no schema version (user_version) from the runs' migrations.
public final class AuditLog: @unchecked Sendable {
    let db: Database

    public init(path: String) throws {
        db = try historyDatabase(path)
        try db.executeScript("""
            CREATE TABLE IF NOT EXISTS agent_api_audit (
                id INTEGER PRIMARY KEY, at REAL NOT NULL, actor TEXT NOT NULL, role TEXT, address TEXT NOT NULL,
                method TEXT NOT NULL, path TEXT NOT NULL, body TEXT, status INTEGER NOT NULL, result TEXT NOT NULL);
            CREATE INDEX IF NOT EXISTS agent_api_audit_at ON agent_api_audit(at);
            """)
    }

    public func append(_ r: AuditEntry) throws {
        _ = try db.execute("INSERT INTO agent_api_audit(at, actor, role, address, method, path, body, status, result) VALUES (?,?,?,?,?,?,?,?,?)",
                           [.real(r.at), .text(r.actor), SQLValue(r.role), .text(r.address), .text(r.method), .text(r.path),
                            SQLValue(r.body), .integer(Int64(r.status)), .text(r.result)])
    }

    /// The newest `limit` records, newest first.
    public func recent(limit: Int) throws -> [AuditEntry] {
        try db.query("SELECT at, actor, role, address, method, path, body, status, result FROM agent_api_audit ORDER BY id DESC LIMIT ?",
                     [.integer(Int64(limit))]).map { row in
            AuditEntry(at: row["at"].real ?? 0, actor: row["actor"].text ?? "", role: row["role"].text, address: row["address"].text ?? "",
                       method: row["method"].text ?? "", path: row["path"].text ?? "", body: row["body"].text,
                       status: Int(row["status"].integer ?? 0), result: row["result"].text ?? "")
        }
    }

    public static func json(_ r: AuditEntry) -> JSONValue {
        .object([("at", .double(r.at)), ("actor", .string(r.actor)), ("role", r.role.map { .string($0) } ?? .null),
                 ("address", .string(r.address)), ("method", .string(r.method)), ("path", .string(r.path)),
                 ("body", r.body.map { .string($0) } ?? .null), ("status", .integer(r.status)), ("result", .string(r.result))])
    }
}

/// The history database at `path`, its directory made (0700) when missing.
func historyDatabase(_ path: String) throws -> Database {
    let dir = FileSystem.directory(of: path)
    if !dir.isEmpty && dir != "." { try FileSystem.makeDirectories(dir, mode: 0o700) }
    return try Database(path: path)
}
