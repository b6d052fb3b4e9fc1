import Glibc

/// Takes a server's RDB snapshot by replication, as `redis-cli --rdb` does: AUTH if needed,
/// `REPLCONF capa eof` (so a Redis 7 master with repl-diskless-sync streams it without a disk
/// round trip), `REPLCONF rdb-only 1` (no replication backlog kept for us; older servers refuse
/// it, which is fine), then `SYNC`. The payload comes framed either as `$<length>\r\n` (disk-
/// based) or `$EOF:<40-byte mark>\r\n ... <mark>` (diskless); newlines before it are the
/// master's keepalives while it prepares the snapshot. The bytes go to `write` as they arrive
/// (bounded memory) and must start with the RDB magic "REDIS". DragonflyDB refuses SYNC: that
/// is reported as `.handshake` with the server's error, and callers take a snapshot another way.
/// TLS endpoints are not supported here (the snapshot is taken on the local machine).
public enum RESPReplica {
    public struct Result: Sendable {
        public var bytes: Int64
        /// "length" or "eof" (diskless).
        public var framing: String
    }

    final class Conn {
        let fd: Int32
        var buf = [UInt8](repeating: 0, count: 1 << 20)
        var start = 0, end = 0
        init(fd: Int32) { self.fd = fd }
        deinit { Glibc.close(fd) }

