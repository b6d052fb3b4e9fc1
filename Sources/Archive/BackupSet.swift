import CDyn
import Glibc

/// Reading backups back: their manifests, verification and archives (what a root holds is
/// BackupCatalog; retention is Retention).
public enum BackupSet {
    public struct Info: Sendable {
        public var name: String
        public var path: String
        public var tier: String
        public var created: Int64
        public var complete: Bool
        public var bytes: Int64
    }

    public static func readManifest(_ dir: String) -> MValue? {
        let fd = open("\(dir)/manifest.json", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while out.count < 64 << 20 {
            let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            out += buf[0..<n]
        }
        return MValue.parse(out)
    }

    // MARK: verify

    public enum Depth: String, Sendable { case files, archives }

    public struct Verification: Sendable {
        public var ok: Bool { problems.isEmpty }
        public var problems: [String] = []
        /// The first file found bad (nil when all are good).
        public var firstBad: String?
        public var checkedFiles = 0
        public var checkedBytes: Int64 = 0
        public var checkedMembers = 0
        public var warnings: [String] = []
    }

    /// Checks a backup: complete manifest, every item's size and SHA-256, SHA256SUMS agreeing
    /// with the manifest; with `.archives` also every archive read through (decompressed,
    /// every header parsed) and each member's SHA-256 compared with the item's listing.
    public static func verify(_ dir: String, depth: Depth = .files) -> Verification {
        var v = Verification()
        func bad(_ file: String, _ why: String) {
            if v.firstBad == nil { v.firstBad = file }
            v.problems.append("\(file): \(why)")
        }
        let base = dir.split(separator: "/").last.map(String.init) ?? dir
        if base.hasSuffix(".partial") { bad(base, "incomplete backup (.partial: interrupted or failed)") }
        guard let m = readManifest(dir) else {
            bad("manifest.json", "missing or unreadable: the backup never completed")
            return v
        }
        if m["format"]?.string != "opsh.backup/1" { bad("manifest.json", "unknown format \(m["format"]?.string ?? "none")") }
        if m["complete"]?.bool != true { bad("manifest.json", "not marked complete") }
        // SHA256SUMS
        var sums: [String: String] = [:]
        if let text = try? readSmall("\(dir)/SHA256SUMS", limit: 16 << 20) {
            for line in text.split(separator: "\n") {
                let parts = line.split(separator: " ", maxSplits: 1)
                if parts.count == 2 { sums[String(parts[1].drop { $0 == " " || $0 == "*" })] = String(parts[0]) }
            }
        } else { bad("SHA256SUMS", "missing") }
        var expected: [(String, String, Int64?)] = []
        for it in m["items"]?.array ?? [] {
            guard let f = it["file"]?.string, let sha = it["sha256"]?.string else { bad("manifest.json", "an item without file or sha256"); continue }
            expected.append((f, sha, it["bytes"]?.int))
            if let l = it["listing"]?.string, let ls = it["listing_sha256"]?.string { expected.append((l, ls, nil)) }
        }
        if expected.isEmpty { bad("manifest.json", "lists no items") }
        for (f, sha, size) in expected {
            if sums[f] != sha { bad(f, "SHA256SUMS does not agree with the manifest") }
            guard let (got, bytes) = try? FileTree.sha256("\(dir)/\(f)") else { bad(f, "missing"); continue }
            v.checkedFiles += 1
            v.checkedBytes += bytes
            if let size, size != bytes { bad(f, "size \(bytes), expected \(size) (truncated or changed)"); continue }
            if got != sha { bad(f, "SHA-256 mismatch (corrupt)") }
        }
        if depth == .archives && v.ok {
            for it in m["items"]?.array ?? [] where it["type"]?.string == "tree" {
                guard let f = it["file"]?.string, let l = it["listing"]?.string else { continue }
                guard var listing = try? ListingCheck(backup: dir, item: it) else { bad(l, "unreadable"); continue }
                do {
                    try readArchive("\(dir)/\(f)") { e, reader in
                        v.checkedMembers += 1
                        let h = e.kind == .file ? try reader.readDataHashed() : nil
                        if let why = listing.check(e, hash: h) { bad("\(f):\(e.pathString)", "\(why) (\(l))") }
                    }
                    let missing = listing.missing()
                    if let first = missing.first { bad(f, "\(missing.count) files of \(l) are not in the archive (\(first)...)") }
                } catch {
                    bad(f, "\(error)")
                }
            }
        }
        return v
    }

    static func readSmall(_ path: String, limit: Int) throws -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ArchiveError.errno("cannot open", path, errno) }
        defer { close(fd) }
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 { throw ArchiveError.errno("cannot read", path, errno) }
            if n == 0 { break }
            out += buf[0..<n]
            if out.count > limit { throw ArchiveError(.io, "\(path) is too large") }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Opens an archive file (compression from its name) and calls `body` for each member.
    public static func readArchive(_ path: String, _ body: (TarEntry, TarReader) throws -> Void) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ArchiveError.errno("cannot open", path, errno) }
        defer { close(fd) }
        let reader = TarReader(source: try source(fd: fd, path: path), name: path.split(separator: "/").last.map(String.init) ?? path)
        while let e = try reader.next() { try body(e, reader) }
    }

    static func source(fd: Int32, path: String) throws -> ByteSource {
        let file = try FileSource(fd: fd, path: path)
        switch Compression.of(file: path) {
        case .gzip: return PrefetchSource(try GzipSource(upstream: file, name: path))
        case .zstd: return PrefetchSource(try ZstdSource(upstream: file, name: path))
        case .none: return file
        }
    }
}

