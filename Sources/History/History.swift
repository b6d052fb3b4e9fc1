import Glibc
import Store

/// Resource samples and check results kept between runs (docs/ARCHITECTURE.md §4: what
/// system/resources writes and system/capacity reads back), in one SQLite file under opsh's
/// state directory: one row per (time, metric, value), tagged with the kind of record that
/// wrote it ("resources", "check", ...).
public final class History {
    public let database: Database

    /// The schema, by version (Database.migrate).
    static let schema = [
        """
        CREATE TABLE samples (time REAL NOT NULL, kind TEXT NOT NULL, metric TEXT NOT NULL, value REAL NOT NULL);
        CREATE INDEX samples_by_metric ON samples (metric, time);
        CREATE INDEX samples_by_time ON samples (time)
        """,
    ]

    /// Where the samples are (the file's path, also when `create` was false and it had none).
    public let path: String

    /// Opens (creating) the history file at `path`; its directory must exist. With `create`
    /// false (a dry run) a missing file is not created: an empty history in memory stands in
    /// for it, so reads find nothing and nothing is left on disk.
    public init(path: String, create: Bool = true) throws(StoreError) {
        self.path = path
        database = try Database(path: create || access(path, F_OK) == 0 ? path : ":memory:")
        try database.migrate(History.schema)
    }

    public func close() { database.close() }

    /// Stores one record: every metric with the same time, in one transaction (non-finite
    /// values are left out). Throws the StoreError of the statement that failed.
    public func record(kind: String, values: [(metric: String, value: Double)], at time: Double) throws {
        try database.transaction {
            for (metric, value) in values where value.isFinite {
                _ = try database.execute("INSERT INTO samples (time, kind, metric, value) VALUES (?, ?, ?, ?)",
                                         [.real(time), .text(kind), .text(metric), .real(value)])
            }
        }
    }

    /// The samples of `metric` from `since` to `until` (Unix times, inclusive), oldest first.
    public func samples(metric: String, since: Double = -.infinity, until: Double = .infinity) throws(StoreError) -> [(time: Double, value: Double)] {
        try database.query("SELECT time, value FROM samples WHERE metric = ? AND time >= ? AND time <= ? ORDER BY time",
                           [.text(metric), .real(since.isFinite ? since : -1e300), .real(until.isFinite ? until : 1e300)])
            .map { ($0[0].real ?? 0, $0[1].real ?? 0) }
    }

    /// The metrics stored, those starting with `prefix` (all with ""), sorted.
    public func metrics(prefix: String = "") throws(StoreError) -> [String] {
        // a range instead of LIKE: metric names hold "_" and "/", which LIKE would treat specially
        try database.query("SELECT DISTINCT metric FROM samples WHERE metric >= ? AND metric < ? ORDER BY metric",
                           [.text(prefix), .text(prefix + "\u{10FFFF}")]).compactMap { $0[0].text }
    }

    /// Deletes samples older than `time`; returns how many.
    @discardableResult
    public func prune(before time: Double) throws(StoreError) -> Int {
        try database.execute("DELETE FROM samples WHERE time < ?", [.real(time)])
    }
}
