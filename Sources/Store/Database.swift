import CDyn
import Glibc

/// One SQLite database file: opsh's embedded store for what must be read back later (resource
/// history, check results, the agent's runs and audit records). The system's libsqlite3 is
/// opened with dlopen on first use, as every C library of the run path is
/// (docs/ARCHITECTURE.md §2 "Start-up").
///
/// One connection, used by one thread at a time: every call takes the connection's lock, which
/// is recursive so that a `transaction` body can call `execute` and `query`. Other processes
/// (a second agent, `opsh run` reading what the agent wrote) share the file through SQLite's own
/// locking: the journal is WAL, so readers never wait for the writer, and a writer waits for
/// another writer up to the busy timeout before it fails with `.busy`.
public final class Database: @unchecked Sendable {
    public let path: String
    let api: UnsafePointer<opsh_sqlite_api>
    let handle: OpaquePointer
    /// Allocated, not stored: a pthread mutex must not move.
    let lock = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    /// Prepared statements by their SQL text: the same few statements run again and again.
    var statements: [String: OpaquePointer] = [:]

    /// Opens `path`, creating it (and not its directory) unless `readOnly`.
    /// - Parameter busyTimeout: how long a write waits for another process's write, in milliseconds.
    public init(path: String, readOnly: Bool = false, busyTimeout: Int32 = 5000) throws(StoreError) {
        guard let api = opsh_sqlite() else { lock.deallocate(); throw .unavailable() }
        self.path = path
        self.api = api
        let flags = (readOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) | SQLITE_OPEN_NOMUTEX
        var db: OpaquePointer?
        let rc = api.pointee.sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            let message = db.map { sqliteText(api.pointee.sqlite3_errmsg($0)) } ?? sqliteText(api.pointee.sqlite3_errstr(rc))
            if let db { _ = api.pointee.sqlite3_close_v2(db) }
            lock.deallocate()
            throw StoreError(kind: .open, message: "cannot open database \(path): \(message)", path: path, sql: nil)
        }
        handle = db
        var attributes = pthread_mutexattr_t()
        pthread_mutexattr_init(&attributes)
        pthread_mutexattr_settype(&attributes, Int32(PTHREAD_MUTEX_RECURSIVE))
        pthread_mutex_init(lock, &attributes)
        pthread_mutexattr_destroy(&attributes)
        _ = api.pointee.sqlite3_extended_result_codes(db, 1)
        _ = api.pointee.sqlite3_busy_timeout(db, busyTimeout)
        // A file that is not a database is found here, on the first read, not at open.
        do {
            if readOnly {
                _ = try query("PRAGMA schema_version")
            } else {
                _ = try query("PRAGMA journal_mode = WAL")
                try execute("PRAGMA synchronous = NORMAL")
                try execute("PRAGMA foreign_keys = ON")
            }
        } catch {
            close()
            throw error
        }
    }

    deinit {
        close()
        pthread_mutex_destroy(lock)
        lock.deallocate()
    }

    var closed = false

    /// Finalizes the statements and closes the connection; later calls fail with `.closed`.
    public func close() {
        locked {
            guard !closed else { return }
            for statement in statements.values { _ = api.pointee.sqlite3_finalize(statement) }
            statements = [:]
            _ = api.pointee.sqlite3_close_v2(handle)
            closed = true
        }
    }

    /// Runs one statement with `parameters` bound to its `?` placeholders, in order.
    /// Returns the number of rows it inserted, updated or deleted.
    @discardableResult
    public func execute(_ sql: String, _ parameters: [SQLValue] = []) throws(StoreError) -> Int {
        try locked { () throws(StoreError) -> Int in
            let statement = try prepared(sql, parameters)
            defer { finish(statement) }
            while try step(statement, sql) {}
            return Int(api.pointee.sqlite3_changes(handle))
        }
    }

    /// Runs one statement and returns its rows.
    public func query(_ sql: String, _ parameters: [SQLValue] = []) throws(StoreError) -> [Row] {
        try locked { () throws(StoreError) -> [Row] in
            let statement = try prepared(sql, parameters)
            defer { finish(statement) }
            let count = api.pointee.sqlite3_column_count(statement)
            let names = (0..<count).map { sqliteText(api.pointee.sqlite3_column_name(statement, $0)) }
            var rows: [Row] = []
            while try step(statement, sql) {
                rows.append(Row(names: names, values: (0..<count).map { column(statement, $0) }))
            }
            return rows
        }
    }

    /// Runs several statements separated by semicolons, without parameters (a schema).
    public func executeScript(_ sql: String) throws(StoreError) {
        try locked { () throws(StoreError) in
            try checkOpen(sql)
            var message: UnsafeMutablePointer<CChar>?
            let rc = api.pointee.sqlite3_exec(handle, sql, nil, nil, &message)
            if rc != SQLITE_OK {
                let text = message.map { String(cString: $0) } ?? sqliteText(api.pointee.sqlite3_errmsg(handle))
                if let message { api.pointee.sqlite3_free(message) }
                throw failure(rc, text, sql)
            }
        }
    }

    /// The rowid of the last row this connection inserted.
    public var lastInsertRowID: Int64 { locked { api.pointee.sqlite3_last_insert_rowid(handle) } }

    /// Runs `body` in one transaction: committed when it returns, rolled back when it throws.
    /// The write lock is taken at the start (BEGIN IMMEDIATE), so a transaction that reads and
    /// then writes never fails halfway on another process's write.
    public func transaction<T>(_ body: () throws -> T) throws -> T {
        try locked { () throws -> T in
            try execute("BEGIN IMMEDIATE")
            do {
                let result = try body()
                try execute("COMMIT")
                return result
            } catch {
                if api.pointee.sqlite3_get_autocommit(handle) == 0 { _ = try? execute("ROLLBACK") }
                throw error
            }
        }
    }

    /// Brings the schema up to date: `steps[i]` takes the database from version i to i + 1
    /// (PRAGMA user_version), each in its own transaction. A database newer than `steps` is
    /// refused: an older opsh must not write into a schema it does not know.
    public func migrate(_ steps: [String]) throws(StoreError) {
        do {
            try transaction {
                let version = Int(try query("PRAGMA user_version").first?[0].integer ?? 0)
                if version > steps.count {
                    throw StoreError(kind: .schema, message: "database \(path) has schema version \(version), newer than this opsh knows (\(steps.count)): use a newer opsh or another file", path: path, sql: nil)
                }
                for index in version..<steps.count {
                    try executeScript(steps[index])
                    try execute("PRAGMA user_version = \(index + 1)")
                }
            }
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError(kind: .sql, message: "\(error)", path: path, sql: nil)
        }
    }

    // MARK: - statements

    func prepared(_ sql: String, _ parameters: [SQLValue]) throws(StoreError) -> OpaquePointer {
        try checkOpen(sql)
        let statement: OpaquePointer
        if let cached = statements[sql] {
            statement = cached
        } else {
            var made: OpaquePointer?
            var tail: UnsafePointer<CChar>?
            let rc = sql.withCString { api.pointee.sqlite3_prepare_v2(handle, $0, -1, &made, &tail) }
            guard rc == SQLITE_OK, let made else {
                throw failure(rc, sqliteText(api.pointee.sqlite3_errmsg(handle)), sql)
            }
            statement = made
            statements[sql] = made
        }
        let expected = Int(api.pointee.sqlite3_bind_parameter_count(statement))
        guard expected == parameters.count else {
            throw StoreError(kind: .sql, message: "the statement takes \(expected) parameters, \(parameters.count) given", path: path, sql: sql)
        }
        for (offset, value) in parameters.enumerated() {
            let index = Int32(offset + 1)
            let rc: Int32
            switch value {
            case .null: rc = api.pointee.sqlite3_bind_null(statement, index)
            case .integer(let v): rc = api.pointee.sqlite3_bind_int64(statement, index, v)
            case .real(let v): rc = api.pointee.sqlite3_bind_double(statement, index, v)
            case .text(let v):
                var text = v
                rc = text.withUTF8 { bytes in
                    bytes.withMemoryRebound(to: CChar.self) { chars in
                        // an empty buffer may have no address; any valid pointer does for zero bytes
                        "".withCString { empty in opsh_sqlite_bind_text_copy(statement, index, chars.baseAddress ?? empty, Int32(chars.count)) }
                    }
                }
            case .blob(let v): rc = v.withUnsafeBytes { opsh_sqlite_bind_blob_copy(statement, index, $0.baseAddress, Int32($0.count)) }
            }
            if rc != SQLITE_OK {
                finish(statement)
                throw failure(rc, sqliteText(api.pointee.sqlite3_errmsg(handle)), sql)
            }
        }
        return statement
    }

    /// One step: true when a row is ready, false when the statement is done.
    func step(_ statement: OpaquePointer, _ sql: String) throws(StoreError) -> Bool {
        let rc = api.pointee.sqlite3_step(statement)
        if rc == SQLITE_ROW { return true }
        if rc == SQLITE_DONE { return false }
        throw failure(rc, sqliteText(api.pointee.sqlite3_errmsg(handle)), sql)
    }

    func finish(_ statement: OpaquePointer) {
        _ = api.pointee.sqlite3_reset(statement)
        _ = api.pointee.sqlite3_clear_bindings(statement)
    }

    func column(_ statement: OpaquePointer, _ index: Int32) -> SQLValue {
        switch api.pointee.sqlite3_column_type(statement, index) {
        case SQLITE_INTEGER: return .integer(api.pointee.sqlite3_column_int64(statement, index))
        case SQLITE_FLOAT: return .real(api.pointee.sqlite3_column_double(statement, index))
        case SQLITE_TEXT:
            guard let text = api.pointee.sqlite3_column_text(statement, index) else { return .text("") }
            let count = Int(api.pointee.sqlite3_column_bytes(statement, index))
            return .text(String(decoding: UnsafeBufferPointer(start: text, count: count), as: UTF8.self))
        case SQLITE_BLOB:
            let count = Int(api.pointee.sqlite3_column_bytes(statement, index))
            guard count > 0, let bytes = api.pointee.sqlite3_column_blob(statement, index) else { return .blob([]) }
            return .blob(Array(UnsafeRawBufferPointer(start: bytes, count: count)))
        default: return .null
        }
    }

    func checkOpen(_ sql: String) throws(StoreError) {
        if closed { throw StoreError(kind: .closed, message: "database \(path) is closed", path: path, sql: sql) }
    }

    func failure(_ rc: Int32, _ message: String, _ sql: String) -> StoreError {
        let kind: StoreError.Kind
        switch rc & 0xff {
        case SQLITE_BUSY, SQLITE_LOCKED: kind = .busy
        case SQLITE_CONSTRAINT: kind = .constraint
        case SQLITE_NOTADB, SQLITE_CORRUPT: kind = .corrupt
        case SQLITE_READONLY, SQLITE_CANTOPEN, SQLITE_PERM, SQLITE_IOERR, SQLITE_FULL: kind = .io
        default: kind = .sql
        }
        return StoreError(kind: kind, message: "\(path): \(message)", path: path, sql: sql)
    }

    func locked<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        pthread_mutex_lock(lock)
        defer { pthread_mutex_unlock(lock) }
        return try body()
    }
}

/// A C string from SQLite as Swift text ("" for NULL, which SQLite returns only when out of memory).
func sqliteText(_ pointer: UnsafePointer<CChar>?) -> String { pointer.map { String(cString: $0) } ?? "" }
