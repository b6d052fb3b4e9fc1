import Glibc

/// One access-log line in the combined format (nginx's default and Apache's), read in place:
///
///     203.0.113.9 - alice [10/Oct/2026:13:55:36 +0000] "GET /api/x?q=1 HTTP/1.1" 200 2326 "ref" "agent" 0.042
///
/// The referer, user agent and anything after them are optional; a last field that is a
/// number (nginx's `$request_time`, seconds with a fraction, or `rt=0.042`) is read as the
/// response time. A request with quotes inside (Apache escapes them as `\"`) is skipped over.
struct AccessLine {
    var ipEnd = 0
    var timeStart = 0, timeEnd = 0
    var pathStart = 0, pathEnd = 0
    var status = 0
    /// Milliseconds, or -1 when the line has none.
    var responseMs = -1

    /// Reads the line's fields; false when it is not a combined-format line. Every line is
    /// checked as far as its status; the path and the response time are read only when asked
    /// (`wantPath`, `wantTime`): the top-IP and status reports need neither, and the response
    /// time is behind the user agent, most of the line. `readable` bytes from p may be read
    /// (at least n): the client's end is found eight bytes at a time.
    @inline(__always) mutating func parse(_ p: UnsafePointer<UInt8>, _ n: Int, readable: Int,
                                          wantPath: Bool, wantTime: Bool, timeScale: Double) -> Bool {
        // client address: the first field
        var i = AccessLine.firstSpace(p, n, readable: readable)
        if i == 0 || i >= n { return false }
        ipEnd = i
        // ident, user, then [time]
        while i < n && p[i] != 0x5B { i += 1 }
        if i >= n { return false }
        timeStart = i + 1
        guard let close = find(p, n, from: timeStart, 0x5D) else { return false }
        timeEnd = close
        i = close + 1
        // "request"
        if i + 2 > n || p[i] != 0x20 || p[i + 1] != 0x22 { return false }
        let reqStart = i + 2
        var j = reqStart
        while true {
            guard let q = find(p, n, from: j, 0x22) else { return false }
            if q > reqStart && p[q - 1] == 0x5C { j = q + 1; continue }
            j = q
            break
        }
        // status: three digits
        i = j + 1
        if i + 4 > n || p[i] != 0x20 { return false }
        let a = Int(p[i + 1]) &- 48, b = Int(p[i + 2]) &- 48, c = Int(p[i + 3]) &- 48
        if a < 0 || a > 9 || b < 0 || b > 9 || c < 0 || c > 9 { return false }
        if i + 4 < n && p[i + 4] != 0x20 { return false }
        status = a * 100 + b * 10 + c
        rest(p, n, request: reqStart, end: j, wantPath: wantPath, wantTime: wantTime, timeScale: timeScale)
        return true
    }

    /// The fields after the status, from a head found by `parse` or by CLogScan's
    /// `opsh_access_lines` (the request p[request..<end), its closing quote at `end`): the path
    /// and the response time, each only when asked.
    @inline(__always) mutating func rest(_ p: UnsafePointer<UInt8>, _ n: Int, request reqStart: Int, end j: Int,
                                         wantPath: Bool, wantTime: Bool, timeScale: Double) {
        // the path: the request's second word, without its query
        pathStart = reqStart; pathEnd = reqStart
        var k = reqStart
        if wantPath { while k < j && p[k] != 0x20 { k += 1 } }
        if wantPath && k < j {
            pathStart = k + 1
            var e = pathStart
            while e < j && p[e] != 0x20 && p[e] != 0x3F { e += 1 }
            pathEnd = e
        }
        // bytes, then optional "referer" "agent" and trailing fields: the response time is the
        // last field when it is a number and something follows the agent
        responseMs = -1
        let i = j + 5
        if wantTime && i < n {
            // past the referer's and the agent's quotes (memchr: the agent is most of the line)
            var x = i
            var quotes = 0
            while quotes < 4, let q = find(p, n, from: x, 0x22) { quotes += 1; x = q + 1 }
            if quotes == 4 && x < n { responseMs = AccessLine.trailingNumber(p, n, from: x, scale: timeScale) }
        }
    }

    /// The index of the first space in p[0..<n), or n: eight bytes at a time while `readable`
    /// allows (a word with a zero byte after XOR with spaces), then byte by byte.
    @inline(__always) static func firstSpace(_ p: UnsafePointer<UInt8>, _ n: Int, readable: Int) -> Int {
        var i = 0
        let raw = UnsafeRawPointer(p)
        while i + 8 <= readable && i < n {
            let x = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)) ^ 0x2020_2020_2020_2020
            let z = (x &- 0x0101_0101_0101_0101) & ~x & 0x8080_8080_8080_8080
            if z != 0 { return min(n, i + z.trailingZeroBitCount >> 3) }
            i += 8
        }
        while i < n && p[i] != 0x20 { i += 1 }
        return min(i, n)
    }

    @inline(__always) func find(_ p: UnsafePointer<UInt8>, _ n: Int, from: Int, _ byte: UInt8) -> Int? {
        if from >= n { return nil }
        guard let r = memchr(p + from, Int32(byte), n - from) else { return nil }
        return p.distance(to: r.assumingMemoryBound(to: UInt8.self))
    }

    /// The last whitespace-separated field after `from` as a time in milliseconds (`0.042`,
    /// `rt=0.042`, `request_time=0.042`), scaled from the log's unit; -1 if it is not a number.
    static func trailingNumber(_ p: UnsafePointer<UInt8>, _ n: Int, from: Int, scale: Double) -> Int {
        var e = n
        while e > from && (p[e - 1] == 0x20 || p[e - 1] == 0x0D || p[e - 1] == 0x09) { e -= 1 }
        var s = e
        while s > from && p[s - 1] != 0x20 && p[s - 1] != 0x3D && p[s - 1] != 0x09 { s -= 1 }
        if s >= e { return -1 }
        var whole = 0, frac = 0.0, div = 1.0, seenDot = false, any = false
        for k in s..<e {
            let c = p[k]
            if c == 0x2E && !seenDot { seenDot = true; continue }
            let d = Int(c) &- 48
            if d < 0 || d > 9 { return -1 }
            any = true
            if seenDot { div *= 10; frac += Double(d) / div } else { whole = whole &* 10 &+ d }
        }
        if !any { return -1 }
        return Int(((Double(whole) + frac) * scale).rounded())
    }
}
