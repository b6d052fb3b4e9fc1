import FileSystem
import Glibc

public enum Compression: String, Sendable {
    case gzip, zstd, none
    public var suffix: String {
        switch self { case .gzip: return ".tar.gz"; case .zstd: return ".tar.zst"; case .none: return ".tar" }
    }
    public static func of(file: String) -> Compression {
        if file.hasSuffix(".gz") || file.hasSuffix(".tgz") { return .gzip }
        if file.hasSuffix(".zst") { return .zstd }
        return .none
    }
}

/// One backup being written: a directory `ROOT/NAME.partial` that becomes `ROOT/NAME` only
/// when every item is in it. Items are written as `FILE.partial`; `commit` makes one syncfs
/// pass, renames the items, writes SHA256SUMS, writes manifest.json last, and renames the
/// directory. A process killed at any point leaves a `.partial` directory (never a complete-
/// looking backup); the next backup in the same root removes such leftovers under the root's
/// lock. A failed item (disk full, unreadable source) aborts and removes the whole backup.
///
/// Layout of a complete backup:
///   NAME/manifest.json          what, when, from where, sizes, SHA-256 of every file
///   NAME/SHA256SUMS             `sha256sum -c SHA256SUMS` checks every file but the manifest
///   NAME/ITEM.tar.gz|.tar.zst|.tar   one archive per tree source
///   NAME/ITEM.files.sha256      the SHA-256 of every regular file in that archive
///   NAME/ITEM                   a single file source (an RDB, a .env copy), as is
public final class BackupWriter {
    public let root: String
    public let name: String
    public let tier: String
    public var partialPath: String { "\(root)/\(name).partial" }
    public var finalPath: String { "\(root)/\(name)" }
    public let created: Int64
    public private(set) var leftoversRemoved: [String] = []
    var items: [MValue] = []
    var files: [(name: String, sha: String, bytes: Int64)] = []
    var lockFD: Int32 = -1
    var state = 0   // 0 open, 1 committed, 2 aborted
    public var compression: Compression
    public var level: Int?
    public var threads = availableCores()
    /// Running totals while a tree is archived (item, files, bytes): progress on a terminal.
    public var progress: ((String, Int, Int64) -> Void)?
    /// Extra manifest fields (label, host, description...).
    public var metadata: [(String, MValue)] = []

    public init(root: String, tier: String, compression: Compression = .gzip, now: Int64? = nil) throws {
        guard BackupWriter.validName(tier) else { throw ArchiveError(.io, "bad tier name '\(tier)' (letters, digits, - and _)") }
        self.root = root
        self.tier = tier
        self.compression = compression
        var t = timespec()
        clock_gettime(CLOCK_REALTIME, &t)
        created = now ?? Int64(t.tv_sec)
        try FileTree.makeDirectories(root, mode: 0o700)
        lockFD = try BackupWriter.lock(root)
        var n = "\(FileTree.isoTime(created, compact: true))-\(tier)"
        var i = 2
        while access("\(root)/\(n)", F_OK) == 0 || access("\(root)/\(n).partial", F_OK) == 0 {
            n = "\(FileTree.isoTime(created, compact: true))-\(tier)-\(i)"
            i += 1
        }
        name = n
        do {
            leftoversRemoved = try BackupWriter.removeLeftovers(root)
            guard mkdir(partialPath, 0o700) == 0 else { throw ArchiveError.errno("cannot create", partialPath, errno) }
        } catch {
            // deinit runs when a fully initialised object throws: it must not close it again
            // (by then the number may be another thread's descriptor)
            close(lockFD)
            lockFD = -1
            throw error
        }
    }

    deinit {
        if state == 0 { abort() }
        if lockFD >= 0 { close(lockFD) }
    }

    static func validName(_ s: String) -> Bool {
        !s.isEmpty && s.count <= 100 && s.first != "." && s.utf8.allSatisfy { c in
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c == 0x2d || c == 0x5f || c == 0x2e
        }
    }

