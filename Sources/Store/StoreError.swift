import CDyn

/// Why a database call failed; `message` names the file, and `sql` the statement.
public struct StoreError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable {
        /// libsqlite3 could not be loaded.
        case unavailable
        /// The file could not be opened.
        case open
        /// Another process held the write lock longer than the busy timeout.
        case busy
        /// A UNIQUE, NOT NULL, CHECK or foreign-key constraint refused the write.
        case constraint
        /// The file is not a database, or is damaged.
        case corrupt
        /// Read-only file or directory, disk full, I/O error.
        case io
        /// The schema is newer than this opsh knows.
        case schema
        /// The database was closed.
        case closed
        /// Any other SQL error (syntax, wrong parameter count, ...).
        case sql
    }
    public let kind: Kind
    public let message: String
    public let path: String?
    public let sql: String?
    public var description: String { message }

    static func unavailable() -> StoreError {
        StoreError(kind: .unavailable, message: "libsqlite3 is not available: " + String(cString: opsh_dyn_error()), path: nil, sql: nil)
    }
}
