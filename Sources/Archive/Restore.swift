import CDyn
import Glibc

/// Restore of one item of a backup onto a target path. Only from a backup that verifies; a
/// tree is extracted into a staging directory next to the target (same filesystem), synced,
/// and swapped in with one atomic rename exchange, so the target is always the old tree or the
/// new one, never a mix; the old tree is deleted only after the new one is in place (or kept
/// with keepOld). A single-file item is copied next to the target, checked, synced and renamed
/// over it. Leftover staging directories of a killed restore are removed by the next one.
public enum Restore {
    public struct Options {
        public var dryRun = false
        public var keepOld = false
        /// Running totals while a tree is extracted (files, bytes): progress on a terminal.
        public var progress: ((Int, Int64) -> Void)?
        public init() {}
    }

    public struct Result: Sendable {
        public var target: String
        public var item: String
        public var files = 0, directories = 0, symlinks = 0, hardlinks = 0
        public var bytes: Int64 = 0
        public var keptOld: String?
        public var dryRun = false
        public var added: [String] = [], changed: [String] = [], removed: [String] = []
        public var addedCount = 0, changedCount = 0, removedCount = 0
    }

    static func names(_ target: String) -> (parent: String, base: String) {
        var t = target
        while t.count > 1 && t.hasSuffix("/") { t.removeLast() }
        guard let slash = t.lastIndex(of: "/") else { return (".", t) }
        let parent = String(t[..<slash])
        return (parent.isEmpty ? "/" : parent, String(t[t.index(after: slash)...]))
    }

    /// Removes `.BASE.opsh-staging-*` / `.BASE.opsh-old-*` left by an interrupted restore.
    static func removeLeftovers(parent: String, base: String) throws {
        guard let d = opendir(parent) else { return }
        var found: [String] = []
        while let e = readdir(d) {
            let n = withUnsafeBytes(of: e.pointee.d_name) { String(cString: $0.baseAddress!.assumingMemoryBound(to: CChar.self)) }
            if n.hasPrefix(".\(base).opsh-staging-") { found.append(n) }
        }
        closedir(d)
        for n in found { try FileTree.remove("\(parent)/\(n)") }
    }

