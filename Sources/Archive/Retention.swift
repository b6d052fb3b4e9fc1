import Glibc

/// Retention, tier by tier. Each tier that has a policy keeps what its policy names (the newest
/// N, grandfather-father-son buckets, everything younger than N days) and always its newest
/// complete backup; its other complete backups are deleted. A tier without a policy is never
/// touched, so a daily run cannot delete a weekly full backup or an emergency backup. Leftovers
/// of interrupted backups are deleted (never restorable); whatever is not a backup is left alone
/// (BackupCatalog). Deletion holds the root's lock, so it never races a running backup.
public enum Retention {
    /// What one tier keeps. A backup is kept when any rule keeps it.
    public struct Policy: Sendable, Equatable {
        /// The newest N backups.
        public var last = 0
        /// The newest backup of each of the last N days, ISO weeks and months that have one (UTC).
        public var daily = 0
        public var weekly = 0
        public var monthly = 0
        /// Every backup younger than N days.
        public var days = 0

        public init(last: Int = 0, daily: Int = 0, weekly: Int = 0, monthly: Int = 0, days: Int = 0) {
            self.last = last; self.daily = daily; self.weekly = weekly; self.monthly = monthly; self.days = days
        }

        public var summary: String {
            let parts = [("last", last), ("daily", daily), ("weekly", weekly), ("monthly", monthly), ("days", days)]
                .filter { $0.1 > 0 }.map { "\($0.0) \($0.1)" }
            return parts.isEmpty ? "only the newest" : parts.joined(separator: ", ")
        }
    }

    public struct Plan: Sendable {
        /// Complete backups of tiers with a policy that the policy keeps, with the rules that keep them.
        public var keep: [(BackupSet.Info, [String])] = []
        /// Complete backups of tiers with a policy that no rule keeps, and leftovers of interrupted runs.
        public var delete: [(BackupSet.Info, String)] = []
        /// Complete backups of tiers without a policy: never touched.
        public var untouched: [BackupSet.Info] = []
        /// Entries of the root that are not backups: never touched.
        public var others: [BackupCatalog.Other] = []
    }

    public static func plan(_ contents: BackupCatalog.Contents, policies: [String: Policy], now: Int64) -> Plan {
        var p = Plan()
        p.others = contents.others
        var byTier: [String: [BackupSet.Info]] = [:]
        for b in contents.backups { byTier[b.tier, default: []].append(b) }   // newest first, as listed
        for tier in byTier.keys.sorted() {
            let backups = byTier[tier]!
            guard let policy = policies[tier] else { p.untouched += backups; continue }
            let reasons = keepReasons(backups, policy, now: now)
            for b in backups {
                if let r = reasons[b.name] { p.keep.append((b, r)) }
                else { p.delete.append((b, "\(tier) backup beyond its retention (\(policy.summary))")) }
            }
        }
        for b in contents.leftovers { p.delete.append((b, "interrupted backup (.partial), never restorable")) }
        return p
    }

    /// The rules that keep each backup of one tier (`backups` newest first).
    static func keepReasons(_ backups: [BackupSet.Info], _ policy: Policy, now: Int64) -> [String: [String]] {
        var reasons: [String: [String]] = [:]
        if let newest = backups.first { reasons[newest.name] = ["newest"] }
        for b in backups.prefix(policy.last) { reasons[b.name, default: []].append("last \(policy.last)") }
        for (kind, n) in [("daily", policy.daily), ("weekly", policy.weekly), ("monthly", policy.monthly)] where n > 0 {
            var seen = Set<String>()
            for b in backups {
                let k = bucket(b.created, kind)
                if seen.contains(k) { continue }
                if seen.count >= n { break }
                seen.insert(k)
                reasons[b.name, default: []].append(kind)
            }
        }
        if policy.days > 0 {
            let cutoff = now - Int64(policy.days) * 86400
            for b in backups where b.created >= cutoff { reasons[b.name, default: []].append("within \(policy.days) days") }
        }
        return reasons
    }

    /// The calendar bucket of a time: its UTC day, ISO week or month.
    static func bucket(_ t: Int64, _ kind: String) -> String {
        var tt = time_t(t)
        var tm = tm()
        gmtime_r(&tt, &tm)
        switch kind {
        case "daily": return "\(tm.tm_year)-\(tm.tm_yday)"
        case "monthly": return "\(tm.tm_year)-\(tm.tm_mon)"
        default:
            // ISO week: the week's Thursday decides the year
            let wday = (tm.tm_wday + 6) % 7          // Monday 0
            var thursday = time_t(t + Int64(3 - wday) * 86400)
            var th = Glibc.tm()
            gmtime_r(&thursday, &th)
            return "\(th.tm_year)-w\(th.tm_yday / 7)"
        }
    }

    /// Plans and applies retention to `root` under its lock. Returns the plan and the names deleted
    /// (none on a dry run, which writes nothing, not even the lock file).
    public static func apply(_ root: String, policies: [String: Policy], now: Int64, dryRun: Bool) throws -> (Plan, [String]) {
        var st = stat()
        if stat(root, &st) != 0 && errno == ENOENT { return (Plan(), []) }   // no backups yet
        let lock = dryRun ? -1 : try BackupWriter.lock(root)
        defer { if lock >= 0 { close(lock) } }
        let p = plan(BackupCatalog.read(root), policies: policies, now: now)
        var deleted: [String] = []
        if !dryRun {
            for (b, _) in p.delete {
                try FileTree.remove(b.path)
                deleted.append(b.name)
            }
            if !deleted.isEmpty { FileTree.syncDirectory(root) }
        }
        return (p, deleted)
    }
}
