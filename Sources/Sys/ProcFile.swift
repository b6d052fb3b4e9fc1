import Glibc

/// A failure to read the machine's state: what could not be read, and why (the errno's text).
public struct SysReadError: Error, CustomStringConvertible, Sendable {
    public let code: String
    public let message: String
    public var description: String { message }

    public init(code: String, message: String) {
        self.code = code
        self.message = message
    }

    static func errno(_ what: String, _ path: String, _ e: Int32 = Glibc.errno) -> SysReadError {
        SysReadError(code: e == EACCES || e == EPERM ? "denied" : e == ENOENT ? "not_found" : "io",
                     message: "\(what) \(path): \(String(cString: strerror(e)))")
    }
}

/// Files under /proc: small, generated on read, with a size of 0 in stat, so they are read whole
/// into one buffer with read(2) until end of file, and parsed as bytes (no String per field).
enum ProcFile {
    /// The whole file, or nil when it cannot be opened or read (a process that ended between the
    /// listing and the read, a file the user may not read).
    static func read(_ path: String, limit: Int = 1 << 24) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var out = [UInt8]()
        var chunk = 4096
        while out.count < limit {
            let start = out.count
            out.reserveCapacity(start + chunk)
            let n = withUnsafeTemporaryAllocation(of: UInt8.self, capacity: chunk) { buf -> Int in
                let n = Glibc.read(fd, buf.baseAddress, chunk)
                if n > 0 { out.append(contentsOf: buf[0..<n]) }
                return n
            }
            if n < 0 { if Glibc.errno == EINTR { continue }; return nil }
            if n == 0 { break }
            chunk = min(chunk * 2, 1 << 20)
        }
        return out
    }

    /// Like `read`, but a failure says what and why.
    static func require(_ path: String) throws(SysReadError) -> [UInt8] {
        guard let b = read(path) else { throw .errno("cannot read", path) }
        return b
    }

    /// The lines of `bytes` as slices (no trailing empty line).
    static func lines(_ bytes: [UInt8]) -> [ArraySlice<UInt8>] {
        bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true)
    }

    /// The fields of a line separated by runs of spaces or tabs.
    static func fields(_ line: ArraySlice<UInt8>) -> [ArraySlice<UInt8>] {
        line.split(whereSeparator: { $0 == 32 || $0 == 9 })
    }

    /// A decimal number at the start of `s` (nil when there is no digit).
    static func integer<S: Collection>(_ s: S) -> Int64? where S.Element == UInt8 {
        var v: Int64 = 0, any = false, neg = false
        var i = s.startIndex
        if i < s.endIndex && s[i] == UInt8(ascii: "-") { neg = true; i = s.index(after: i) }
        while i < s.endIndex, s[i] >= 48, s[i] <= 57 {
            v = v &* 10 &+ Int64(s[i] - 48); any = true
            i = s.index(after: i)
        }
        return any ? (neg ? -v : v) : nil
    }

    /// A hexadecimal number (the /proc/net tables write addresses, ports and inodes so).
    static func hex(_ s: ArraySlice<UInt8>) -> UInt64? {
        var v: UInt64 = 0
        guard !s.isEmpty else { return nil }
        for c in s {
            let d: UInt8
            switch c {
            case 48...57: d = c - 48
            case 65...70: d = c - 55
            case 97...102: d = c - 87
            default: return nil
            }
            v = v << 4 | UInt64(d)
        }
        return v
    }

    static func string(_ s: ArraySlice<UInt8>) -> String { String(decoding: s, as: UTF8.self) }
}
