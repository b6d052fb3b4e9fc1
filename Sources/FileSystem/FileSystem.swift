import Glibc

/// A failed file operation: the errno's name as `code` ("ENOENT", "EACCES", ...; "too_large"
/// for a bounded read or listing that overflowed), a message for a person, and the path.
public struct FileSystemError: Error, CustomStringConvertible, Sendable {
    public let code: String
    public let message: String
    public let path: String
    public var description: String { message }

    public init(code: String, message: String, path: String) {
        self.code = code
        self.message = message
        self.path = path
    }

    /// The error `errno` holds now, for `what` (e.g. "cannot open") done to `path`.
    public static func errno(_ what: String, _ path: String, _ e: Int32 = Glibc.errno) -> FileSystemError {
        FileSystemError(code: name(of: e), message: "\(what) \(path): \(String(cString: strerror(e)))", path: path)
    }

    static let names: [Int32: String] = [ENOENT: "ENOENT", EACCES: "EACCES", EPERM: "EPERM", EEXIST: "EEXIST", ENOSPC: "ENOSPC",
                                          EISDIR: "EISDIR", ENOTDIR: "ENOTDIR", EROFS: "EROFS", EDQUOT: "EDQUOT", EIO: "EIO",
                                          EXDEV: "EXDEV", ENOTEMPTY: "ENOTEMPTY"]
    public static func name(of e: Int32) -> String { names[e] ?? "EIO" }
}

/// What lstat says of a path.
public struct FileStatus: Sendable {
    /// "file", "directory", "link", "socket", "fifo" or "device"
    public let type: String
    public let size: Int64
    /// The permission bits (0o7777).
    public let mode: Int64
    /// Seconds since the epoch, with the nanoseconds.
    public let mtime: Double
    public let uid: Int64
    public let gid: Int64

    public init(_ st: stat) {
        switch st.st_mode & S_IFMT {
        case S_IFREG: type = "file"
        case S_IFDIR: type = "directory"
        case S_IFLNK: type = "link"
        case S_IFSOCK: type = "socket"
        case S_IFIFO: type = "fifo"
        default: type = "device"
        }
        size = Int64(st.st_size)
        mode = Int64(st.st_mode & 0o7777)
        mtime = Double(st.st_mtim.tv_sec) + Double(st.st_mtim.tv_nsec) / 1e9
        uid = Int64(st.st_uid)
        gid = Int64(st.st_gid)
    }
}

/// The file operations opsh's modules and Engine need, without following symlinks where it
/// matters, bounded where they read, durable where they write. Trees (walk, copy, remove,
/// disk usage) are the backup engine's FileTree (Sources/Archive).
public enum FileSystem {
    /// Writes `data` to `path` atomically: a temporary file in the same directory (created
    /// exclusively, exactly `mode` whatever the umask), written, fsynced, renamed over `path`,
    /// and the directory fsynced. A reader sees the old content or the new, never a part.
    /// `durable: false` leaves out both fsyncs, for a file worth nothing after a crash (a CPU
    /// sample rewritten every few seconds): still atomic for readers, no disk flush each time.
    public static func writeAtomically(_ path: String, _ data: UnsafeRawBufferPointer, mode: mode_t = 0o644,
                                       durable: Bool = true) throws(FileSystemError) {
        let dir = directory(of: path)
        let tmp = "\(dir == "/" ? "" : dir)/.\(path.split(separator: "/").last ?? "file").opsh-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else { throw .errno("cannot create", tmp) }
        _ = fchmod(fd, mode)
        var off = 0
        while off < data.count {
            let n = write(fd, data.baseAddress! + off, data.count - off)
            if n < 0 {
                if Glibc.errno == EINTR { continue }
                let e = FileSystemError.errno("cannot write", tmp)
                close(fd); unlink(tmp)
                throw e
            }
            off += n
        }
        if durable && fsync(fd) != 0 { let e = FileSystemError.errno("cannot fsync", tmp); close(fd); unlink(tmp); throw e }
        close(fd)
        if Glibc.rename(tmp, path) != 0 { let e = FileSystemError.errno("cannot rename onto", path); unlink(tmp); throw e }
        if durable { syncDirectory(dir) }
    }

    public static func writeAtomically(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o644, durable: Bool = true) throws(FileSystemError) {
        let failure = bytes.withUnsafeBytes { b -> FileSystemError? in
            do throws(FileSystemError) { try writeAtomically(path, b, mode: mode, durable: durable); return nil } catch { return error }
        }
        if let failure { throw failure }
    }