    public static func restore(backup: String, item: String, target: String, options: Options = Options()) throws -> Result {
        let v = BackupSet.verify(backup, depth: .files)
        guard v.ok else {
            throw ArchiveError(.checksum, "refusing to restore from a backup that does not verify: \(v.problems.first ?? "")", path: v.firstBad)
        }
        let m = BackupSet.readManifest(backup)!
        guard let it = m["items"]?.array.first(where: { $0["name"]?.string == item }) else {
            let have = (m["items"]?.array ?? []).compactMap { $0["name"]?.string }.joined(separator: ", ")
            throw ArchiveError(.io, "backup has no item '\(item)' (it has: \(have))")
        }
        let file = "\(backup)/\(it["file"]!.string!)"
        var result = Result(target: target, item: item)
        let (parent, base) = names(target)
        guard base != "" && base != "." && base != ".." && target != "/" else { throw ArchiveError(.io, "refusing to restore onto \(target)") }
        if it["type"]?.string == "file" {
            return try restoreFile(file, sha: it["sha256"]!.string!, target: target, parent: parent, base: base, options: options, result: result)
        }
        if options.dryRun {
            try diff(file, target: target, into: &result)
            result.dryRun = true
            return result
        }
        var pst = stat(), tst = stat()
        guard stat(parent, &pst) == 0 else { throw ArchiveError.errno("cannot stat", parent, errno) }
        let exists = lstat(target, &tst) == 0
        if exists {
            guard (tst.st_mode & S_IFMT) == S_IFDIR else { throw ArchiveError(.io, "\(target) exists and is not a directory", path: target) }
            if tst.st_dev != pst.st_dev {
                throw ArchiveError(.unsupported, "\(target) is a mount point (a Docker volume's root?): it cannot be swapped by rename; restore into a new volume or a directory inside it", path: target)
            }
        }
        let lockPath = "\(parent)/.\(base).opsh-restore.lock"
        let lockFD = open(lockPath, O_CREAT | O_RDWR | O_CLOEXEC, 0o600)
        guard lockFD >= 0 else { throw ArchiveError.errno("cannot open", lockPath, errno) }
        guard flock(lockFD, LOCK_EX | LOCK_NB) == 0 else { close(lockFD); throw ArchiveError(.io, "another restore onto \(target) is running") }
        // removed while still held: a restore starting now gets a fresh lock file, and nothing
        // is left beside the target
        defer { unlink(lockPath); close(lockFD) }
        try removeLeftovers(parent: parent, base: base)
        let staging = "\(parent)/.\(base).opsh-staging-\(getpid())"
        guard mkdir(staging, 0o700) == 0 else { throw ArchiveError.errno("cannot create", staging, errno) }
        var swapped = false
        defer { if !swapped { try? FileTree.remove(staging) } }
        // every member is compared with the listing as verify compares it: what the archive
        // holds is restored only if it is what the backup listed
        var listing = try ListingCheck(backup: backup, item: it)
        var opts = Extractor.Options()
        opts.hashFiles = true
        let x = try Extractor(root: staging, options: opts)
        var written: String? = nil
        x.onFile = { _, h, _ in written = h }
        var mismatch: (String, String)? = nil
        let fd = open(file, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ArchiveError.errno("cannot open", file, errno) }
        defer { close(fd) }
        let reader = TarReader(source: try BackupSet.source(fd: fd, path: file), name: file.split(separator: "/").last.map(String.init) ?? file)
        ArchiveFaults.point("restore.before-extract")
        var count = 0
        while let e = try reader.next() {
            written = nil
            try x.extract(e, reader)
            if mismatch == nil, let why = listing.check(e, hash: written) { mismatch = (ListingCheck.name(e.path) ?? e.pathString, why) }
            if e.kind == .file { options.progress?(x.stats.files, x.stats.bytes) }
            count += 1
            if count == 50 { ArchiveFaults.point("restore.extracting") }
        }
        try x.finish()
        if mismatch == nil, let first = listing.missing().first { mismatch = (first, "listed, but not in the archive") }
        if let (path, why) = mismatch {
            throw ArchiveError(.checksum, "\(path): \(why): the archive is not what the backup listed, nothing restored", path: path)
        }
        ArchiveFaults.point("restore.before-sync")
        try FileTree.syncFilesystem(staging)
        ArchiveFaults.point("restore.before-swap")
        if exists {
            guard opsh_rename_exchange(staging, target) == 0 else { throw ArchiveError.errno("cannot swap \(staging) with", target, errno) }
        } else {
            try FileTree.rename(staging, target)
        }
        swapped = true
        FileTree.syncDirectory(parent)
        ArchiveFaults.point("restore.after-swap")
        if exists {
            // the old tree is now at the staging path
            if options.keepOld {
                var t = timespec()
                clock_gettime(CLOCK_REALTIME, &t)
                let kept = "\(parent)/\(base).before-restore-\(FileTree.isoTime(Int64(t.tv_sec), compact: true))"
                try FileTree.rename(staging, kept)
                result.keptOld = kept
            } else {
                try FileTree.remove(staging)
            }
        }
        let s = x.stats
        result.files = s.files; result.directories = s.directories; result.symlinks = s.symlinks
        result.hardlinks = s.hardlinks; result.bytes = s.bytes
        return result
    }

    static func restoreFile(_ file: String, sha: String, target: String, parent: String, base: String, options: Options, result: Result) throws -> Result {
        var r = result
        if options.dryRun {
            r.dryRun = true
            var st = stat()
            if lstat(target, &st) != 0 { r.added = [target]; r.addedCount = 1 }
            else if (try? FileTree.sha256(target))?.sha256 != sha { r.changed = [target]; r.changedCount = 1 }
            return r
        }
        let tmp = "\(parent)/.\(base).opsh-staging-\(getpid())"
        unlink(tmp)
        let mode: mode_t? = {
            var st = stat()
            return stat(target, &st) == 0 ? mode_t(st.st_mode & 0o7777) : nil
        }()
        let (got, bytes) = try FileTree.copyFile(file, to: tmp, mode: mode, sync: true)
        guard got == sha else { unlink(tmp); throw ArchiveError(.checksum, "\(file): copy does not match its SHA-256", path: file) }
        ArchiveFaults.point("restore.before-swap")
        do { try FileTree.rename(tmp, target) } catch { unlink(tmp); throw error }
        FileTree.syncDirectory(parent)
        r.files = 1
        r.bytes = bytes
        return r
    }

