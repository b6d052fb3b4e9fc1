import Glibc
import Modules

/// Small file helpers for the engine (no Foundation on the run path).
struct FileError: Error, CustomStringConvertible {
    let path: String
    let message: String
    var description: String { "\(path): \(message)" }
    static func errno(_ path: String) -> FileError { FileError(path: path, message: String(cString: strerror(Glibc.errno))) }
}

func fileExists(_ path: String) -> Bool {
    var st = stat()
    return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG
}

func directoryExists(_ path: String) -> Bool {
    var st = stat()
    return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
}

/// Reads a whole file (bounded: scripts and config files are small).
func readFile(_ path: String, limit: Int = 64 << 20) throws -> [UInt8] {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw FileError.errno(path) }
    defer { close(fd) }
    var out: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 { if errno == EINTR { continue }; throw FileError.errno(path) }
        if n == 0 { break }
        out += buf[0..<n]
        if out.count > limit { throw FileError(path: path, message: "larger than \(limit) bytes") }
    }
    return out
}

/// Writes a file atomically: a temporary file in the same directory, fsync, rename.
func writeFileAtomically(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o644) throws {
    let tmp = path + ".tmp-\(getpid())"
    let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
    guard fd >= 0 else { throw FileError.errno(tmp) }
    var off = 0
    while off < bytes.count {
        let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + off, $0.count - off) }
        if n < 0 { if errno == EINTR { continue }; let e = FileError.errno(tmp); close(fd); unlink(tmp); throw e }
        off += n
    }
    if fsync(fd) != 0 { let e = FileError.errno(tmp); close(fd); unlink(tmp); throw e }
    close(fd)
    if rename(tmp, path) != 0 { let e = FileError.errno(path); unlink(tmp); throw e }
}

/// mkdir -p
func makeDirectories(_ path: String) throws {
    var cur = path.hasPrefix("/") ? "" : "."
    for part in path.split(separator: "/") {
        cur += "/" + part
        if mkdir(cur, 0o755) != 0 && errno != EEXIST { throw FileError.errno(cur) }
    }
}

/// Relative paths of the .lua files under `dir` (recursive, sorted).
func listLuaFiles(_ dir: String) -> [String] {
    var out: [String] = []
    func walk(_ rel: String, depth: Int) {
        guard depth < 16, let d = opendir(rel.isEmpty ? dir : dir + "/" + rel) else { return }
        defer { closedir(d) }
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { raw in
                String(cString: raw.baseAddress!.assumingMemoryBound(to: CChar.self))
            }
            if name.hasPrefix(".") { continue }
            let sub = rel.isEmpty ? name : rel + "/" + name
            if directoryExists(dir + "/" + sub) { walk(sub, depth: depth + 1) }
            else if name.hasSuffix(".lua") { out.append(sub) }
        }
    }
    walk("", depth: 0)
    return out.sorted()
}

func isTTY(_ fd: Int32) -> Bool { isatty(fd) != 0 }

func writeStderr(_ s: String) { writeToStderr(s) }

func writeStdout(_ s: String) {
    fflush(nil)
    var s = s
    s.withUTF8 { b in _ = write(1, b.baseAddress, b.count) }
}
