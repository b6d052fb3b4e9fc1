import Foundation
import Glibc
import Store
import XCTest

/// The embedded database, from Swift alone, on real files; the sqlite3 shell is not needed.
final class DatabaseTests: XCTestCase {
    var directory = ""

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "opsh-store-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        chmod(directory, 0o755)
        try? FileManager.default.removeItem(atPath: directory)
    }

    func testEveryStorageClassComesBackAsWritten() throws {
        let db = try Database(path: directory + "/values.sqlite")
        try db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, i INTEGER, r REAL, s TEXT, b BLOB, n TEXT)")
        let text = "naïve ✓ \u{0} after a NUL"
        let blob: [UInt8] = [0, 255, 1, 0, 7]
        try db.execute("INSERT INTO t (i, r, s, b, n) VALUES (?, ?, ?, ?, ?)",
                       [.integer(Int64.min), .real(-0.125), .text(text), .blob(blob), .null])
        try db.execute("INSERT INTO t (i, r, s, b, n) VALUES (?, ?, ?, ?, ?)",
                       [.integer(Int64.max), .real(1e300), .text(""), .blob([]), .text("x")])
        let rows = try db.query("SELECT i, r, s, b, n FROM t ORDER BY id")
        XCTAssertEqual(rows.count, 2)
        XCTAssertEqual(rows[0]["i"], .integer(Int64.min))
        XCTAssertEqual(rows[0]["r"], .real(-0.125))
        XCTAssertEqual(rows[0]["s"], .text(text))
        XCTAssertEqual(rows[0]["b"], .blob(blob))
        XCTAssertEqual(rows[0]["n"], .null)
        XCTAssertEqual(rows[1][0], .integer(Int64.max))
        XCTAssertEqual(rows[1][2], .text(""))
        // an empty blob stays a blob, not NULL
        XCTAssertEqual(rows[1][3], .blob([]))
        XCTAssertEqual(rows[1]["no such column"], .null)
        XCTAssertEqual(db.lastInsertRowID, 2)
    }

    func testExecuteCountsTheRowsItChanged() throws {
        let db = try Database(path: directory + "/changes.sqlite")
        try db.execute("CREATE TABLE t (k TEXT)")
        for k in ["a", "b", "c"] { try db.execute("INSERT INTO t VALUES (?)", [.text(k)]) }
        XCTAssertEqual(try db.execute("DELETE FROM t WHERE k <> ?", ["b"]), 2)
        XCTAssertEqual(try db.query("SELECT count(*) AS n FROM t")[0]["n"], .integer(1))
    }

    func testATransactionThatThrowsLeavesNothingBehind() throws {
        struct Stop: Error {}
        let db = try Database(path: directory + "/tx.sqlite")
        try db.execute("CREATE TABLE t (k TEXT)")
        XCTAssertThrowsError(try db.transaction {
            try db.execute("INSERT INTO t VALUES ('gone')")
            throw Stop()
        }) { XCTAssertTrue($0 is Stop) }
        try db.transaction { try db.execute("INSERT INTO t VALUES ('kept')") }
        XCTAssertEqual(try db.query("SELECT k FROM t").map { $0[0] }, [.text("kept")])
    }

    func testMigrationsRunOnceInOrderAndANewerSchemaIsRefused() throws {
        let path = directory + "/schema.sqlite"
        let steps = ["CREATE TABLE runs (id INTEGER PRIMARY KEY, job TEXT NOT NULL)",
                     "ALTER TABLE runs ADD COLUMN status TEXT; CREATE INDEX runs_job ON runs (job)"]
        do {
            let db = try Database(path: path)
            try db.migrate(Array(steps.prefix(1)))
            try db.execute("INSERT INTO runs (job) VALUES ('daily')")
            try db.migrate(steps)
            try db.migrate(steps)   // nothing left to do: no "duplicate column" error
            try db.execute("UPDATE runs SET status = 'ok'")
            XCTAssertEqual(try db.query("PRAGMA user_version")[0][0], .integer(2))
        }
        let older = try Database(path: path)
        XCTAssertThrowsError(try older.migrate(Array(steps.prefix(1)))) { error in
            let e = error as! StoreError
            XCTAssertEqual(e.kind, .schema)
            XCTAssertTrue(e.message.contains("schema version 2"), e.message)
            XCTAssertTrue(e.message.contains(path), e.message)
        }
        // the refused migration changed nothing
        XCTAssertEqual(try older.query("SELECT job, status FROM runs")[0].values, [.text("daily"), .text("ok")])
    }

    func testAFailingMigrationStepIsRolledBack() throws {
        let db = try Database(path: directory + "/badstep.sqlite")
        XCTAssertThrowsError(try db.migrate(["CREATE TABLE a (x); CREATE TABLE b (y", "CREATE TABLE c (z)"])) { error in
            XCTAssertEqual((error as! StoreError).kind, .sql)
        }
        XCTAssertEqual(try db.query("PRAGMA user_version")[0][0], .integer(0))
        XCTAssertTrue(try db.query("SELECT name FROM sqlite_master WHERE name = 'a'").isEmpty)
    }

    func testErrorsNameTheFileAndTheStatement() throws {
        let db = try Database(path: directory + "/errors.sqlite")
        XCTAssertThrowsError(try db.query("SELEC 1")) { error in
            let e = error as! StoreError
            XCTAssertEqual(e.kind, .sql)
            XCTAssertEqual(e.sql, "SELEC 1")
            XCTAssertTrue(e.message.contains("errors.sqlite"), e.message)
            XCTAssertTrue(e.message.contains("syntax error"), e.message)
        }
        try db.execute("CREATE TABLE t (k TEXT UNIQUE NOT NULL)")
        try db.execute("INSERT INTO t VALUES ('a')")
        XCTAssertThrowsError(try db.execute("INSERT INTO t VALUES ('a')")) { XCTAssertEqual(($0 as! StoreError).kind, .constraint) }
        XCTAssertThrowsError(try db.execute("INSERT INTO t VALUES (?)", [])) { error in
            XCTAssertTrue((error as! StoreError).message.contains("takes 1 parameters, 0 given"))
        }
        // the connection is still good after each failure
        XCTAssertEqual(try db.query("SELECT count(*) FROM t")[0][0], .integer(1))
        db.close()
        XCTAssertThrowsError(try db.query("SELECT 1")) { XCTAssertEqual(($0 as! StoreError).kind, .closed) }
    }

    func testAFileThatIsNotADatabaseIsRefusedByName() throws {
        let path = directory + "/notes.txt"
        try Data(String(repeating: "not a database\n", count: 200).utf8).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try Database(path: path)) { error in
            let e = error as! StoreError
            XCTAssertEqual(e.kind, .corrupt)
            XCTAssertTrue(e.message.contains(path), e.message)
        }
        // and it is left as it was
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8).count, 15 * 200)
    }

    func testAMissingDirectoryIsAnOpenError() throws {
        XCTAssertThrowsError(try Database(path: directory + "/no/such/dir/x.sqlite")) { error in
            let e = error as! StoreError
            XCTAssertEqual(e.kind, .open)
            XCTAssertTrue(e.message.contains("no/such/dir"), e.message)
        }
        XCTAssertThrowsError(try Database(path: directory + "/absent.sqlite", readOnly: true)) {
            XCTAssertEqual(($0 as! StoreError).kind, .open)
        }
    }

    /// Two processes' worth of connections on one file (as the agent and `opsh run` share it),
    /// each written from its own thread: every row arrives once, none is lost to SQLITE_BUSY.
    func testTwoConnectionsWritingAtOnceLoseNothing() throws {
        let path = directory + "/shared.sqlite"
        try Database(path: path).migrate(["CREATE TABLE t (writer INTEGER, n INTEGER, UNIQUE (writer, n))"])
        let perWriter = 300
        let errors = ErrorBox()
        DispatchQueue.concurrentPerform(iterations: 2) { writer in
            do {
                let db = try Database(path: path)
                for n in 0..<perWriter {
                    try db.transaction {
                        let before = try db.query("SELECT count(*) FROM t WHERE writer = ?", [.integer(Int64(writer))])[0][0]
                        XCTAssertEqual(before, .integer(Int64(n)))
                        try db.execute("INSERT INTO t VALUES (?, ?)", [.integer(Int64(writer)), .integer(Int64(n))])
                    }
                }
            } catch { errors.add(error) }
        }
        XCTAssertEqual(errors.all.map { "\($0)" }, [])
        let reader = try Database(path: path, readOnly: true)
        XCTAssertEqual(try reader.query("SELECT writer, count(*) FROM t GROUP BY writer ORDER BY writer").map { $0.values },
                       [[.integer(0), .integer(Int64(perWriter))], [.integer(1), .integer(Int64(perWriter))]])
    }

    /// One connection shared by threads: the lock serializes them, and a transaction on one
    /// thread is not interleaved with another thread's statements.
    func testOneConnectionSharedByThreads() throws {
        let db = try Database(path: directory + "/threads.sqlite")
        try db.execute("CREATE TABLE counter (n INTEGER)")
        try db.execute("INSERT INTO counter VALUES (0)")
        DispatchQueue.concurrentPerform(iterations: 4) { _ in
            for _ in 0..<200 {
                try! db.transaction {
                    let n = try db.query("SELECT n FROM counter")[0][0].integer!
                    try db.execute("UPDATE counter SET n = ?", [.integer(n + 1)])
                }
            }
        }
        XCTAssertEqual(try db.query("SELECT n FROM counter")[0][0], .integer(800))
    }
}

final class ErrorBox: @unchecked Sendable {
    let lock = NSLock()
    var all: [Error] = []
    func add(_ e: Error) { lock.lock(); all.append(e); lock.unlock() }
}
