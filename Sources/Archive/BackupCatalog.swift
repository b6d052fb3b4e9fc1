import Glibc

/// What in a backup root is a backup. A root is shared with whatever else lives there
/// (configuration versions in ROOT/config, log archives in ROOT/logs, an operator's own files),
/// so only what opsh's backup writer made counts: a directory whose name has the backup name
/// format and whose manifest says it is that complete backup, or a `.partial` leftover of that
/// format. Everything else is listed with the reason it is not a backup, and nothing that reads
/// a catalog (retention, verify, restore, list) ever touches it.
public enum BackupCatalog {
    /// An entry of the root that is not a backup: left alone, with the reason.
    public struct Other: Sendable, Equatable {
        public var name: String
        public var reason: String
    }

    public struct Contents: Sendable {
        /// Complete backups, newest first.
        public var backups: [BackupSet.Info] = []
        /// `NAME.partial` directories of the backup name format: interrupted or failed backups,
        /// never restorable (complete = false).
        public var leftovers: [BackupSet.Info] = []
        /// Everything else, by name.
        public var others: [Other] = []
    }

    /// The parts of a backup's directory name: `20261129T053000Z-TIER`, `...-TIER-N` when two
    /// backups of a tier share a second, `.partial` while being written.
    public struct Name: Sendable, Equatable {
        public var created: Int64
        /// Everything after the timestamp: the tier, and `-N` when it was taken.
        public var rest: String
        public var partial: Bool

        public init?(_ name: String) {
            var n = name
            partial = n.hasSuffix(".partial")
            if partial { n = String(n.dropLast(8)) }
            let b = Array(n.utf8)
            guard b.count >= 18, b[16] == 0x2d, let t = Name.timestamp(b[0..<16]) else { return nil }
            let r = String(decoding: b[17...], as: UTF8.self)
            guard BackupWriter.validName(r) else { return nil }
            created = t
            rest = r
        }

        /// Whether this name belongs to a backup of `tier` (the writer's `TIER` or `TIER-N`).
        public func matches(tier: String) -> Bool {
            if rest == tier { return true }
            guard rest.hasPrefix(tier + "-") else { return false }
            let n = rest.dropFirst(tier.count + 1)
            return !n.isEmpty && n.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 }
        }

        /// The tier as far as the name tells (a `-N` suffix is taken for the writer's counter).
        var tierGuess: String {
            guard let dash = rest.lastIndex(of: "-"), rest[rest.index(after: dash)...].utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                  rest.index(after: dash) < rest.endIndex else { return rest }
            return String(rest[..<dash])
        }

        /// "20261129T053000Z" -> Unix time (UTC); nil unless every field is a valid date and time.
        static func timestamp(_ b: ArraySlice<UInt8>) -> Int64? {
            let s = Array(b)
            guard s.count == 16, s[8] == 0x54, s[15] == 0x5a else { return nil }
            func num(_ r: Range<Int>) -> Int32? {
                var v: Int32 = 0
                for c in s[r] {
                    guard c >= 0x30 && c <= 0x39 else { return nil }
                    v = v * 10 + Int32(c - 0x30)
                }
                return v
            }
            guard let y = num(0..<4), let mo = num(4..<6), let d = num(6..<8), let h = num(9..<11),
                  let mi = num(11..<13), let sec = num(13..<15),
                  (1...12).contains(mo), (1...31).contains(d), h < 24, mi < 60, sec < 61 else { return nil }
            var t = tm()
            t.tm_year = y - 1900; t.tm_mon = mo - 1; t.tm_mday = d; t.tm_hour = h; t.tm_min = mi; t.tm_sec = sec
            return Int64(timegm(&t))
        }
    }

    /// The catalog of `root`; a missing root is empty. The root's lock file is not listed.
    public static func read(_ root: String) -> Contents {
        var c = Contents()
        for n in (try? FileTree.names(in: root)) ?? [] where n != BackupWriter.lockName {
            let path = "\(root)/\(n)"
            var st = stat()
            guard lstat(path, &st) == 0 else { continue }   // vanished
            switch st.st_mode & S_IFMT {
            case S_IFDIR: break
            case S_IFLNK: c.others.append(Other(name: n, reason: "a symbolic link, not a backup")); continue
            default: c.others.append(Other(name: n, reason: "a file, not a backup")); continue
            }
            guard let name = Name(n) else {
                c.others.append(Other(name: n, reason: "not a backup's name (TIMESTAMP-TIER, as 20261129T020000Z-daily)"))
                continue
            }
            if name.partial {
                c.leftovers.append(BackupSet.Info(name: n, path: path, tier: name.tierGuess, created: name.created, complete: false, bytes: 0))
                continue
            }
            switch classify(BackupSet.readManifest(path), dirName: n, name: name) {
            case .backup(let info): c.backups.append(BackupSet.Info(name: n, path: path, tier: info.tier, created: info.created, complete: true, bytes: info.bytes))
            case .notABackup(let why): c.others.append(Other(name: n, reason: why))
            }
        }
        c.backups.sort { $0.created != $1.created ? $0.created > $1.created : $0.name > $1.name }
        c.leftovers.sort { $0.name > $1.name }
        return c
    }

    enum Verdict {
        case backup((tier: String, created: Int64, bytes: Int64))
        case notABackup(String)
    }

    /// Whether a directory's manifest says it is the complete backup its name says.
    static func classify(_ m: MValue?, dirName: String, name: Name) -> Verdict {
        guard let m else { return .notABackup("named like a backup but has no readable manifest.json: not opsh's, or damaged (backup/verify says which)") }
        guard m["format"]?.string == "opsh.backup/1" else {
            return .notABackup("its manifest.json is not an opsh backup's (format \(m["format"]?.string ?? "missing"))")
        }
        guard let own = m["name"]?.string, own == dirName else {
            return .notABackup("its manifest.json names another backup (\(m["name"]?.string ?? "none")): a copy or a renamed directory")
        }
        guard m["complete"]?.bool == true else { return .notABackup("its manifest.json is not marked complete") }
        guard let tier = m["tier"]?.string, name.matches(tier: tier) else {
            return .notABackup("its manifest.json's tier (\(m["tier"]?.string ?? "none")) does not match its name")
        }
        return .backup((tier, m["created_unix"]?.int ?? name.created, m["total_bytes"]?.int ?? 0))
    }

    /// The newest complete backup created at or before `time`, of one of `tiers` (any tier when nil).
    public static func newest(_ root: String, atOrBefore time: Int64? = nil, tiers: Set<String>? = nil) -> BackupSet.Info? {
        read(root).backups.first { b in
            (time.map { b.created <= $0 } ?? true) && (tiers.map { $0.contains(b.tier) } ?? true)
        }
    }
}
