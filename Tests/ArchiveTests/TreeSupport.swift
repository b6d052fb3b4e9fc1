import Archive
import Foundation
import OpshTestSupport
import XCTest

/// Test helpers: make trees with every kind of member, run real GNU tar, compare trees byte for byte.
enum T {
    static func tmp(_ name: String) -> String {
        let d = NSTemporaryDirectory() + "opsh-archive-\(getpid())-\(name)-\(UUID().uuidString.prefix(6))"
        try! FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }

    static func write(_ path: String, _ data: Data, mode: Int = 0o644) {
        FileManager.default.createFile(atPath: path, contents: data)
        chmod(path, mode_t(mode))
    }

    static func random(_ n: Int, seed: UInt64) -> Data {
        var x = seed | 1
        var b = [UInt8](repeating: 0, count: n)
        for i in 0..<n { x ^= x << 13; x ^= x >> 7; x ^= x << 17; b[i] = UInt8(truncatingIfNeeded: x) }
        return Data(b)
    }

    /// A tree with long names, deep paths, symlinks (relative, long target), a hard link, a sparse
    /// file with a trailing hole, modes, nanosecond mtimes, a large uid, an empty dir, UTF-8 names.
    static func makeTree(_ root: String) {
        let fm = FileManager.default
        let long = String(repeating: "long-directory-name-", count: 6)          // 120 bytes
        try! fm.createDirectory(atPath: "\(root)/\(long)/\(long)", withIntermediateDirectories: true)
        write("\(root)/\(long)/\(long)/\(String(repeating: "f", count: 150)).txt", "deep and long\n".data(using: .utf8)!)
        write("\(root)/small.txt", "hello\n".data(using: .utf8)!, mode: 0o600)
        write("\(root)/random.bin", random(3 << 20, seed: 7), mode: 0o755)
        write("\(root)/empty", Data())
        try! fm.createDirectory(atPath: "\(root)/empty-dir", withIntermediateDirectories: true)
        write("\(root)/ünïcødé-名前.json", "{\"a\": 1}\n".data(using: .utf8)!)
        symlink("small.txt", "\(root)/link-to-small")
        symlink("\(long)/\(long)", "\(root)/link-long-target")
        link("\(root)/small.txt", "\(root)/hardlink-to-small")
        // sparse: data at 0, 1 MiB in, and a hole at the end (8 MiB logical)
        let fd = open("\(root)/sparse.wal", O_CREAT | O_WRONLY, 0o644)
        let a = random(4096, seed: 1), b = random(70000, seed: 2)
        a.withUnsafeBytes { _ = pwrite(fd, $0.baseAddress, a.count, 0) }
        b.withUnsafeBytes { _ = pwrite(fd, $0.baseAddress, b.count, 1 << 20) }
        ftruncate(fd, 8 << 20)
        close(fd)
        if getuid() == 0 { chown("\(root)/random.bin", 3_000_000, 3_000_001) }
        // nanosecond mtimes on everything
        var ts = [timespec(tv_sec: 1_700_000_000, tv_nsec: 123_456_789), timespec(tv_sec: 1_700_000_000, tv_nsec: 123_456_789)]
        for p in (fm.subpaths(atPath: root) ?? []) { utimensat(AT_FDCWD, "\(root)/\(p)", &ts, AT_SYMLINK_NOFOLLOW) }
    }

    struct Node: Equatable, CustomStringConvertible {
        var type: String, mode: UInt32, size: Int64, mtime: Int, mtimeNs: Int, link: String, sha: String, uid: UInt32
        var description: String { "\(type) mode=\(String(mode, radix: 8)) size=\(size) mtime=\(mtime).\(mtimeNs) link=\(link) sha=\(sha.prefix(12)) uid=\(uid)" }
    }

