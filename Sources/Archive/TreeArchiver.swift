import Glibc

/// Puts files and directory trees from disk into a TarWriter: lstat for every entry (symlinks
/// are stored, never followed), names sorted so the same tree gives the same archive, hard
/// links stored once and then as links, sparse files as pax sparse regions found with
/// SEEK_DATA/SEEK_HOLE, each regular file's SHA-256 computed as its bytes go by and written to
/// a listing in `sha256sum` format (sparse files: their regions digest, reported apart). Entries that vanish while the walk runs, sockets and
/// unreadable entries become warnings, not failures, as in GNU tar.
public final class TreeArchiver {
    public struct Stats: Sendable {
        public var files = 0, directories = 0, symlinks = 0, hardlinks = 0, sparse = 0, other = 0
        public var bytes: Int64 = 0
    }

    struct FileID: Hashable { let dev: UInt64; let ino: UInt64 }

    let writer: TarWriter
    /// Receives "sha256  path\n" for each regular file (hard links repeat their target's hash).
    let listing: ((String, String) -> Void)?
    /// Called after each regular file with the running totals (files, bytes): progress display.
    public var progress: ((Int, Int64) -> Void)?
    /// Receives (regions digest, path, size) for each sparse file (see SparseRegion.digestPrefix).
    public var sparseListing: ((String, String, Int64) -> Void)?
    /// Glob patterns (fnmatch, matched against the path inside the archive) to leave out.
    public var exclude: [String] = []
    public private(set) var stats = Stats()
    public private(set) var warnings: [String] = []
    var links: [FileID: ([UInt8], String)] = [:]
    var users: [UInt32: [UInt8]] = [:]
    var groups: [UInt32: [UInt8]] = [:]

    public init(writer: TarWriter, listing: ((String, String) -> Void)? = nil) {
        self.writer = writer
        self.listing = listing
    }

    func warn(_ s: String) { if warnings.count < 1000 { warnings.append(s) } }

    func userName(_ uid: UInt32) -> [UInt8] {
        if let n = users[uid] { return n }
        let n = getpwuid(uid).map { Array(String(cString: $0.pointee.pw_name).utf8) } ?? []
        users[uid] = n
        return n
    }

    func groupName(_ gid: UInt32) -> [UInt8] {
        if let n = groups[gid] { return n }
        let n = getgrgid(gid).map { Array(String(cString: $0.pointee.gr_name).utf8) } ?? []
        groups[gid] = n
        return n
    }

    func excluded(_ name: String) -> Bool {
        for p in exclude where fnmatch(p, name, 0) == 0 { return true }
        return false
    }

    /// Adds `path` (file, symlink or directory, recursively) under the archive name `name`.
    public func add(path: String, as name: String) throws {
        var st = stat()
        guard lstat(path, &st) == 0 else { throw ArchiveError.errno("cannot stat", path, errno) }
        try addEntry(path: Array(path.utf8), name: Array(name.utf8), st: st)
    }

