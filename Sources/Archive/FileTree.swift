import CDyn
import FileSystem
import Glibc

/// Filesystem operations the backup engine and `opsh.fs` share: walk, remove a tree without
/// following symlinks, copy a file with its SHA-256, durable renames, disk usage.
public enum FileTree {
    /// Removes `path` and everything under it; symlinks are removed, never followed.
    public static func remove(_ path: String) throws {
        var st = stat()
        guard lstat(path, &st) == 0 else {
            if errno == ENOENT { return }
            throw ArchiveError.errno("cannot stat", path, errno)
        }
        if (st.st_mode & S_IFMT) != S_IFDIR {
            guard unlink(path) == 0 || errno == ENOENT else { throw ArchiveError.errno("cannot delete", path, errno) }
            return
        }
        _ = chmod(path, 0o700)   // a read-only directory could not be emptied
        for n in try names(in: path) { try remove(path + "/" + n) }
        guard rmdir(path) == 0 || errno == ENOENT else { throw ArchiveError.errno("cannot delete", path, errno) }
    }

    /// The names in a directory, sorted, without "." and "..".
    public static func names(in dir: String) throws -> [String] {
        guard let d = opendir(dir) else { throw ArchiveError.errno("cannot list", dir, errno) }
        defer { closedir(d) }
        var names: [String] = []
        while let e = readdir(d) {
            let n = withUnsafeBytes(of: e.pointee.d_name) { String(cString: $0.baseAddress!.assumingMemoryBound(to: CChar.self)) }
            if n != "." && n != ".." { names.append(n) }
        }
        return names.sorted()
    }

    /// Every entry under `root` (depth first, names sorted), with its lstat; `visit` returns
    /// false to skip a directory's contents. Paths are relative to root ("" for root itself).
    public static func walk(_ root: String, maxDepth: Int = 256, _ visit: (String, stat) throws -> Bool) throws {
        var st = stat()
        guard lstat(root, &st) == 0 else { throw ArchiveError.errno("cannot stat", root, errno) }
        try walk(root, "", st, maxDepth, visit)
    }

    static func walk(_ abs: String, _ rel: String, _ st: stat, _ depth: Int, _ visit: (String, stat) throws -> Bool) throws {
        let descend = try visit(rel, st)
        guard descend, (st.st_mode & S_IFMT) == S_IFDIR, depth > 0 else { return }
        guard let d = opendir(abs) else {
            if errno == ENOENT || errno == EACCES { return }
            throw ArchiveError.errno("cannot list", abs, errno)
        }
        var names: [String] = []
        while let e = readdir(d) {
            let n = withUnsafeBytes(of: e.pointee.d_name) { String(cString: $0.baseAddress!.assumingMemoryBound(to: CChar.self)) }
            if n != "." && n != ".." { names.append(n) }
        }
        closedir(d)
        names.sort()
        for n in names {
            let a = abs.hasSuffix("/") ? abs + n : abs + "/" + n
            var cst = stat()
            guard lstat(a, &cst) == 0 else { continue }   // vanished
            try walk(a, rel.isEmpty ? n : rel + "/" + n, cst, depth - 1, visit)
        }
    }

    /// fsync of a directory (makes renames inside it durable).
    public static func syncDirectory(_ path: String) { FileSystem.syncDirectory(path) }

