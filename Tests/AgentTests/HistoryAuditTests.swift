import Agent
import Foundation
import OpshTestSupport
import Store
import XCTest

/// The one audit table: the API's records (role, address, status) and the core's in RunHistory's
/// `audit`; a history file of schema version 1 with the API's former table is migrated.
final class HistoryAuditTests: XCTestCase {
    func testAPIRecordRoundTrips() throws {
        let h = try RunHistory(path: Harness.tempDir("audit").path + "/agent.db")
        try h.audit(AuditRecord(at: 10, actor: "alice", action: "POST /api/agent/run-now", result: "{\"run\":{}}", detail: "{\"job\":\"x\"}",
                                role: "admin", address: "127.0.0.1", status: 202))
        try h.audit(AuditRecord(at: 11, actor: "cli", action: "run-now", target: "x", result: "ok"))
        let r = try h.auditRecords(limit: 10)
        XCTAssertEqual(r.map(\.actor), ["cli", "alice"])
        XCTAssertEqual(r[1].role, "admin")
        XCTAssertEqual(r[1].address, "127.0.0.1")
        XCTAssertEqual(r[1].status, 202)
        XCTAssertNil(r[0].status)
        XCTAssertEqual(r[0].target, "x")
    }

    func testVersionOneFileIsMigratedWithTheAPIsAuditRows() throws {
        let path = Harness.tempDir("audit-v1").path + "/agent.db"
        let db = try Database(path: path)
        try db.executeScript("""
            CREATE TABLE runs (id INTEGER PRIMARY KEY, job TEXT NOT NULL, procedure TEXT NOT NULL, agent TEXT NOT NULL,
              trigger TEXT NOT NULL, scheduled_at INTEGER, started_at REAL NOT NULL, finished_at REAL, status TEXT NOT NULL,
              exit_code INTEGER, report TEXT, message TEXT, fence_token INTEGER);
            CREATE TABLE audit (id INTEGER PRIMARY KEY, at REAL NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
              target TEXT, result TEXT NOT NULL, detail TEXT);
            CREATE TABLE job_state (job TEXT PRIMARY KEY, last_scheduled INTEGER NOT NULL);
            CREATE TABLE oneshots (id INTEGER PRIMARY KEY, procedure TEXT NOT NULL, args TEXT NOT NULL, due_at INTEGER NOT NULL,
              created_at INTEGER NOT NULL, created_by TEXT NOT NULL, state TEXT NOT NULL DEFAULT 'pending');
            PRAGMA user_version = 1;
            CREATE TABLE agent_api_audit (id INTEGER PRIMARY KEY, at REAL NOT NULL, actor TEXT NOT NULL, role TEXT, address TEXT NOT NULL,
              method TEXT NOT NULL, path TEXT NOT NULL, body TEXT, status INTEGER NOT NULL, result TEXT NOT NULL);
            INSERT INTO agent_api_audit (at, actor, role, address, method, path, body, status, result)
              VALUES (1.5, 'bob', 'operator', '10.0.0.1', 'PUT', '/api/admin/circuit-breaker-config', '{}', 403, 'denied');
            """)
        db.close()
        let h = try RunHistory(path: path)
        let r = try h.auditRecords()
        XCTAssertEqual(r.count, 1)
        XCTAssertEqual(r[0].action, "PUT /api/admin/circuit-breaker-config")
        XCTAssertEqual(r[0].status, 403)
        XCTAssertEqual(r[0].role, "operator")
        XCTAssertEqual(r[0].detail, "{}")
        let check = try Database(path: path)
        XCTAssertTrue(try check.query("SELECT name FROM sqlite_master WHERE name = 'agent_api_audit'").isEmpty)
    }
}
