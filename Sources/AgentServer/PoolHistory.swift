import FileSystem
import Glibc
import Pool
import Store

/// A snapshot of each pool a minute, in the history database, for the weekly affinity report:
/// what the pools did over days, which one process's counters alone cannot say after a restart.
public final class PoolHistory: @unchecked Sendable {
    let db: Database
    public static let keepDays = 8.0

    public init(path: String) throws {
        db = try historyDatabase(path)
        // its own table, created if missing: the runs' schema versions (user_version) stay theirs
        try db.executeScript("""
            CREATE TABLE IF NOT EXISTS agent_pool_snapshots (
                at REAL NOT NULL, target TEXT NOT NULL, calls INTEGER NOT NULL, failed INTEGER NOT NULL,
                p95_ms REAL NOT NULL, affinity REAL NOT NULL, hits INTEGER NOT NULL, misses INTEGER NOT NULL,
                patterns INTEGER NOT NULL, breaker TEXT NOT NULL, opens INTEGER NOT NULL, mase REAL);
            CREATE INDEX IF NOT EXISTS agent_pool_snapshots_at ON agent_pool_snapshots(target, at);
            """)
    }

    public func record(_ views: [PoolView], at t: Double) throws {
        for v in views {
            let q = v.queries()
            let hm = v.affinity.hitsAndMisses
            let mase = v.forecaster.flatMap { PoolAdmin.accuracy($0.snapshot)?.mase }
            _ = try db.execute("INSERT INTO agent_pool_snapshots VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", [
                .real(t), .text(v.target), .integer(Int64(q.calls)), .integer(Int64(q.failed)),
                .real(Double(q.durations.quantile(0.95)) / 1e6), .real(v.affinity.performanceScore),
                .integer(Int64(hm.hits)), .integer(Int64(hm.misses)), .integer(Int64(v.affinity.patterns.count)),
                .text(v.breaker.state.description), .integer(Int64(v.breaker.status.opensTotal)), mase.map { .real($0) } ?? .null,
            ])
        }
        _ = try db.execute("DELETE FROM agent_pool_snapshots WHERE at < ?", [.real(t - Self.keepDays * 86400)])
    }

    /// GET connection-affinity-weekly-report: per pool over `days`, the affinity score (mean and
    /// latest), hit rate, patterns, calls and throughput, mean p95, breaker openings, and the
    /// load model's MASE trend. Counters restart with the agent: differences are summed only
    /// between snapshots of one life (a counter that went down started again).
    public func weeklyReport(days: Double, now: Double) throws -> JSONValue {
        var pools: [(String, JSONValue)] = []
        for target in ["redis", "qdrant"] {
            let rows = try db.query("SELECT at, calls, failed, p95_ms, affinity, hits, misses, patterns, breaker, opens, mase FROM agent_pool_snapshots WHERE target = ? AND at >= ? ORDER BY at",
                                    [.text(target), .real(now - days * 86400)])
            func d(_ r: Row, _ i: Int) -> Double { r[i].real ?? r[i].integer.map(Double.init) ?? 0 }
            var calls = 0.0, failed = 0.0, hits = 0.0, misses = 0.0, opens = 0.0, seconds = 0.0
            var affinity: [Double] = [], p95: [Double] = [], trend: [JSONValue] = []
            for (i, r) in rows.enumerated() {
                affinity.append(d(r, 4))
                p95.append(d(r, 3))
                if let m = r[10].real { trend.append(.object([("at", .double(d(r, 0))), ("mase", .double(m))])) }
                guard i > 0 else { continue }
                let p = rows[i - 1]
                if d(r, 1) >= d(p, 1) {
                    calls += d(r, 1) - d(p, 1); failed += d(r, 2) - d(p, 2)
                    hits += d(r, 5) - d(p, 5); misses += d(r, 6) - d(p, 6)
                    opens += max(0, d(r, 9) - d(p, 9))
                    seconds += d(r, 0) - d(p, 0)
                }
            }
            let last = rows.last
            let mean: JSONValue = affinity.isEmpty ? .null : .double(affinity.reduce(0, +) / Double(affinity.count))
            let latest: JSONValue = last.map { .double(d($0, 4)) } ?? .null
            let hitRate: JSONValue = hits + misses > 0 ? .double(hits / (hits + misses)) : .null
            let patterns: JSONValue = last.map { .integer(Int(d($0, 7))) } ?? .null
            let throughput: JSONValue = seconds > 0 ? .double(calls / seconds) : .null
            let p95mean: JSONValue = p95.isEmpty ? .null : .double(p95.reduce(0, +) / Double(p95.count) / 1000)
            let breaker: JSONValue = last?[8].text.map { .string($0) } ?? .null
            var fields: [(String, JSONValue)] = [("snapshots", .integer(rows.count))]
            fields.append(("affinity_score_mean", mean))
            fields.append(("affinity_score_latest", latest))
            fields.append(("affinity_hit_rate", hitRate))
            fields.append(("patterns_latest", patterns))
            fields.append(("calls", .double(calls)))
            fields.append(("failed", .double(failed)))
            fields.append(("throughput", throughput))
            fields.append(("p95_latency_seconds", p95mean))
            fields.append(("breaker_opens", .double(opens)))
            fields.append(("breaker_latest", breaker))
            fields.append(("accuracy_trend", .array(Array(trend.suffix(10)))))
            pools.append((target, .object(fields)))
        }
        return .object([("week_ending", .string(PoolHistory.isoDate(now))), ("days", .double(days)), ("pools", .object(pools))])
    }

    static func isoDate(_ t: Double) -> String {
        var time = time_t(t)
        var parts = tm()
        gmtime_r(&time, &parts)
        func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))"
    }
}

/// The history database at `path`, its directory made (0700) when missing.
func historyDatabase(_ path: String) throws -> Database {
    let dir = FileSystem.directory(of: path)
    if !dir.isEmpty && dir != "." { try FileSystem.makeDirectories(dir, mode: 0o700) }
    return try Database(path: path)
}