    /// One syncfs of the filesystem holding `path`: the single durability pass.
    public static func syncFilesystem(_ path: String) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ArchiveError.errno("cannot open", path, errno) }
        defer { close(fd) }
        guard opsh_syncfs(fd) == 0 else { throw ArchiveError.errno("cannot sync the filesystem of", path, errno) }
    }

    public static func rename(_ from: String, _ to: String) throws {
        guard Glibc.rename(from, to) == 0 else { throw ArchiveError.errno("cannot rename \(from) to", to, errno) }
    }

    /// Copies a regular file to `to` (created exclusively, `mode`), returning its SHA-256 and size.
    /// With `sync`, the copy is fsynced.
    @discardableResult
    public static func copyFile(_ from: String, to: String, mode: mode_t? = nil, sync: Bool = false) throws -> (sha256: String, bytes: Int64) {
        let inFD = open(from, O_RDONLY | O_CLOEXEC)
        guard inFD >= 0 else { throw ArchiveError.errno("cannot open", from, errno) }
        defer { close(inFD) }
        var st = stat()
        _ = fstat(inFD, &st)
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw ArchiveError(.io, "\(from) is not a regular file", path: from) }
        let m = mode ?? mode_t(st.st_mode & 0o7777)
        let outFD = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, m)
        guard outFD >= 0 else { throw ArchiveError.errno("cannot create", to, errno) }
        var ok = false
        defer { close(outFD); if !ok { unlink(to) } }
        _ = fchmod(outFD, m)
        let sink = try FileSink(fd: outFD, path: to)
        let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 4096)
        defer { buf.deallocate() }
        while true {
            let n = read(inFD, buf.baseAddress, buf.count)
            if n < 0 { if errno == EINTR { continue }; throw ArchiveError.errno("cannot read", from, errno) }
            if n == 0 { break }
            try sink.write(UnsafeRawBufferPointer(rebasing: buf[0..<n]))
        }
        var ts = [st.st_atim, st.st_mtim]
        _ = futimens(outFD, &ts)
        if sync { guard fsync(outFD) == 0 else { throw ArchiveError.errno("cannot fsync", to, errno) } }
        ok = true
        return (sink.digest!.hex(), sink.count)
    }

    /// SHA-256 and size of a file, read once.
    public static func sha256(_ path: String) throws -> (sha256: String, bytes: Int64) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ArchiveError.errno("cannot open", path, errno) }
        defer { close(fd) }
        let src = try FileSource(fd: fd, path: path, hashing: true)
        let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 4096)
        defer { buf.deallocate() }
        while try src.read(into: buf) > 0 {}
        return (src.digest!.hex(), src.count)
    }

    /// Bytes allocated under `path` (du), and the filesystem's size and free space (df).
    public static func usage(_ path: String) throws -> (allocated: Int64, apparent: Int64, files: Int) {
        var alloc: Int64 = 0, apparent: Int64 = 0, files = 0
        var seen = Set<UInt64>()
        try walk(path) { _, st in
            if st.st_nlink > 1 && (st.st_mode & S_IFMT) != S_IFDIR {
                if !seen.insert(UInt64(st.st_ino) ^ (UInt64(st.st_dev) << 40)).inserted { return true }
            }
            alloc += Int64(st.st_blocks) * 512
            apparent += Int64(st.st_size)
            files += 1
            return true
        }
        return (alloc, apparent, files)
    }

    public static func filesystem(_ path: String) throws -> (total: Int64, free: Int64, available: Int64) {
        var s = statvfs()
        guard statvfs(path, &s) == 0 else { throw ArchiveError.errno("cannot statvfs", path, errno) }
        let f = Int64(s.f_frsize)
        return (Int64(s.f_blocks) * f, Int64(s.f_bfree) * f, Int64(s.f_bavail) * f)
    }

    /// Creates `path` and its parents.
    public static func makeDirectories(_ path: String, mode: mode_t = 0o755) throws {
        do { try FileSystem.makeDirectories(path, mode: mode) } catch {
            throw ArchiveError(["ENOSPC", "EDQUOT"].contains(error.code) ? .noSpace : .io, error.message, path: error.path)
        }
    }

    /// "2026-11-29T05:30:00Z" and "20261129T053000Z" for a Unix time.
    public static func isoTime(_ t: Int64, compact: Bool = false) -> String {
        var tt = time_t(t)
        var tm = tm()
        gmtime_r(&tt, &tm)
        func p(_ v: Int32, _ w: Int = 2) -> String { let s = String(v); return String(repeating: "0", count: max(0, w - s.count)) + s }
        let y = p(tm.tm_year + 1900, 4), mo = p(tm.tm_mon + 1), d = p(tm.tm_mday), h = p(tm.tm_hour), mi = p(tm.tm_min), s = p(tm.tm_sec)
        return compact ? "\(y)\(mo)\(d)T\(h)\(mi)\(s)Z" : "\(y)-\(mo)-\(d)T\(h):\(mi):\(s)Z"
    }
}
