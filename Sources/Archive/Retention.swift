import Glibc

/// Grandfather-father-son retention: keep the newest backup of each of the last `daily` days,
/// `weekly` ISO weeks and `monthly` months that have one, and always the newest complete
/// backup; every other complete backup is deleted. Incomplete backups (`.partial` leftovers)
/// are deleted too (they are never restorable). Deletion holds the root's lock, so it never
/// races a running backup.
public enum Retention {
    public struct Plan: Sendable {
        public var keep: [(BackupSet.Info, [String])] = []
        public var delete: [BackupSet.Info] = []
    }

    public static func plan(_ backups: [BackupSet.Info], daily: Int, weekly: Int, monthly: Int) -> Plan {
        let complete = backups.filter { $0.complete }.sorted { $0.created > $1.created }
        var reasons: [String: [String]] = [:]
        func bucket(_ t: Int64, _ kind: String) -> String {
            var tt = time_t(t)
            var tm = tm()
            gmtime_r(&tt, &tm)
            switch kind {
            case "daily": return "\(tm.tm_year)-\(tm.tm_yday)"
            case "monthly": return "\(tm.tm_year)-\(tm.tm_mon)"
            default:
                // ISO week: the week's Thursday decides the year
                let wday = (tm.tm_wday + 6) % 7          // Monday 0
                let thursday = t + Int64(3 - wday) * 86400
                var th = time_t(thursday)
                var tm2 = Glibc.tm()
                gmtime_r(&th, &tm2)
                return "\(tm2.tm_year)-w\(tm2.tm_yday / 7)"
            }
        }
        for (kind, n) in [("daily", daily), ("weekly", weekly), ("monthly", monthly)] where n > 0 {
            var seen = Set<String>()
            for b in complete {
                let k = bucket(b.created, kind)
                if seen.contains(k) { continue }
                if seen.count >= n { break }
                seen.insert(k)
                reasons[b.name, default: []].append(kind)
            }
        }
        if let newest = complete.first { reasons[newest.name, default: []].insert("newest", at: 0) }
        var p = Plan()
        for b in backups {
            if let r = reasons[b.name], b.complete { p.keep.append((b, r)) } else { p.delete.append(b) }
        }
        return p
    }

    /// Applies a plan (under the root's lock). Returns the names deleted.
    public static func apply(_ root: String, daily: Int, weekly: Int, monthly: Int, dryRun: Bool) throws -> (Plan, [String]) {
        var st = stat()
        if stat(root, &st) != 0 && errno == ENOENT { return (Plan(), []) }   // no backups yet
        // a dry run writes nothing, not even the lock file
        let lock = dryRun ? -1 : try BackupWriter.lock(root)
        defer { if lock >= 0 { close(lock) } }
        let p = plan(BackupSet.list(root), daily: daily, weekly: weekly, monthly: monthly)
        var deleted: [String] = []
        if !dryRun {
            for b in p.delete {
                try FileTree.remove(b.path)
                deleted.append(b.name)
            }
            FileTree.syncDirectory(root)
        }
        return (p, deleted)
    }
}
