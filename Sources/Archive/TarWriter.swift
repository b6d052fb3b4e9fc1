import CDyn
import Glibc

/// Writes a POSIX (pax) tar stream: a ustar header for every member, preceded by a pax 'x'
/// header when a value does not fit ustar (paths over 100 bytes, links over 100, sizes from
/// 8 GiB, ids from 2^21, long owner names) or loses precision (nanosecond mtimes). Sparse
/// files use GNU's pax sparse format 1.0 (the map at the head of the data), which GNU tar
/// 1.28+ and libarchive restore as sparse. Output goes through one 1 MiB buffer; file data is
/// read straight into it.
public final class TarWriter {
    let sink: ByteSink
    let buffer: UnsafeMutableRawBufferPointer
    var fill = 0
    public private(set) var bytesOut: Int64 = 0
    var finished = false

    public init(sink: ByteSink, bufferSize: Int = 1 << 20) {
        self.sink = sink
        buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: bufferSize, alignment: 4096)
    }

    deinit { buffer.deallocate() }

    func flush() throws {
        if fill > 0 {
            try sink.write(UnsafeRawBufferPointer(rebasing: buffer[0..<fill]))
            bytesOut += Int64(fill)
            fill = 0
        }
    }

    /// Room for at least `n` bytes at buffer[fill...] (n <= buffer size).
    func reserve(_ n: Int) throws {
        if buffer.count - fill < n { try flush() }
    }

    func append(_ bytes: UnsafeRawBufferPointer) throws {
        var off = 0
        while off < bytes.count {
            if fill == buffer.count { try flush() }
            let n = min(buffer.count - fill, bytes.count - off)
            UnsafeMutableRawBufferPointer(rebasing: buffer[fill..<(fill + n)])
                .copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[off..<(off + n)]))
            fill += n
            off += n
        }
    }

    func appendZeros(_ count: Int) throws {
        var left = count
        while left > 0 {
            if fill == buffer.count { try flush() }
            let n = min(buffer.count - fill, left)
            UnsafeMutableRawBufferPointer(rebasing: buffer[fill..<(fill + n)]).initializeMemory(as: UInt8.self, repeating: 0)
            fill += n
            left -= n
        }
    }

    static func padding(_ n: Int64) -> Int { Int((512 - n % 512) % 512) }

    // MARK: headers

    static func typeflag(_ k: TarEntry.Kind) -> UInt8 {
        switch k {
        case .file: return 0x30
        case .hardlink: return 0x31
        case .symlink: return 0x32
        case .characterDevice: return 0x33
        case .blockDevice: return 0x34
        case .directory: return 0x35
        case .fifo: return 0x36
        case .other(let c): return c
        }
    }

    static func mtimeString(_ s: Int64, _ ns: Int32) -> [UInt8] {
        if ns == 0 { return Array(String(s).utf8) }
        var frac = String(ns)
        frac = String(repeating: "0", count: 9 - frac.count) + frac
        while frac.hasSuffix("0") { frac.removeLast() }
        return Array("\(s).\(frac)".utf8)
    }

    /// The ustar block for `e` with `name` and `size` as given; `records` collects what needs pax.
    func ustar(_ e: TarEntry, name: [UInt8], size: Int64, typeflag: UInt8, records: inout [(String, [UInt8])]) -> [UInt8] {
        var h = [UInt8](repeating: 0, count: 512)
        h.withUnsafeMutableBytes { b in
            TarBlock.putBytes(b, 0, 100, name)
            TarBlock.putOctal(b, 100, 8, Int64(e.mode & 0o7777))
            if TarBlock.fitsOctal(e.uid, 8) { TarBlock.putOctal(b, 108, 8, e.uid) } else { records.append(("uid", Array(String(e.uid).utf8))); TarBlock.putOctal(b, 108, 8, 0) }
            if TarBlock.fitsOctal(e.gid, 8) { TarBlock.putOctal(b, 116, 8, e.gid) } else { records.append(("gid", Array(String(e.gid).utf8))); TarBlock.putOctal(b, 116, 8, 0) }
            if TarBlock.fitsOctal(size, 12) { TarBlock.putOctal(b, 124, 12, size) } else { records.append(("size", Array(String(size).utf8))); TarBlock.putOctal(b, 124, 12, 0) }
            if TarBlock.fitsOctal(e.mtime, 12) { TarBlock.putOctal(b, 136, 12, e.mtime) } else { TarBlock.putOctal(b, 136, 12, 0) }
            if e.mtimeNanoseconds != 0 || !TarBlock.fitsOctal(e.mtime, 12) {
                records.append(("mtime", TarWriter.mtimeString(e.mtime, e.mtimeNanoseconds)))
            }
            b[156] = typeflag
            if e.linkTarget.count > 100 { records.append(("linkpath", e.linkTarget)) }
            TarBlock.putBytes(b, 157, 100, e.linkTarget)
            TarBlock.putBytes(b, 257, 6, Array("ustar".utf8) + [0])
            b[263] = 0x30; b[264] = 0x30
            if e.userName.count > 31 { records.append(("uname", e.userName)) } else { TarBlock.putBytes(b, 265, 32, e.userName) }
            if e.groupName.count > 31 { records.append(("gname", e.groupName)) } else { TarBlock.putBytes(b, 297, 32, e.groupName) }
            if e.kind == .characterDevice || e.kind == .blockDevice {
                TarBlock.putOctal(b, 329, 8, e.deviceMajor)
                TarBlock.putOctal(b, 337, 8, e.deviceMinor)
            }
        }
        return h
    }

    func writeBlock(_ h: inout [UInt8]) throws {
        h.withUnsafeMutableBytes { TarBlock.finishChecksum($0) }
        try h.withUnsafeBytes { (p) in try append(p) }
    }

    /// Writes the headers of `e` (pax first when needed). `storedSize` is the size field: the
    /// data that follows in the archive (for a sparse file, its map block and regions).
    func writeHeaders(_ e: TarEntry, storedSize: Int64, extra: [(String, [UInt8])] = [], nameOverride: [UInt8]? = nil) throws {
        var records = extra
        var name = nameOverride ?? e.path
        if e.kind == .directory && name.last != 0x2f { name.append(0x2f) }
        if nameOverride == nil && name.count > 100 {
            records.append(("path", name))
            name = Array(name.prefix(100))
        }
        var block = ustar(e, name: name, size: storedSize, typeflag: TarWriter.typeflag(e.kind), records: &records)
        if !records.isEmpty {
            let data = PaxRecords.encode(records)
            let base = e.path.split(separator: 0x2f).last.map(Array.init) ?? Array("member".utf8)
            var pe = TarEntry(path: Array("PaxHeaders/".utf8) + base.prefix(80), kind: .other(0x78))
            pe.mode = 0o644
            pe.mtime = max(0, min(e.mtime, 0o77777777777))
            var ignored: [(String, [UInt8])] = []
            var ph = ustar(pe, name: pe.path, size: Int64(data.count), typeflag: 0x78, records: &ignored)
            try writeBlock(&ph)
            try data.withUnsafeBytes { (p) in try append(p) }
            try appendZeros(TarWriter.padding(Int64(data.count)))
        }
        try writeBlock(&block)
    }

    // MARK: members

    /// A member without data (directory, symlink, hard link, device, fifo).
    public func add(_ e: TarEntry) throws {
        try writeHeaders(e, storedSize: 0)
    }

    /// A regular file whose bytes come from `fd` (read from the current offset for a dense file,
    /// by offset for a sparse one). A dense file's bytes also go to `digest` when given; for a
    /// sparse file the digest is its regions digest (`SparseRegion.digestPrefix` then the data
    /// regions), so gigabytes of holes are never hashed.
    /// A file that shrank while being read is padded with zeros (as GNU tar does) and reported
    /// through the return value: the number of bytes that were missing.
    @discardableResult
    public func addFile(_ e: TarEntry, fd: Int32, path: String, digest: Digest?) throws -> Int64 {
        if let map = e.sparseMap {
            return try addSparse(e, map: map, fd: fd, path: path, digest: digest)
        }
        try writeHeaders(e, storedSize: e.size)
        let missing = try copyData(fd: fd, offset: nil, count: e.size, path: path, digest: digest)
        try appendZeros(TarWriter.padding(e.size))
        return missing
    }

    /// Copies `count` bytes of fd into the stream (pread at `offset` when given).
    func copyData(fd: Int32, offset: Int64?, count: Int64, path: String, digest: Digest?) throws -> Int64 {
        var left = count
        var pos = offset ?? 0
        while left > 0 {
            if fill == buffer.count { try flush() }
            let want = Int(min(Int64(buffer.count - fill), left))
            let dst = buffer.baseAddress! + fill
            let n = offset == nil ? Glibc.read(fd, dst, want) : pread(fd, dst, want, off_t(pos))
            if n < 0 {
                if errno == EINTR { continue }
                throw ArchiveError.errno("cannot read", path, errno)
            }
            if n == 0 {
                // the file shrank: keep the archive consistent with the header
                let missing = left
                try appendZerosHashing(Int(left), digest)
                return missing
            }
            digest?.update(UnsafeRawBufferPointer(start: dst, count: n))
            fill += n
            left -= Int64(n)
            pos += Int64(n)
        }
        return 0
    }

    func appendZerosHashing(_ n: Int, _ digest: Digest?) throws {
        if let digest { hashZeros(Int64(n), digest) }
        try appendZeros(n)
    }

    nonisolated(unsafe) static let zeroBlock = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 64).initializedZeros()

    func hashZeros(_ n: Int64, _ digest: Digest) {
        var left = n
        while left > 0 {
            let k = Int(min(left, Int64(TarWriter.zeroBlock.count)))
            digest.update(UnsafeRawBufferPointer(rebasing: TarWriter.zeroBlock[0..<k]))
            left -= Int64(k)
        }
    }

    func addSparse(_ e: TarEntry, map: [SparseRegion], fd: Int32, path: String, digest: Digest?) throws -> Int64 {
        try beginSparse(e, map: map)
        digest?.update(SparseRegion.digestPrefix(map))
        var missing: Int64 = 0
        for r in map {
            missing += try copyData(fd: fd, offset: r.offset, count: r.length, path: path, digest: digest)
        }
        try appendZeros(TarWriter.padding(map.reduce(Int64(0)) { $0 + $1.length }))
        return missing
    }

    /// Streams a member whose data comes from elsewhere (another archive): headers now, then
    /// exactly `e.storedDataSize` bytes through `appendData`, then `endMember`.
    public func beginMember(_ e: TarEntry) throws {
        if let map = e.sparseMap { try beginSparse(e, map: map) } else { try writeHeaders(e, storedSize: e.kind == .file ? e.size : 0) }
    }

    public func appendData(_ bytes: UnsafeRawBufferPointer) throws { try append(bytes) }

    public func endMember(_ e: TarEntry) throws {
        try appendZeros(TarWriter.padding(e.storedDataSize))
    }

    /// The pax headers and the map block of a sparse member (its regions follow).
    func beginSparse(_ e: TarEntry, map: [SparseRegion]) throws {
        let mapBytes = SparseRegion.digestPrefix(map)
        let mapSize = Int64(mapBytes.count + TarWriter.padding(Int64(mapBytes.count)))
        let dataSize = map.reduce(Int64(0)) { $0 + $1.length }
        // GNU's convention for the ustar name of a pax 1.0 sparse member: DIR/GNUSparseFile.0/BASE
        var comps = e.path.split(separator: 0x2f, omittingEmptySubsequences: false).map(Array.init)
        let base = comps.removeLast()
        let dir = comps.isEmpty ? [] : comps.joined(separator: [0x2f]) + [0x2f]
        let fake = Array((dir + Array("GNUSparseFile.0/".utf8) + base).prefix(100))
        try writeHeaders(e, storedSize: mapSize + dataSize, extra: [
            ("GNU.sparse.major", Array("1".utf8)), ("GNU.sparse.minor", Array("0".utf8)),
            ("GNU.sparse.name", e.path), ("GNU.sparse.realsize", Array(String(e.size).utf8)),
        ], nameOverride: fake)
        try mapBytes.withUnsafeBytes { (p) in try append(p) }
        try appendZeros(TarWriter.padding(Int64(mapBytes.count)))
    }

    /// The end-of-archive marker (two zero blocks), padded to GNU tar's 10 KiB record, then
    /// flushed and the sink finished.
    public func finish() throws {
        guard !finished else { return }
        finished = true
        try appendZeros(1024)
        let total = bytesOut + Int64(fill)
        try appendZeros(Int((10240 - total % 10240) % 10240))
        try flush()
        try sink.finish()
    }
}

extension UnsafeMutableRawBufferPointer {
    func initializedZeros() -> UnsafeMutableRawBufferPointer {
        initializeMemory(as: UInt8.self, repeating: 0)
        return self
    }
}

/// The data regions of a file, found with SEEK_DATA/SEEK_HOLE; nil when the file has no holes
/// (or the filesystem cannot say). A file ending in a hole gets a final empty region at its
/// size, as GNU tar writes it, so readers know the real size from the map alone.
public func sparseRegions(fd: Int32, size: Int64) -> [SparseRegion]? {
    var regions: [SparseRegion] = []
    var pos: Int64 = 0
    while pos < size {
        let data = opsh_seek_data(fd, pos)
        if data < 0 { break }   // ENXIO: only a hole remains
        var hole = opsh_seek_hole(fd, data)
        if hole < 0 || hole > size { hole = size }
        regions.append(SparseRegion(offset: data, length: hole - data))
        pos = hole
    }
    _ = lseek(fd, 0, SEEK_SET)
    if regions.count == 1 && regions[0].offset == 0 && regions[0].length == size { return nil }
    if regions.last.map({ $0.offset + $0.length }) != size {
        regions.append(SparseRegion(offset: size, length: 0))
    }
    return regions
}
