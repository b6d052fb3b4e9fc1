import Glibc

/// Reads tar streams as GNU tar 1.34 and opsh write them: POSIX pax (x/g records: path,
/// linkpath, size, uid, gid, uname, gname, mtime with nanoseconds; GNU sparse 0.0, 0.1 and
/// 1.0), plain ustar (prefix + name), and GNU's own format (././@LongLink 'L'/'K' members,
/// base-256 numbers, old 'S' sparse headers with extension blocks). Everything it reads from
/// the archive is bounded: pax headers up to 1 MiB, long names up to 64 KiB, sparse maps up to
/// a million regions. A header with a bad checksum is `corrupt`; a stream that ends before the
/// end-of-archive blocks is `truncated`.
public final class TarReader {
    let source: ByteSource
    let buffer: UnsafeMutableRawBufferPointer
    var start = 0, end = 0
    var sourceDone = false
    /// Position in the (uncompressed) tar stream, for error messages.
    public private(set) var offset: Int64 = 0
    var remaining: Int64 = 0        // stored data bytes of the current member not yet consumed
    var pad = 0
    var current: TarEntry?
    let name: String

    static let maxPax = 1 << 20
    static let maxLongName = 64 << 10
    static let maxSparseRegions = 1_000_000

    public init(source: ByteSource, name: String, bufferSize: Int = 1 << 20) {
        self.source = source
        self.name = name
        buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: bufferSize, alignment: 4096)
    }

    deinit { buffer.deallocate() }

    /// Makes at least `n` bytes available at buffer[start...]; false at the end of the stream.
    func ensure(_ n: Int) throws -> Bool {
        if end - start >= n { return true }
        if start > 0 {
            if end > start {
                UnsafeMutableRawBufferPointer(rebasing: buffer[0..<(end - start)])
                    .copyMemory(from: UnsafeRawBufferPointer(rebasing: buffer[start..<end]))
            }
            end -= start
            start = 0
        }
        while end < n && !sourceDone {
            let got = try source.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[end...]))
            if got == 0 { sourceDone = true } else { end += got }
        }
        return end - start >= n
    }

    func consume(_ n: Int) {
        start += n
        offset += Int64(n)
    }

    func truncated(_ what: String) -> ArchiveError {
        ArchiveError(.truncated, "\(name): the archive ends early, \(what) at byte \(offset) (truncated)", path: name)
    }

    /// Skips `n` bytes of the stream.
    func skip(_ n: Int64) throws {
        var left = n
        while left > 0 {
            if start == end {
                guard try ensure(1) else { throw truncated("inside a member's data") }
            }
            let k = Int(min(Int64(end - start), left))
            consume(k)
            left -= Int64(k)
        }
    }

    /// Reads `n` bytes (a pax header, a long name), bounded by the caller.
    func readSmall(_ n: Int) throws -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(n)
        var left = n
        while left > 0 {
            if start == end {
                guard try ensure(1) else { throw truncated("inside a header's data") }
            }
            let k = min(end - start, left)
            out += UnsafeRawBufferPointer(rebasing: buffer[start..<(start + k)])
            consume(k)
            left -= k
        }
        return out
    }

    func readBlock() throws -> [UInt8]? {
        guard try ensure(512) else {
            if end - start == 0 { return nil }
            throw truncated("inside a header")
        }
        let b = Array(UnsafeRawBufferPointer(rebasing: buffer[start..<(start + 512)]))
        consume(512)
        return b
    }

    /// The next member, or nil at the end of the archive. Unread data of the previous member
    /// is skipped.
    public func next() throws -> TarEntry? {
        try skip(remaining + Int64(pad))
        remaining = 0
        pad = 0
        current = nil
        var pax: [String: [UInt8]] = [:]
        var sparse00: [Int64] = []
        var longName: [UInt8]? = nil
        var longLink: [UInt8]? = nil
        while true {
            let headerOffset = offset
            guard let block = try readBlock() else { throw truncated("before the end-of-archive blocks") }
            let header = block
            if header.withUnsafeBytes({ TarBlock.isZero($0) }) {
                // end of archive: a second zero block (or the end of the stream) follows
                _ = try readBlock()
                return nil
            }
            let sums = header.withUnsafeBytes { TarBlock.checksums($0) }
            guard let stored = header.withUnsafeBytes({ TarBlock.number($0, 148, 8) }), stored == sums.unsigned || stored == sums.signed else {
                throw ArchiveError(.corrupt, "\(name): bad header checksum at byte \(headerOffset) (not a tar archive, or corrupt)", path: name)
            }
            let flag = header[156]
            guard let size = header.withUnsafeBytes({ TarBlock.number($0, 124, 12) }), size >= 0 else {
                throw ArchiveError(.corrupt, "\(name): bad size field at byte \(headerOffset)", path: name)
            }
            switch flag {
            case 0x78, 0x67, 0x58:  // 'x', 'g' (global: read and not applied), 'X' (old Solaris)
                guard size <= TarReader.maxPax else { throw ArchiveError(.corrupt, "\(name): pax header of \(size) bytes at byte \(headerOffset) is too large", path: name) }
                let data = try readSmall(Int(size))
                try skip(Int64(TarWriter.padding(size)))
                guard let parsed = PaxRecords.decode(data) else {
                    throw ArchiveError(.corrupt, "\(name): malformed pax header at byte \(headerOffset)", path: name)
                }
                if flag != 0x67 {
                    for (k, v) in parsed.records { pax[k] = v }
                    sparse00 += parsed.sparse00
                }
                continue
            case 0x4c, 0x4b:  // GNU 'L' long name, 'K' long link name
                guard size <= TarReader.maxLongName else { throw ArchiveError(.corrupt, "\(name): long name of \(size) bytes at byte \(headerOffset)", path: name) }
                var data = try readSmall(Int(size))
                try skip(Int64(TarWriter.padding(size)))
                if let z = data.firstIndex(of: 0) { data.removeSubrange(z...) }
                if flag == 0x4c { longName = data } else { longLink = data }
                continue
            default:
                break
            }
            return try member(header, flag: flag, size: size, pax: pax, sparse00: sparse00, longName: longName, longLink: longLink, at: headerOffset)
        }
    }

    func member(_ header: [UInt8], flag: UInt8, size: Int64, pax: [String: [UInt8]], sparse00: [Int64],
                longName: [UInt8]?, longLink: [UInt8]?, at headerOffset: Int64) throws -> TarEntry {
        _ = header[257..<263].elementsEqual(Array("ustar ".utf8))
        let isPosix = header[257..<262].elementsEqual(Array("ustar".utf8)) && header[262] == 0
        var path: [UInt8] = header.withUnsafeBytes { TarBlock.string($0, 0, 100) }
        if isPosix {
            let prefix = header.withUnsafeBytes { TarBlock.string($0, 345, 155) }
            if !prefix.isEmpty { path = prefix + [0x2f] + path }
        }
        if let longName { path = longName }
        if let p = pax["path"] { path = p }

        let kind: TarEntry.Kind
        switch flag {
        case 0x30, 0, 0x37, 0x53: kind = .file
        case 0x31: kind = .hardlink
        case 0x32: kind = .symlink
        case 0x33: kind = .characterDevice
        case 0x34: kind = .blockDevice
        case 0x35, 0x44: kind = .directory     // 'D': GNU dumpdir, a directory with a listing
        case 0x36: kind = .fifo
        default: kind = .other(flag)
        }
        var e = TarEntry(path: path, kind: kind)
        let num: (Int, Int) -> Int64 = { o, l in header.withUnsafeBytes { TarBlock.number($0, o, l) } ?? 0 }
        e.mode = UInt32(truncatingIfNeeded: num(100, 8)) & 0o7777
        e.uid = num(108, 8)
        e.gid = num(116, 8)
        e.mtime = num(136, 12)
        e.linkTarget = longLink ?? header.withUnsafeBytes { TarBlock.string($0, 157, 100) }
        e.userName = header.withUnsafeBytes { TarBlock.string($0, 265, 32) }
        e.groupName = header.withUnsafeBytes { TarBlock.string($0, 297, 32) }
        e.deviceMajor = num(329, 8)
        e.deviceMinor = num(337, 8)
        var stored = size
        if let v = pax["size"], let n = Int64(String(decoding: v, as: UTF8.self)) { stored = n }
        if let v = pax["linkpath"] { e.linkTarget = v }
        if let v = pax["uid"], let n = Int64(String(decoding: v, as: UTF8.self)) { e.uid = n }
        if let v = pax["gid"], let n = Int64(String(decoding: v, as: UTF8.self)) { e.gid = n }
        if let v = pax["uname"] { e.userName = v }
        if let v = pax["gname"] { e.groupName = v }
        if let v = pax["mtime"] { (e.mtime, e.mtimeNanoseconds) = TarReader.parseTime(v) ?? (e.mtime, 0) }
        while e.path.count > 1 && e.path.last == 0x2f { e.path.removeLast() }
        e.size = kind == .file ? stored : 0

        let dataSize = (kind == .file || kind == .directory || kind == .other(flag)) ? stored : 0
        remaining = (kind == .hardlink || kind == .symlink) ? stored : dataSize
        if kind == .directory && flag == 0x35 { remaining = stored }
        pad = TarWriter.padding(remaining)

        // sparse files
        if flag == 0x53 {
            var map: [SparseRegion] = []
            func take(_ b: [UInt8], _ base: Int, _ count: Int) -> Bool {
                for i in 0..<count {
                    let o = base + i * 24
                    let off = b.withUnsafeBytes { TarBlock.number($0, o, 12) }
                    let len = b.withUnsafeBytes { TarBlock.number($0, o + 12, 12) }
                    guard let off, let len else { return false }
                    if off == 0 && len == 0 && b[o] == 0 { continue }
                    map.append(SparseRegion(offset: off, length: len))
                }
                return true
            }
            guard take(header, 386, 4) else { throw ArchiveError(.corrupt, "\(name): bad sparse map at byte \(headerOffset)", path: name) }
            var extended = header[482] != 0
            while extended {
                guard let ext = try readBlock() else { throw truncated("inside a sparse header") }
                guard take(ext, 0, 21), map.count <= TarReader.maxSparseRegions else {
                    throw ArchiveError(.corrupt, "\(name): bad sparse map at byte \(headerOffset)", path: name)
                }
                extended = ext[504] != 0
            }
            e.sparseMap = map
            e.size = num(483, 12)
        } else if let major = pax["GNU.sparse.major"], let minor = pax["GNU.sparse.minor"],
                  String(decoding: major, as: UTF8.self) == "1", String(decoding: minor, as: UTF8.self) == "0" {
            if let n = pax["GNU.sparse.name"] { e.path = n }
            let real = pax["GNU.sparse.realsize"].flatMap { Int64(String(decoding: $0, as: UTF8.self)) } ?? stored
            e.size = real
            e.sparseMap = try readSparseMap10(at: headerOffset)
        } else if let m = pax["GNU.sparse.map"] {         // 0.1
            let nums = m.split(separator: 0x2c).map { Int64(String(decoding: $0, as: UTF8.self)) }
            guard nums.count % 2 == 0, nums.allSatisfy({ $0 != nil }) else { throw ArchiveError(.corrupt, "\(name): bad GNU.sparse.map at byte \(headerOffset)", path: name) }
            e.sparseMap = stride(from: 0, to: nums.count, by: 2).map { SparseRegion(offset: nums[$0]!, length: nums[$0 + 1]!) }
        } else if !sparse00.isEmpty {                      // 0.0
            guard sparse00.count % 2 == 0 else { throw ArchiveError(.corrupt, "\(name): bad sparse 0.0 map at byte \(headerOffset)", path: name) }
            e.sparseMap = stride(from: 0, to: sparse00.count, by: 2).map { SparseRegion(offset: sparse00[$0], length: sparse00[$0 + 1]) }
        }
        if e.sparseMap != nil, flag != 0x53 {
            if let n = pax["GNU.sparse.name"] { e.path = n }
            if let v = pax["GNU.sparse.realsize"] ?? pax["GNU.sparse.size"], let n = Int64(String(decoding: v, as: UTF8.self)) { e.size = n }
        }
        if let map = e.sparseMap {
            var last: Int64 = 0
            var total: Int64 = 0
            for r in map {
                guard r.offset >= last, r.length >= 0, r.offset + r.length <= e.size else {
                    throw ArchiveError(.corrupt, "\(name): sparse map of \(e.pathString) is out of order or past its size", path: name)
                }
                last = r.offset + r.length
                total += r.length
            }
            guard total == remaining else {
                throw ArchiveError(.corrupt, "\(name): sparse map of \(e.pathString) does not match its stored size", path: name)
            }
        }
        current = e
        return e
    }

    /// pax sparse 1.0: "count\n" then "offset\nlength\n" pairs in decimal, padded to a block,
    /// at the head of the member's data.
    func readSparseMap10(at headerOffset: Int64) throws -> [SparseRegion] {
        var numbers: [Int64] = []
        var cur: Int64 = 0
        var digits = 0
        var count: Int64 = -1
        var used: Int64 = 0
        while count < 0 || numbers.count < 2 * Int(count) {
            guard remaining - used >= 512, let block = try readBlock() else { throw truncated("inside a sparse map") }
            used += 512
            for c in block {
                if c == 0x0a {
                    guard digits > 0 else { throw ArchiveError(.corrupt, "\(name): bad sparse map at byte \(headerOffset)", path: name) }
                    if count < 0 {
                        count = cur
                        guard count <= TarReader.maxSparseRegions else { throw ArchiveError(.corrupt, "\(name): sparse map too large at byte \(headerOffset)", path: name) }
                    } else { numbers.append(cur) }
                    cur = 0; digits = 0
                    if count >= 0 && numbers.count == 2 * Int(count) { break }
                } else if c >= 0x30 && c <= 0x39 {
                    cur = cur * 10 + Int64(c - 0x30); digits += 1
                    guard digits <= 19 else { throw ArchiveError(.corrupt, "\(name): bad sparse map at byte \(headerOffset)", path: name) }
                } else {
                    throw ArchiveError(.corrupt, "\(name): bad sparse map at byte \(headerOffset)", path: name)
                }
            }
        }
        remaining -= used
        return stride(from: 0, to: numbers.count, by: 2).map { SparseRegion(offset: numbers[$0], length: numbers[$0 + 1]) }
    }

    static func parseTime(_ v: [UInt8]) -> (Int64, Int32)? {
        let s = String(decoding: v, as: UTF8.self)
        let parts = s.split(separator: ".", maxSplits: 1)
        guard let sec = Int64(parts[0]) else { return nil }
        var ns: Int32 = 0
        if parts.count == 2 {
            var f = String(parts[1].prefix(9))
            while f.count < 9 { f += "0" }
            guard let n = Int32(f) else { return nil }
            ns = sec < 0 && n > 0 ? -n : n
        }
        return (sec, ns)
    }

    /// Streams the current member's data: `body(logicalOffset, bytes)`; for a sparse file the
    /// regions arrive at their offsets (the holes are not sent).
    public func readData(_ body: (Int64, UnsafeRawBufferPointer) throws -> Void) throws {
        guard let e = current else { return }
        let regions = e.sparseMap ?? [SparseRegion(offset: 0, length: remaining)]
        for r in regions {
            var left = r.length
            var pos = r.offset
            while left > 0 {
                if start == end {
                    guard try ensure(1) else { throw truncated("inside the data of \(e.pathString)") }
                }
                let k = Int(min(Int64(end - start), left))
                try body(pos, UnsafeRawBufferPointer(rebasing: buffer[start..<(start + k)]))
                consume(k)
                left -= Int64(k)
                pos += Int64(k)
                remaining -= Int64(k)
            }
        }
    }

    /// Reads a small member's data whole (a symlink's data, a manifest), bounded.
    public func readAll(limit: Int) throws -> [UInt8] {
        guard remaining <= Int64(limit) else {
            throw ArchiveError(.corrupt, "\(name): member \(current?.pathString ?? "") is larger than \(limit) bytes", path: name)
        }
        let d = try readSmall(Int(remaining))
        remaining = 0
        return d
    }
}
