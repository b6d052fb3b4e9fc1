import Glibc

/// One 512-byte tar header block: the ustar layout, GNU's extensions to it (old sparse map,
/// base-256 numbers) and the pax records that lift its limits. Pure encoding and decoding:
/// no I/O here (TarWriter and TarReader do that).
///
/// Offsets (POSIX.1-2017 pax/ustar; GNU tar's manual "Basic Tar Format"):
/// name 0/100, mode 100/8, uid 108/8, gid 116/8, size 124/12, mtime 136/12, chksum 148/8,
/// typeflag 156, linkname 157/100, magic 257/6, version 263/2, uname 265/32, gname 297/32,
/// devmajor 329/8, devminor 337/8, prefix 345/155. GNU "ustar  \0" headers put atime/ctime and
/// the old sparse map where the prefix would be: sparse entries at 386 (4 x 24), isextended 482,
/// realsize 483/12.
public enum TarBlock {
    public static let size = 512

    // MARK: numbers

    /// Reads a numeric field: octal (NUL/space padded) or GNU base-256 (high bit of the first
    /// byte set; 0xff first byte is negative). Returns nil for garbage.
    public static func number(_ b: UnsafeRawBufferPointer, _ off: Int, _ len: Int) -> Int64? {
        let first = b[off]
        if first & 0x80 != 0 {
            // base-256, two's complement, big-endian
            let negative = first & 0x40 != 0
            var v: Int64 = negative ? -1 : 0
            var bytes = Array(b[off..<(off + len)])
            bytes[0] &= 0x7f
            if negative { bytes[0] |= 0x80 }
            var significant = 0
            for x in bytes {
                if !negative && significant == 0 && x == 0 { continue }
                significant += 1
                if significant > 8 { return nil }
                v = (v << 8) | Int64(x)
            }
            return v
        }
        var i = off
        let end = off + len
        while i < end && (b[i] == 0x20 || b[i] == 0) { i += 1 }   // leading spaces (and empty fields)
        var v: Int64 = 0
        var digits = 0
        while i < end, b[i] >= 0x30, b[i] <= 0x37 {
            if v > (Int64.max >> 3) { return nil }
            v = v << 3 | Int64(b[i] - 0x30)
            i += 1
            digits += 1
        }
        // what follows the digits must be a terminator
        while i < end {
            if b[i] != 0 && b[i] != 0x20 { return nil }
            i += 1
        }
        return v
    }

    /// Writes `v` as zero-padded octal with a NUL terminator; false if it does not fit
    /// (the caller then puts it in a pax record).
    @discardableResult
    public static func putOctal(_ b: UnsafeMutableRawBufferPointer, _ off: Int, _ len: Int, _ v: Int64) -> Bool {
        guard v >= 0 else { return false }
        var x = v
        var i = len - 2
        b[off + len - 1] = 0
        while i >= 0 {
            b[off + i] = UInt8(0x30 + (x & 7))
            x >>= 3
            i -= 1
        }
        return x == 0
    }

    public static func fitsOctal(_ v: Int64, _ len: Int) -> Bool {
        v >= 0 && v < (Int64(1) << (3 * Int64(len - 1)))
    }

    // MARK: strings

    public static func string(_ b: UnsafeRawBufferPointer, _ off: Int, _ len: Int) -> [UInt8] {
        var n = 0
        while n < len && b[off + n] != 0 { n += 1 }
        return Array(b[off..<(off + n)])
    }

    public static func putBytes(_ b: UnsafeMutableRawBufferPointer, _ off: Int, _ len: Int, _ s: [UInt8]) {
        let n = min(len, s.count)
        for i in 0..<n { b[off + i] = s[i] }
    }

    // MARK: checksum

    /// Sum of the header's bytes with the checksum field counted as spaces (unsigned; some old
    /// writers summed signed bytes, which is accepted too).
    public static func checksums(_ b: UnsafeRawBufferPointer) -> (unsigned: Int64, signed: Int64) {
        var u: Int64 = 0, s: Int64 = 0
        for i in 0..<size {
            let c: UInt8 = (i >= 148 && i < 156) ? 0x20 : b[i]
            u += Int64(c)
            s += Int64(Int8(bitPattern: c))
        }
        return (u, s)
    }

    public static func isZero(_ b: UnsafeRawBufferPointer) -> Bool {
        for i in 0..<size where b[i] != 0 { return false }
        return true
    }

    public static func finishChecksum(_ b: UnsafeMutableRawBufferPointer) {
        let (u, _) = checksums(UnsafeRawBufferPointer(b))
        putOctal(b, 148, 7, u)     // six digits, NUL, then a space: what GNU tar writes
        b[155] = 0x20
    }
}

/// pax extended header records: "LEN key=value\n", LEN counting the whole record.
public enum PaxRecords {
    public static func encode(_ records: [(String, [UInt8])]) -> [UInt8] {
        var out: [UInt8] = []
        for (k, v) in records {
            let body = 1 + k.utf8.count + 1 + v.count + 1     // " key=value\n"
            var len = body + String(body).utf8.count
            if String(len).utf8.count + body != len { len = body + String(len).utf8.count }
            out += Array(String(len).utf8)
            out.append(0x20)
            out += Array(k.utf8)
            out.append(0x3d)
            out += v
            out.append(0x0a)
        }
        return out
    }

    /// Parses records; nil when malformed. Later records override earlier ones; repeated
    /// GNU.sparse.offset/numbytes (sparse 0.0) are kept in order in `sparse00`.
    public static func decode(_ data: [UInt8]) -> (records: [String: [UInt8]], sparse00: [Int64])? {
        var out: [String: [UInt8]] = [:]
        var sparse: [Int64] = []
        var i = 0
        while i < data.count {
            if data[i] == 0 { break }   // NUL padding after the records
            var len = 0
            var j = i
            while j < data.count, data[j] >= 0x30, data[j] <= 0x39 {
                len = len * 10 + Int(data[j] - 0x30)
                if len > data.count { return nil }
                j += 1
            }
            guard j < data.count, data[j] == 0x20, len > j - i + 1, i + len <= data.count, data[i + len - 1] == 0x0a else { return nil }
            let rec = data[(j + 1)..<(i + len - 1)]
            guard let eq = rec.firstIndex(of: 0x3d) else { return nil }
            let key = String(decoding: rec[rec.startIndex..<eq], as: UTF8.self)
            let value = Array(rec[(eq + 1)...])
            if key == "GNU.sparse.offset" || key == "GNU.sparse.numbytes" {
                guard let n = Int64(String(decoding: value, as: UTF8.self)) else { return nil }
                sparse.append(n)
            } else {
                out[key] = value
            }
            i += len
        }
        return (out, sparse)
    }
}