    /// The root's lock file, beside the backups.
    static let lockName = ".opsh-backup.lock"

    /// The root's lock: one backup or retention run at a time per root.
    static func lock(_ root: String) throws -> Int32 {
        let fd = open("\(root)/\(lockName)", O_CREAT | O_RDWR | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw ArchiveError.errno("cannot open", "\(root)/\(lockName)", errno) }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            close(fd)
            throw ArchiveError(.io, "another opsh backup or retention run holds \(root)/\(lockName)", path: root)
        }
        return fd
    }

    /// Backups left `.partial` by a killed or failed run (safe: we hold the lock). Only
    /// directories of the backup name format: another program's `x.partial` is not ours.
    static func removeLeftovers(_ root: String) throws -> [String] {
        var removed: [String] = []
        for b in BackupCatalog.read(root).leftovers {
            try FileTree.remove(b.path)
            removed.append(b.name)
        }
        return removed.sorted()
    }

    func checkItemName(_ item: String) throws {
        guard BackupWriter.validName(item), item != "manifest.json", item != "SHA256SUMS" else {
            throw ArchiveError(.io, "bad item name '\(item)' (letters, digits, '.', '-' and '_', not starting with '.')")
        }
        guard !items.contains(where: { $0["name"]?.string == item }) else { throw ArchiveError(.io, "item '\(item)' is already in this backup") }
        guard state == 0 else { throw ArchiveError(.io, "the backup is already \(state == 1 ? "committed" : "aborted")") }
    }

    func fail<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch {
            abort()
            throw error
        }
    }

    /// Where an item came from, as the manifest records it: absolute, so that a restore puts it
    /// back there whatever the current directory of the restore is.
    static func absolute(_ path: String) -> String {
        (try? FileSystem.resolve(path)) ?? path
    }

    /// Archives a directory tree (or a single file) as ITEM.tar.gz (.tar.zst, .tar), its
    /// members relative to `path`, with a per-file SHA-256 listing.
    @discardableResult
    public func addTree(_ item: String, path: String, exclude: [String] = [], extra: [(String, MValue)] = []) throws -> MValue {
        try archiveItem(item, origin: Self.absolute(path), extra: extra) { writer, listing, sparse in
            let tree = TreeArchiver(writer: writer, listing: listing)
            tree.sparseListing = sparse
            if let p = self.progress { tree.progress = { p(item, $0, $1) } }
            tree.exclude = exclude
            var st = stat()
            guard lstat(path, &st) == 0 else { throw ArchiveError.errno("cannot stat", path, errno) }
            if (st.st_mode & S_IFMT) == S_IFDIR {
                try tree.add(path: path, as: ".")
            } else {
                try tree.add(path: path, as: path.split(separator: "/").last.map(String.init) ?? path)
            }
            let s = tree.stats
            return ([("files", .int(Int64(s.files))), ("directories", .int(Int64(s.directories))),
                     ("symlinks", .int(Int64(s.symlinks))), ("hardlinks", .int(Int64(s.hardlinks))),
                     ("sparse", .int(Int64(s.sparse))), ("data_bytes", .int(s.bytes))], tree.warnings)
        }
    }

    /// Re-archives a tar stream made elsewhere (a Docker volume or container path from the
    /// Docker archive API; gzip/zstd by the file's name) as ITEM.tar.*, its members hashed into
    /// the listing like a tree's; `stripComponents` drops leading path components (Docker puts
    /// the archived directory's own name first).
    @discardableResult
    public func addTar(_ item: String, from path: String, stripComponents: Int = 0, origin: String? = nil,
                       extra: [(String, MValue)] = []) throws -> MValue {
        try archiveItem(item, origin: origin ?? path, extra: extra) { writer, listing, sparseListing in
            var files = 0, dirs = 0, other = 0
            var bytes: Int64 = 0
            try BackupSet.readArchive(path) { e0, reader in
                var e = e0
                var comps = e.path.split(separator: 0x2f, omittingEmptySubsequences: true).filter { !$0.elementsEqual([0x2e]) }
                if comps.count <= stripComponents {
                    guard e.kind == .directory else { return }
                    comps = []
                } else {
                    comps.removeFirst(stripComponents)
                }
                e.path = comps.isEmpty ? [0x2e] : Array(comps.joined(separator: [0x2f]))
                if e.kind == .hardlink {
                    var t = e.linkTarget.split(separator: 0x2f, omittingEmptySubsequences: true).filter { !$0.elementsEqual([0x2e]) }
                    if t.count > stripComponents { t.removeFirst(stripComponents) }
                    e.linkTarget = Array(t.joined(separator: [0x2f]))
                }
                try writer.beginMember(e)
                if e.kind == .file {
                    let d = try Digest()
                    if let map = e.sparseMap { d.update(SparseRegion.digestPrefix(map)) }
                    var logical: Int64 = 0
                    try reader.readData { off, chunk in
                        if e.sparseMap == nil && off > logical { TarWriter.hashZerosStatic(off - logical, d) }
                        d.update(chunk)
                        try writer.appendData(chunk)
                        logical = off + Int64(chunk.count)
                    }
                    if e.sparseMap != nil { sparseListing(d.hex(), e.pathString, e.size) } else { listing(d.hex(), e.pathString) }
                    files += 1
                    bytes += e.size
                }
                try writer.endMember(e)
                if e.kind == .directory { dirs += 1 } else if e.kind != .file { other += 1 }
            }
            try writer.finish()
            return ([("files", .int(Int64(files))), ("directories", .int(Int64(dirs))), ("other", .int(Int64(other))),
                     ("data_bytes", .int(bytes))], [])
        }
    }

    /// Writes ITEM's archive and listing; `fill` adds the members and returns the item's counts.
    func archiveItem(_ item: String, origin: String, extra: [(String, MValue)],
                     _ fill: (TarWriter, @escaping (String, String) -> Void, @escaping (String, String, Int64) -> Void) throws -> ([(String, MValue)], [String])) throws -> MValue {
        try checkItemName(item)
        return try fail {
            let file = item + compression.suffix
            let listName = item + ".files.sha256"
            let fd = open("\(partialPath)/\(file).partial", O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw ArchiveError.errno("cannot create", "\(partialPath)/\(file).partial", errno) }
            defer { close(fd) }
            let lfd = open("\(partialPath)/\(listName).partial", O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0o600)
            guard lfd >= 0 else { throw ArchiveError.errno("cannot create", "\(partialPath)/\(listName).partial", errno) }
            defer { close(lfd) }
            let out = try FileSink(fd: fd, path: "\(partialPath)/\(file)")
            let sink: ByteSink
            switch compression {
            case .gzip: sink = try GzipSink(downstream: out, level: level ?? 6, threads: threads)
            case .zstd: sink = try ZstdSink(downstream: out, level: level ?? 3, threads: threads)
            case .none: sink = out
            }
            let listOut = try FileSink(fd: lfd, path: "\(partialPath)/\(listName)")
            let listWriter = TarWriter(sink: listOut, bufferSize: 64 << 10)
            final class Collected { var error: Error?; var sparse: [MValue] = [] }
            let collected = Collected()
            let listError = collected
            let writer = TarWriter(sink: sink)
            let (counts, warnings) = try fill(writer, { hash, member in
                let line = BackupWriter.sumsLine(hash: hash, member: member)
                do { try line.withUnsafeBytes { try listWriter.append($0) } } catch { listError.error = error }
            }, { hash, member, size in
                collected.sparse.append(.object([("path", .string(member)), ("size", .int(size)), ("regions_sha256", .string(hash))]))
            })
            try writer.finish()
            if let e = listError.error { throw e }
            try listWriter.flush()
            let listSha = listOut.digest!.hex()
            files.append((file, out.digest!.hex(), out.count))
            files.append((listName, listSha, listOut.count))
            var entry: [(String, MValue)] = [
                ("name", .string(item)), ("type", .string("tree")), ("file", .string(file)),
                ("origin", .string(origin)), ("compression", .string(compression.rawValue)),
                ("bytes", .int(out.count)), ("sha256", .string(out.digest!.hex())),
                ("listing", .string(listName)), ("listing_sha256", .string(listSha)),
            ]
            entry += counts
            // sparse files are not in the sha256sum listing: their holes would have to be hashed
            // as zeros (gigabytes for a WAL); they carry a regions digest here instead
            entry.append(("sparse_files", .array(collected.sparse)))
            entry.append(("warnings", .array(warnings.map { .string($0) })))
            entry += extra
            items.append(.object(entry))
            return .object(entry)
        }
    }

    /// A sha256sum listing line for a member (its path relative, as extracted from the archive).
    /// A name holding a newline, a carriage return or a backslash is escaped as GNU sha256sum
    /// escapes it (`\HASH  a\nb`), so one name is one line and `sha256sum -c` reads it back.
    static func sumsLine(hash: String, member: String) -> [UInt8] {
        let name = Array(member.utf8)
        guard name.contains(where: { $0 == 0x0a || $0 == 0x0d || $0 == 0x5c }) else {
            return Array(hash.utf8) + [0x20, 0x20] + name + [0x0a]
        }
        var escaped: [UInt8] = []
        for c in name {
            switch c {
            case 0x0a: escaped += [0x5c, 0x6e]
            case 0x0d: escaped += [0x5c, 0x72]
            case 0x5c: escaped += [0x5c, 0x5c]
            default: escaped.append(c)
            }
        }
        return [0x5c] + Array(hash.utf8) + [0x20, 0x20] + escaped + [0x0a]
    }

    /// Stores a single file as ITEM (copied, hashed on the way), with `mode` (0600 for secrets).
    /// With `move`, a file on the same filesystem (a snapshot just downloaded for this backup)
    /// is renamed into the backup instead of copied, and hashed by one read.
    @discardableResult
    public func addFile(_ item: String, path: String, mode: mode_t? = nil, move: Bool = false, extra: [(String, MValue)] = []) throws -> MValue {
        try checkItemName(item)
        let origin = Self.absolute(path)
        return try fail {
            let dst = "\(partialPath)/\(item).partial"
            if move && Glibc.rename(path, dst) == 0 {
                if let mode { _ = chmod(dst, mode) }
                let (sha, bytes) = try FileTree.sha256(dst)
                return record(item, sha: sha, bytes: bytes, origin: origin, extra: extra)
            }
            let (sha, bytes) = try FileTree.copyFile(path, to: dst, mode: mode)
            if move { unlink(path) }
            return record(item, sha: sha, bytes: bytes, origin: origin, extra: extra)
        }
    }

    /// Stores bytes given in memory (a metadata.json) as ITEM.
    @discardableResult
    public func addData(_ item: String, _ data: [UInt8], mode: mode_t = 0o600, extra: [(String, MValue)] = []) throws -> MValue {
        try addStream(item, origin: "(data)", mode: mode, extra: extra) { sink in
            try data.withUnsafeBytes { try sink.write($0) }
        }
    }

    /// Stores the bytes a producer writes (a Redis RDB received over the network) as ITEM.
    @discardableResult
    public func addStream(_ item: String, origin: String, mode: mode_t = 0o600, extra: [(String, MValue)] = [],
                          _ produce: (ByteSink) throws -> Void) throws -> MValue {
        try checkItemName(item)
        return try fail {
            let p = "\(partialPath)/\(item).partial"
            let fd = open(p, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, mode)
            guard fd >= 0 else { throw ArchiveError.errno("cannot create", p, errno) }
            defer { close(fd) }
            let out = try FileSink(fd: fd, path: p)
            let buffered = TarWriter(sink: out)   // used only as a 1 MiB write buffer
            let sink = BufferedSink(buffered)
            try produce(sink)
            try buffered.flush()
            return record(item, sha: out.digest!.hex(), bytes: out.count, origin: origin, extra: extra)
        }
    }

    func record(_ item: String, sha: String, bytes: Int64, origin: String, extra: [(String, MValue)]) -> MValue {
        files.append((item, sha, bytes))
        let entry: [(String, MValue)] = [
            ("name", .string(item)), ("type", .string("file")), ("file", .string(item)),
            ("origin", .string(origin)), ("bytes", .int(bytes)), ("sha256", .string(sha)),
        ] + extra
        items.append(.object(entry))
        return .object(entry)
    }

    /// Makes the backup complete: syncfs, renames, SHA256SUMS, manifest.json last, the
    /// directory renamed. Returns the manifest.
    @discardableResult
    public func commit() throws -> MValue {
        guard state == 0 else { throw ArchiveError(.io, "the backup is already \(state == 1 ? "committed" : "aborted")") }
        return try fail {
            ArchiveFaults.point("backup.before-sync")
            try FileTree.syncFilesystem(partialPath)
            ArchiveFaults.point("backup.before-renames")
            for f in files { try FileTree.rename("\(partialPath)/\(f.name).partial", "\(partialPath)/\(f.name)") }
            var sums: [UInt8] = []
            for f in files { sums += Array("\(f.sha)  \(f.name)\n".utf8) }
            try writeDurably("\(partialPath)/SHA256SUMS", sums)
            ArchiveFaults.point("backup.before-manifest")
            var t = timespec()
            clock_gettime(CLOCK_REALTIME, &t)
            var host = [CChar](repeating: 0, count: 256)
            gethostname(&host, 255)
            let manifest: MValue = .object([
                ("format", .string("opsh.backup/1")),
                ("name", .string(name)), ("tier", .string(tier)),
                ("created", .string(FileTree.isoTime(created))), ("created_unix", .int(created)),
                ("completed", .string(FileTree.isoTime(Int64(t.tv_sec)))),
                ("host", .string(String(cString: host))),
                ("items", .array(items)),
                ("total_bytes", .int(files.reduce(0) { $0 + $1.bytes })),
            ] + metadata + [("complete", .bool(true))])
            try writeDurably("\(partialPath)/manifest.json", manifest.json())
            FileTree.syncDirectory(partialPath)
            ArchiveFaults.point("backup.before-final-rename")
            try FileTree.rename(partialPath, finalPath)
            FileTree.syncDirectory(root)
            state = 1
            close(lockFD)
            lockFD = -1
            return manifest
        }
    }

    func writeDurably(_ path: String, _ bytes: [UInt8]) throws {
        let fd = open(path + ".partial", O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw ArchiveError.errno("cannot create", path, errno) }
        defer { close(fd) }
        let s = try FileSink(fd: fd, path: path, hashing: false)
        try bytes.withUnsafeBytes { try s.write($0) }
        guard fsync(fd) == 0 else { throw ArchiveError.errno("cannot fsync", path, errno) }
        try FileTree.rename(path + ".partial", path)
    }

    /// Removes everything written so far.
    public func abort() {
        guard state == 0 else { return }
        state = 2
        try? FileTree.remove(partialPath)
        if lockFD >= 0 { close(lockFD); lockFD = -1 }
    }
}

/// A ByteSink in front of a TarWriter's buffer (for streams stored as plain files).
final class BufferedSink: ByteSink {
    let w: TarWriter
    init(_ w: TarWriter) { self.w = w }
    func write(_ bytes: UnsafeRawBufferPointer) throws { try w.append(bytes) }
    func finish() throws { try w.flush() }
}