        func send(_ args: [String]) throws(RESPError) {
            var out = Array("*\(args.count)\r\n".utf8)
            for a in args { out += Array("$\(a.utf8.count)\r\n".utf8) + Array(a.utf8) + [13, 10] }
            var off = 0
            while off < out.count {
                let n = out.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + off, $0.count - off) }
                if n < 0 { if errno == EINTR { continue }; throw RESPError(.io, "write: \(RESPSocket.errnoText(errno))") }
                off += n
            }
        }

        func fill() throws(RESPError) {
            if start == end { start = 0; end = 0 }
            if end == buf.count {
                buf.withUnsafeMutableBytes { p in p.baseAddress!.copyMemory(from: p.baseAddress! + start, byteCount: end - start) }
                end -= start; start = 0
            }
            let n = buf.withUnsafeMutableBytes { p in Glibc.read(fd, p.baseAddress! + end, p.count - end) }
            if n < 0 {
                if errno == EINTR { return }
                if errno == EAGAIN || errno == EWOULDBLOCK { throw RESPError(.timeout, "the server sent nothing for too long") }
                throw RESPError(.io, "read: \(RESPSocket.errnoText(errno))")
            }
            if n == 0 { throw RESPError(.closedByServer, "the server closed the connection") }
            end += n
        }

        /// One line without its CRLF (bounded).
        func line() throws(RESPError) -> [UInt8] {
            while true {
                if let i = buf[start..<end].firstIndex(of: 10) {
                    var l = Array(buf[start..<i])
                    start = i + 1
                    if l.last == 13 { l.removeLast() }
                    return l
                }
                if end - start > 64 << 10 { throw RESPError(.protocolError, "reply line too long") }
                try fill()
            }
        }
    }

    static func find(_ mark: [UInt8], in b: [UInt8], _ from: Int, _ to: Int) -> Int? {
        var i = from
        while i + mark.count <= to {
            guard let j = b[i..<(to - mark.count + 1)].firstIndex(of: mark[0]) else { return nil }
            if b[j..<(j + mark.count)].elementsEqual(mark) { return j }
            i = j + 1
        }
        return nil
    }

    public static func fetchRDB(endpoint: RESPEndpoint, timeout: Double = 60,
                                write: (UnsafeRawBufferPointer) throws -> Void) throws -> Result {
        guard endpoint.tls == nil else { throw RESPError(.badURL, "taking an RDB over TLS is not supported; use BGSAVE and copy the file") }
        let addrs: [RESPSocket.Address]
        switch endpoint.address {
        case .tcp(let h, let p): addrs = try RESPSocket.resolve(host: h, port: p)
        case .unix(let path): addrs = [try RESPSocket.unixAddress(path)]
        }
        var fd: Int32 = -1
        var lastErr: Int32 = 0
        for a in addrs {
            let s = socket(a.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            if s < 0 { lastErr = errno; continue }
            var st = a.storage
            let rc = withUnsafePointer(to: &st) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(s, $0, a.length) } }
            if rc == 0 { fd = s; break }
            lastErr = errno
            Glibc.close(s)
        }
        guard fd >= 0 else {
            throw RESPError(lastErr == ECONNREFUSED || lastErr == ENOENT ? .connectRefused : .connect,
                            "cannot connect to \(endpoint): \(RESPSocket.errnoText(lastErr))")
        }
        var tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - timeout.rounded(.down)) * 1e6))
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        _ = setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let c = Conn(fd: fd)
        if let pw = endpoint.password {
            try c.send(endpoint.username.map { ["AUTH", $0, pw] } ?? ["AUTH", pw])
            let l = try c.line()
            guard l.first == 0x2b else {
                let text = String(decoding: l.dropFirst(), as: UTF8.self)
                throw RESPError(.handshake, "AUTH refused: \(text)", serverCode: text.split(separator: " ").first.map(String.init))
            }
        }
        try c.send(["REPLCONF", "capa", "eof"])
        let capa = try c.line()
        if capa.first == 0x2d {
            let text = String(decoding: capa.dropFirst(), as: UTF8.self)
            throw RESPError(.handshake, "the server refuses replication (REPLCONF): \(text)", serverCode: text.split(separator: " ").first.map(String.init))
        }
        try c.send(["REPLCONF", "rdb-only", "1"])
        _ = try c.line()     // -ERR on servers before 7.0: harmless
        try c.send(["SYNC"])
        // keepalive newlines, then the bulk header
        var header: [UInt8]
        repeat { header = try c.line() } while header.isEmpty
        if header.first == 0x2d {
            let text = String(decoding: header.dropFirst(), as: UTF8.self)
            throw RESPError(.handshake, "the server refuses SYNC: \(text)", serverCode: text.split(separator: " ").first.map(String.init))
        }
        guard header.first == 0x24 else { throw RESPError(.protocolError, "unexpected reply to SYNC: \(String(decoding: header.prefix(80), as: UTF8.self))") }
        var total: Int64 = 0
        var checkedMagic = false
        func emit(_ p: UnsafeRawBufferPointer) throws {
            if p.count == 0 { return }
            if !checkedMagic {
                guard p.count >= 5 || total > 0 else { throw RESPError(.protocolError, "RDB payload too short") }
                guard Array(p.prefix(5)) == Array("REDIS".utf8) else { throw RESPError(.protocolError, "the payload is not an RDB file (no REDIS magic)") }
                checkedMagic = true
            }
            try write(p)
            total += Int64(p.count)
        }
        let h = Array(header.dropFirst())
        if h.starts(with: Array("EOF:".utf8)) {
            let mark = Array(h.dropFirst(4))
            guard mark.count == 40 else { throw RESPError(.protocolError, "bad EOF mark in the SYNC reply") }
            // everything up to the mark (the master may send more after it); the last 39 bytes
            // are held back until more arrive, since the mark may be split between reads
            while true {
                if let i = find(mark, in: c.buf, c.start, c.end) {
                    try c.buf.withUnsafeBytes { try emit(UnsafeRawBufferPointer(rebasing: $0[c.start..<i])) }
                    c.start = i + 40
                    break
                }
                if c.end - c.start > 39 {
                    let n = c.end - c.start - 39
                    try c.buf.withUnsafeBytes { try emit(UnsafeRawBufferPointer(rebasing: $0[c.start..<(c.start + n)])) }
                    c.start += n
                }
                try c.fill()
            }
            return Result(bytes: total, framing: "eof")
        }
        guard let len = Int64(String(decoding: h, as: UTF8.self)), len >= 0 else {
            throw RESPError(.protocolError, "bad length in the SYNC reply: \(String(decoding: h.prefix(40), as: UTF8.self))")
        }
        var left = len
        while left > 0 {
            if c.start == c.end { try c.fill() }
            let k = Int(min(Int64(c.end - c.start), left))
            try c.buf.withUnsafeBytes { try emit(UnsafeRawBufferPointer(rebasing: $0[c.start..<(c.start + k)])) }
            c.start += k
            left -= Int64(k)
        }
        return Result(bytes: total, framing: "length")
    }
}