    /// What a restore would change: members not in the target (added), differing in kind,
    /// size or mtime (changed), and paths of the target not in the archive (removed).
    static func diff(_ file: String, target: String, into r: inout Result) throws {
        var inArchive = Set<String>()
        try BackupSet.readArchive(file) { e, _ in
            let comps = Extractor.components(e.path) ?? []
            let rel = comps.map { String(decoding: $0, as: UTF8.self) }.joined(separator: "/")
            if rel.isEmpty { return }
            inArchive.insert(rel)
            var st = stat()
            if lstat("\(target)/\(rel)", &st) != 0 {
                r.addedCount += 1
                if r.added.count < 1000 { r.added.append(rel) }
                return
            }
            let type = st.st_mode & S_IFMT
            var same: Bool
            switch e.kind {
            case .file: same = type == S_IFREG && Int64(st.st_size) == e.size && Int64(st.st_mtim.tv_sec) == e.mtime
            case .directory: same = type == S_IFDIR
            case .symlink: same = type == S_IFLNK
            default: same = true
            }
            if !same {
                r.changedCount += 1
                if r.changed.count < 1000 { r.changed.append(rel) }
            }
        }
        var st = stat()
        if lstat(target, &st) == 0 {
            try FileTree.walk(target) { rel, _ in
                if rel.isEmpty { return true }
                if !inArchive.contains(rel) {
                    r.removedCount += 1
                    if r.removed.count < 1000 { r.removed.append(rel) }
                    return false
                }
                return true
            }
        }
    }
}

extension Restore {
    /// Writes one tree item of a verified backup as a plain tar at `out` (for consumers that
    /// take a tar, such as the Docker archive API, which cannot read zstd), every member checked
    /// as a restore would check it (nothing escaping, no devices, all as listed) and renamed
    /// under `prefix`.
    public static func export(backup: String, item: String, to out: String, prefix: String = "") throws -> Int64 {
        let v = BackupSet.verify(backup, depth: .files)
        guard v.ok else { throw ArchiveError(.checksum, "refusing to export from a backup that does not verify: \(v.problems.first ?? "")", path: v.firstBad) }
        let m = BackupSet.readManifest(backup)!
        guard let it = m["items"]?.array.first(where: { $0["name"]?.string == item }), it["type"]?.string == "tree",
              let file = it["file"]?.string else { throw ArchiveError(.io, "backup has no tree item '\(item)'") }
        var listing = try ListingCheck(backup: backup, item: it)
        let fd = open(out, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw ArchiveError.errno("cannot create", out, errno) }
        defer { close(fd) }
        // a refused or failed export leaves no tar behind to be used by mistake
        var done = false
        defer { if !done { unlink(out) } }
        let sink = try FileSink(fd: fd, path: out, hashing: false)
        let writer = TarWriter(sink: sink)
        let checker = try Extractor(root: "/", options: Extractor.Options())
        let pre = prefix.isEmpty ? [] : Array(prefix.utf8) + [0x2f]
        try BackupSet.readArchive("\(backup)/\(file)") { e0, reader in
            try checker.check(e0)
            var e = e0
            let comps = Extractor.components(e.path) ?? []
            e.path = comps.isEmpty ? (prefix.isEmpty ? [0x2e] : Array(prefix.utf8)) : pre + Array(comps.joined(separator: [0x2f]))
            if e.kind == .hardlink { e.linkTarget = pre + Array((Extractor.components(e.linkTarget) ?? []).joined(separator: [0x2f])) }
            try writer.beginMember(e)
            let hash = e.kind == .file ? try reader.readDataHashed { _, chunk in try writer.appendData(chunk) } : nil
            try writer.endMember(e)
            if let why = listing.check(e0, hash: hash) {
                let name = ListingCheck.name(e0.path) ?? e0.pathString
                throw ArchiveError(.checksum, "\(name): \(why): the archive is not what the backup listed", path: name)
            }
        }
        try checker.checkLinks()
        if let first = listing.missing().first {
            throw ArchiveError(.checksum, "\(first): listed, but not in the archive", path: first)
        }
        try writer.finish()
        guard fsync(fd) == 0 else { throw ArchiveError.errno("cannot fsync", out, errno) }
        done = true
        return sink.count
    }
}