    /// Every entry under root (not root itself), by relative path. Directory mtimes are left out
    /// unless asked (tar implementations differ in setting them).
    static func snapshot(_ root: String, ns: Bool = true, dirTimes: Bool = false) -> [String: Node] {
        var out: [String: Node] = [:]
        for rel in (FileManager.default.subpaths(atPath: root) ?? []) {
            let p = "\(root)/\(rel)"
            var st = stat()
            lstat(p, &st)
            var n = Node(type: "?", mode: UInt32(st.st_mode & 0o7777), size: 0, mtime: Int(st.st_mtim.tv_sec),
                         mtimeNs: ns ? Int(st.st_mtim.tv_nsec) : 0, link: "", sha: "", uid: st.st_uid)
            switch st.st_mode & S_IFMT {
            case S_IFDIR: n.type = "dir"; if !dirTimes { n.mtime = 0; n.mtimeNs = 0 }
            case S_IFLNK:
                n.type = "link"; n.mode = 0
                n.link = (try? FileManager.default.destinationOfSymbolicLink(atPath: p)) ?? "?"
            case S_IFREG:
                n.type = "file"; n.size = Int64(st.st_size)
                n.sha = sha256(p)
            default: n.type = "other"
            }
            out[rel] = n
        }
        return out
    }

    static func sha256(_ path: String) -> String {
        let (_, o) = sh("sha256sum '\(path.replacingOccurrences(of: "'", with: "'\\''"))'")
        return String(o.prefix(64))
    }

    static func assertSameTree(_ a: String, _ b: String, ns: Bool = true, file: StaticString = #filePath, line: UInt = #line) {
        let x = snapshot(a, ns: ns), y = snapshot(b, ns: ns)
        XCTAssertFalse(x.isEmpty, "empty tree \(a)", file: file, line: line)
        XCTAssertEqual(Set(x.keys), Set(y.keys), "paths differ", file: file, line: line)
        for (k, v) in x where y[k] != v {
            XCTFail("\(k): \(v) vs \(y[k].map { "\($0)" } ?? "missing")", file: file, line: line)
        }
    }

    static func allocatedBlocks(_ path: String) -> Int64 {
        var st = stat()
        lstat(path, &st)
        return Int64(st.st_blocks)
    }

    enum Compression: String { case none, gzip, zstd }

    /// Archives `root`'s contents with opsh's engine into `out`; returns the listing lines.
    @discardableResult
    static func archive(_ root: String, to out: String, _ c: Compression) throws -> [String] {
        let fd = open(out, O_CREAT | O_TRUNC | O_WRONLY, 0o644)
        defer { close(fd) }
        let file = try FileSink(fd: fd, path: out)
        let sink: ByteSink
        switch c {
        case .none: sink = file
        case .gzip: sink = try GzipSink(downstream: file)
        case .zstd: sink = try ZstdSink(downstream: file)
        }
        let w = TarWriter(sink: sink)
        var lines: [String] = []
        let t = TreeArchiver(writer: w, listing: { h, p in lines.append("\(h)  \(p)") })
        try t.add(path: root, as: ".")
        try w.finish()
        return lines
    }

    static func source(_ path: String, _ c: Compression) throws -> (ByteSource, Int32) {
        let fd = open(path, O_RDONLY)
        precondition(fd >= 0, "open \(path)")
        let f = try FileSource(fd: fd, path: path)
        switch c {
        case .none: return (f, fd)
        case .gzip: return (try GzipSource(upstream: f, name: path), fd)
        case .zstd: return (try ZstdSource(upstream: f, name: path), fd)
        }
    }

    /// Extracts with opsh's engine into `dir`.
    static func extract(_ path: String, _ c: Compression, into dir: String, hash: Bool = false) throws -> [String: String] {
        let (src, fd) = try source(path, c)
        defer { close(fd) }
        var opts = Extractor.Options()
        opts.hashFiles = hash
        let x = try Extractor(root: dir, options: opts)
        var hashes: [String: String] = [:]
        x.onFile = { p, h, _ in hashes[p] = h }
        try x.extractAll(TarReader(source: src, name: path))
        return hashes
    }
}