    // Paths are bytes from readdir to the archive: a name that is not UTF-8 is stored as it is
    // (a String would replace its bytes, and the file would then not be found).
    func addEntry(path: [UInt8], name: [UInt8], st: stat) throws {
        let pathText = String(decoding: path, as: UTF8.self)
        let nameText = String(decoding: name, as: UTF8.self)
        if excluded(nameText) { return }
        var e = TarEntry(path: name, kind: .file)
        e.mode = UInt32(st.st_mode & 0o7777)
        e.uid = Int64(st.st_uid)
        e.gid = Int64(st.st_gid)
        e.userName = userName(st.st_uid)
        e.groupName = groupName(st.st_gid)
        e.mtime = Int64(st.st_mtim.tv_sec)
        e.mtimeNanoseconds = Int32(st.st_mtim.tv_nsec)
        let type = st.st_mode & S_IFMT
        if type != S_IFDIR && st.st_nlink > 1 {
            let id = FileID(dev: UInt64(st.st_dev), ino: UInt64(st.st_ino))
            if let (first, hash) = links[id] {
                e.kind = .hardlink
                e.linkTarget = first
                try writer.add(e)
                stats.hardlinks += 1
                if !hash.isEmpty { listing?(hash, nameText) }
                return
            }
            links[id] = (e.path, "")
        }
        switch type {
        case S_IFDIR:
            e.kind = .directory
            try writer.add(e)
            stats.directories += 1
            guard let d = withCPath(path, { opendir($0) }) else {
                if errno == ENOENT { warn("\(pathText): vanished while archiving"); return }
                throw ArchiveError.errno("cannot list", pathText, errno)
            }
            var names: [[UInt8]] = []
            while let ent = readdir(d) {
                let n: [UInt8] = withUnsafeBytes(of: ent.pointee.d_name) { raw in
                    Array(raw.prefix { $0 != 0 })
                }
                if n != [0x2e] && n != [0x2e, 0x2e] { names.append(n) }
            }
            closedir(d)
            names.sort { $0.lexicographicallyPrecedes($1) }
            for n in names {
                let child = path.last == 0x2f ? path + n : path + [0x2f] + n
                let childName = name == [0x2e] || name.isEmpty ? n : (name.last == 0x2f ? name + n : name + [0x2f] + n)
                var cst = stat()
                guard withCPath(child, { lstat($0, &cst) }) == 0 else {
                    let text = String(decoding: child, as: UTF8.self)
                    if errno == ENOENT { warn("\(text): vanished while archiving"); continue }
                    throw ArchiveError.errno("cannot stat", text, errno)
                }
                try addEntry(path: child, name: childName, st: cst)
            }
        case S_IFREG:
            let fd = withCPath(path) { open($0, O_RDONLY | O_NOFOLLOW | O_CLOEXEC) }
            guard fd >= 0 else {
                if errno == ENOENT { warn("\(pathText): vanished while archiving"); return }
                throw ArchiveError.errno("cannot open", pathText, errno)
            }
            defer { close(fd) }
            e.kind = .file
            e.size = Int64(st.st_size)
            if Int64(st.st_blocks) * 512 < e.size {
                e.sparseMap = sparseRegions(fd: fd, size: e.size)
                if e.sparseMap != nil { stats.sparse += 1 }
            }
            let digest = listing != nil ? try Digest() : nil
            let missing = try writer.addFile(e, fd: fd, path: pathText, digest: digest)
            if missing > 0 { warn("\(pathText): shrank by \(missing) bytes while archiving; padded with zeros") }
            stats.files += 1
            stats.bytes += e.size
            progress?(stats.files, stats.bytes)
            if let digest, e.sparseMap != nil {
                // sparse: the regions digest, kept apart from the sha256sum listing
                sparseListing?(digest.hex(), nameText, e.size)
            } else if let digest {
                let h = digest.hex()
                listing?(h, nameText)
                if st.st_nlink > 1 { links[FileID(dev: UInt64(st.st_dev), ino: UInt64(st.st_ino))] = (e.path, h) }
            }
        case S_IFLNK:
            var buf = [CChar](repeating: 0, count: 4097)
            let n = withCPath(path) { readlink($0, &buf, 4096) }
            guard n >= 0 else { throw ArchiveError.errno("cannot read link", pathText, errno) }
            e.kind = .symlink
            e.linkTarget = buf[0..<n].map { UInt8(bitPattern: $0) }
            try writer.add(e)
            stats.symlinks += 1
        case S_IFIFO:
            e.kind = .fifo
            try writer.add(e)
            stats.other += 1
        case S_IFCHR, S_IFBLK:
            e.kind = type == S_IFCHR ? .characterDevice : .blockDevice
            e.deviceMajor = Int64((st.st_rdev >> 8) & 0xfff) | Int64((st.st_rdev >> 32) & ~0xfff)
            e.deviceMinor = Int64(st.st_rdev & 0xff) | Int64((st.st_rdev >> 12) & ~0xff)
            try writer.add(e)
            stats.other += 1
        default:
            warn("\(pathText): socket ignored")
        }
    }
}

/// Calls `body` with `path` as a NUL-terminated C string (bytes as they are, UTF-8 or not).
func withCPath<R>(_ path: [UInt8], _ body: (UnsafePointer<CChar>) throws -> R) rethrows -> R {
    var z = path
    z.append(0)
    return try z.withUnsafeBufferPointer { b in
        try b.baseAddress!.withMemoryRebound(to: CChar.self, capacity: b.count) { try body($0) }
    }
}