    /// The whole file, refused when it is larger than `limit` bytes.
    public static func read(_ path: String, limit: Int) throws(FileSystemError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .errno("cannot open", path) }
        defer { close(fd) }
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buf.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 { if Glibc.errno == EINTR { continue }; throw .errno("cannot read", path) }
            if n == 0 { break }
            out += buf[0..<n]
            if out.count > limit { throw FileSystemError(code: "too_large", message: "\(path) is larger than \(limit) bytes", path: path) }
        }
        return out
    }

    /// lstat of `path` (a symlink is described, not followed); a failure's message starts
    /// with `what`.
    public static func status(_ path: String, what: String = "cannot stat") throws(FileSystemError) -> FileStatus {
        var st = stat()
        guard lstat(path, &st) == 0 else { throw .errno(what, path) }
        return FileStatus(st)
    }

    /// The absolute, symlink-free path of an existing `path` (a relative one is taken from the
    /// current directory, as the kernel does), as realpath(3).
    public static func resolve(_ path: String) throws(FileSystemError) -> String {
        guard let p = realpath(path, nil) else { throw .errno("cannot resolve", path) }
        defer { free(p) }
        return String(cString: p)
    }

    /// Whether anything (a dangling symlink too) is at `path`.
    public static func exists(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0
    }

    /// Whether `path` is a regular file or a directory (following symlinks, as `test -f`/`-d` do).
    public static func isFile(_ path: String) -> Bool { kind(path) == S_IFREG }
    public static func isDirectory(_ path: String) -> Bool { kind(path) == S_IFDIR }

    static func kind(_ path: String) -> mode_t? {
        var st = stat()
        return stat(path, &st) == 0 ? st.st_mode & S_IFMT : nil
    }

    /// The names in `dir` (no "." or ".."), sorted; refused beyond `limit` entries.
    public static func list(_ dir: String, limit: Int) throws(FileSystemError) -> [String] {
        guard let d = opendir(dir) else { throw .errno("cannot list", dir) }
        defer { closedir(d) }
        var names: [String] = []
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(cString: $0.baseAddress!.assumingMemoryBound(to: CChar.self)) }
            if name == "." || name == ".." { continue }
            names.append(name)
            if names.count > limit { throw FileSystemError(code: "too_large", message: "\(dir) has more than \(limit) entries", path: dir) }
        }
        return names.sorted()
    }

    /// mkdir -p: creates `path` and its parents; directories that exist are fine.
    public static func makeDirectories(_ path: String, mode: mode_t = 0o755) throws(FileSystemError) {
        var cur = path.hasPrefix("/") ? "" : "."
        for part in path.split(separator: "/") {
            cur += "/" + part
            if mkdir(cur, mode) != 0 && Glibc.errno != EEXIST { throw .errno("cannot create directory", cur) }
        }
    }

    /// The paths that match a shell pattern, sorted (no ~ or brace expansion).
    public static func glob(_ pattern: String) throws(FileSystemError) -> [String] {
        var g = glob_t()
        defer { globfree(&g) }
        let rc = Glibc.glob(pattern, 0, nil, &g)
        if rc == GLOB_NOMATCH { return [] }
        guard rc == 0 else { throw FileSystemError(code: "EIO", message: "glob \(pattern) failed", path: pattern) }
        return (0..<Int(g.gl_pathc)).compactMap { g.gl_pathv[$0].map { String(cString: $0) } }
    }

    /// Whether a file name matches a shell pattern (fnmatch).
    public static func matches(_ pattern: String, _ name: String) -> Bool { fnmatch(pattern, name, 0) == 0 }

    /// rename(2); `code` is "EXDEV" when the two paths are on different filesystems.
    public static func rename(_ from: String, _ to: String) throws(FileSystemError) {
        guard Glibc.rename(from, to) == 0 else { throw .errno("cannot move \(from) to", to) }
    }

    /// unlink(2) of a file or symlink.
    public static func removeFile(_ path: String) throws(FileSystemError) {
        guard unlink(path) == 0 else { throw .errno("cannot delete", path) }
    }

    /// fsync of a directory (makes renames inside it durable).
    public static func syncDirectory(_ path: String) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 { _ = fsync(fd); close(fd) }
    }

    /// The directory part of a path ("." for a bare name, "/" for a file at the root).
    public static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        let d = String(path[..<slash])
        return d.isEmpty ? "/" : d
    }
}
