import CLogScan
import Glibc

/// The totals one thread gathers over everything it reads (merged across threads at the end):
/// the access log's clients, statuses, paths and response times.
final class Aggregates {
    let clients: ClientCounter
    let paths: ByteCounter
    /// By status code (plain memory: the inner loop pays no uniqueness check).
    let statuses = UnsafeMutablePointer<Int>.allocate(capacity: 1000)
    /// Response times by millisecond up to a minute; the last bucket holds the rest.
    let histogram = UnsafeMutablePointer<Int>.allocate(capacity: Aggregates.buckets + 1)
    var timed = 0
    var timeSum = 0.0
    var timeMax = 0
    static let buckets = 60_000

    init(maxKeys: Int) {
        clients = ClientCounter(limit: maxKeys)
        paths = ByteCounter(limit: maxKeys)
        statuses.initialize(repeating: 0, count: 1000)
        histogram.initialize(repeating: 0, count: Aggregates.buckets + 1)
    }

    deinit { statuses.deallocate(); histogram.deallocate() }

    func merge(_ o: Aggregates) {
        clients.merge(o.clients); paths.merge(o.paths)
        for i in 0..<1000 { statuses[i] += o.statuses[i] }
        for i in 0...Aggregates.buckets { histogram[i] += o.histogram[i] }
        timed += o.timed; timeSum += o.timeSum; timeMax = max(timeMax, o.timeMax)
    }
}

/// What one reader found in its piece of a file; line numbers are relative to the piece's
/// first line until the pieces are joined.
final class Piece {
    var lines = 0
    var malformed = 0
    var outside = 0
    var bytes: Int64 = 0
    var setCounts: [Int]
    var samples: [[Sample]]
    var problems: [Problem] = []
    var firstTime: Int64?
    var lastTime: Int64?
    var binaryReported = false
    var malformedReported = 0

    init(sets: Int) {
        setCounts = [Int](repeating: 0, count: sets)
        samples = [[Sample]](repeating: [], count: sets)
    }

    static let problemsKept = 20

    func problem(_ file: String, _ line: Int, _ message: String) {
        if problems.count < Piece.problemsKept { problems.append(Problem(file: file, line: line, message: message)) }
    }
}

/// Splits bytes into lines and counts each: the scan's inner loop. Bytes are pushed in chunks
/// of any size; a line cut between chunks waits in `carry` (at most `maxLine` bytes, so a
/// 10 MB line costs no more memory than a short one: it is reported and skipped).
///
/// The whole lines of a chunk are a region searched by the literal sets at once: a set's next
/// match in the region is found once and each line only compares its end with it (most lines
/// hold none: they cost no search of their own). A plain log with no time window needs no
/// line at all but the matching ones: its lines are counted with a vector count of newlines.
final class LineScanner {
    let name: String
    let options: ScanOptions
    let patterns: [CompiledPattern]
    let agg: Aggregates
    let piece: Piece
    private var carry: [UInt8] = []
    private var skipping = false
    private var skippedBytes = 0
    private var lastTime: Int64?
    private var access = AccessLine()
    private let year: Int
    // the access log's time field repeats from line to line: its date part is read once
    private var cachedDay: (UInt64, UInt32, Int64) = (0, 0, 0)
    /// The region of whole lines being scanned, and by set the next match in it found so far
    /// (valid for lines starting at or before it; -1: not searched yet).
    private var region: UnsafePointer<UInt8>?
    private var regionCount = 0
    private let next: UnsafeMutablePointer<Int>
    private let searched: UnsafeMutablePointer<Bool>
    /// No line needs reading but for the sets' matches (plain, no window, every set searchable).
    private let matchesOnly: Bool
    private let wantPath: Bool
    private let wantTime: Bool
    private let needsTime: Bool

    init(name: String, options: ScanOptions, patterns: [CompiledPattern], agg: Aggregates) {
        self.name = name
        self.options = options
        self.patterns = patterns
        self.agg = agg
        self.piece = Piece(sets: patterns.count)
        self.year = Timestamps.year(ofUnix: options.now)
        next = .allocate(capacity: max(1, patterns.count))
        next.initialize(repeating: -1, count: max(1, patterns.count))
        searched = .allocate(capacity: max(1, patterns.count))
        searched.initialize(repeating: false, count: max(1, patterns.count))
        for k in 0..<patterns.count { searched[k] = patterns[k].searchesBuffers }
        matchesOnly = options.format == .plain && !options.needsTime && patterns.allSatisfy(\.searchesBuffers)
        wantPath = options.countPaths
        wantTime = options.responseTimes
        needsTime = options.needsTime
    }

    deinit { next.deallocate(); searched.deallocate(); heads.deallocate() }

    /// The access lines' heads of a batch (8 KiB: stays in the core's first-level cache).
    private let heads = UnsafeMutablePointer<opsh_access_line>.allocate(capacity: LineScanner.headsKept)
    static let headsKept = 256
    /// A region's matches (line start and end), and the samples taken from them.
    private var found: [(Int, Int)] = []
    private var keeping: [(Int, Int, Int)] = []

    func feed(_ chunk: UnsafeRawBufferPointer) {
        guard let base0 = chunk.baseAddress, chunk.count > 0 else { return }
        let base = base0.assumingMemoryBound(to: UInt8.self)
        let n = chunk.count
        piece.bytes += Int64(n)
        var start = 0
        // the end of a line begun in an earlier chunk
        if skipping || !carry.isEmpty {
            guard let nl = memchr(base, 0x0A, n) else {
                absorb(base, n)
                return
            }
            let k = base.distance(to: nl.assumingMemoryBound(to: UInt8.self))
            absorb(base, k)
            endCarriedLine()
            start = k + 1
        }
        // the whole lines, up to the last newline
        let last = start < n ? opsh_last_byte(base + start, n - start, 0x0A) : 0
        guard start < n, last < n - start else {
            if start < n { absorb(base + start, n - start) }
            return
        }
        let end = start + last + 1
        if matchesOnly {
            matchesIn(base + start, end - start)
        } else {
            lines(base + start, end - start)
        }
        if end < n { absorb(base + end, n - end) }
    }

    /// Each line of the region p[0..<count) (it ends with a newline).
    private func lines(_ p: UnsafePointer<UInt8>, _ count: Int) {
        region = p
        regionCount = count
        for k in 0..<patterns.count { next[k] = -1 }
        if options.format == .access {
            accessLines(p, count)
            region = nil
            return
        }
        var at = 0
        while at < count {
            let nl = memchr(p + at, 0x0A, count - at).unsafelyUnwrapped
            let end = p.distance(to: nl.assumingMemoryBound(to: UInt8.self))
            line(p + at, end - at, readable: count - at)
            at = end + 1
        }
        region = nil
    }

    /// An access log's region: the lines' heads (client, time, request, status) found by
    /// CLogScan a batch of lines at a time, with vector searches from field to field instead of
    /// a call per field; the same lines are malformed as with `AccessLine.parse`.
    private func accessLines(_ p: UnsafePointer<UInt8>, _ count: Int) {
        var at = 0
        // the client and status reports alone (no window, no path, no time) counted here, with
        // the tables held in locals: through `counted` each line paid a retain and a release
        let plain = !needsTime && !wantPath && !wantTime
        let clients = agg.clients, statuses = agg.statuses
        while true {
            let k = opsh_access_lines(p, count, &at, heads, LineScanner.headsKept)
            if k == 0 { break }
            for r in 0..<k {
                let h = heads[r]
                let start = Int(h.start)
                let lp = p + start
                if h.status == -2 {   // a line over 4 GiB: too long for the heads' offsets
                    let end = (r + 1 < k ? Int(heads[r + 1].start) : at) - 1
                    line(lp, end - start, readable: count - start)
                    continue
                }
                piece.lines += 1
                let n = Int(h.len)
                if h.status < 0 {
                    malformed(lp, n, "not a combined-format access log line")
                    continue
                }
                if plain {
                    clients.add(lp, Int(h.ip_end), readable: count - start, ok: h.status == 200)
                    statuses[Int(h.status)] += 1
                    match(lp, n)
                    continue
                }
                access.ipEnd = Int(h.ip_end)
                access.timeStart = Int(h.time_start)
                access.timeEnd = Int(h.time_end)
                access.status = Int(h.status)
                access.rest(lp, n, request: access.timeEnd + 3, end: Int(h.req_end), wantPath: wantPath, wantTime: wantTime,
                            timeScale: options.responseTimeScale)
                counted(lp, n, readable: count - start)
            }
        }
    }

    /// A plain log's region when only the sets' matches matter: each set skips from match to
    /// match, and the lines are counted, not split.
    private func matchesIn(_ p: UnsafePointer<UInt8>, _ count: Int) {
        let first = piece.lines
        var nul = count
        let lines = patterns.count == 1 ? matchesCounting(p, count, &nul) : matchesOfSets(p, count, &nul)
        if !piece.binaryReported && nul < count {
            piece.binaryReported = true
            piece.problem(name, first + opsh_count_byte(p, nul, 0x0A) + 1, "binary data (NUL bytes) in the text; first seen here")
        }
        piece.lines += lines
    }

    /// One set: its search counts the lines it passes and looks for NULs on the way, so the
    /// text is gone over once (the line of each match is found around it); a match's line
    /// number is the lines passed so far. Returns the region's lines; `nul`: its first NUL.
    private func matchesCounting(_ p: UnsafePointer<UInt8>, _ count: Int, _ nul: inout Int) -> Int {
        let set = patterns[0]
        let first = piece.lines
        var from = 0, lines = 0
        while true {
            let m = set.findLines(p, count, from: from, lines: &lines, nul: &nul)
            if m >= count { break }
            let before = opsh_last_byte(p + from, m - from, 0x0A)
            let lineStart = before < m - from ? from + before + 1 : from
            let lineEnd = p.distance(to: memchr(p + m, 0x0A, count - m).unsafelyUnwrapped.assumingMemoryBound(to: UInt8.self))
            if nul == count, let z = memchr(p + m, 0, lineEnd - m) { nul = p.distance(to: z.assumingMemoryBound(to: UInt8.self)) }
            piece.setCounts[0] += 1
            if options.samples > 0 { keeping.append((lineStart, lineEnd, first + lines + 1)) }
            lines += 1   // the match's own line
            from = lineEnd + 1
        }
        for (lineStart, lineEnd, line) in keeping.suffix(options.samples) {
            var n = lineEnd - lineStart
            if n > 0 && p[lineStart + n - 1] == 0x0D { n -= 1 }
            keep(0, p + lineStart, n, line: line)
        }
        keeping.removeAll(keepingCapacity: true)
        return lines
    }

    /// Several sets: the lines and NULs counted in a first pass (it waits for memory when the
    /// text is mapped), then each set's search over the text now in the core's cache.
    private func matchesOfSets(_ p: UnsafePointer<UInt8>, _ count: Int, _ nul: inout Int) -> Int {
        let first = piece.lines
        let lines = opsh_count_lines(p, count, &nul)
        for k in 0..<patterns.count {
            let set = patterns[k]
            var from = 0
            found.removeAll(keepingCapacity: true)
            while true {
                let m = set.find(p, count, from: from)
                if m >= count { break }
                let before = opsh_last_byte(p + from, m - from, 0x0A)
                let lineStart = before < m - from ? from + before + 1 : from
                let lineEnd = p.distance(to: memchr(p + m, 0x0A, count - m).unsafelyUnwrapped.assumingMemoryBound(to: UInt8.self))
                piece.setCounts[k] += 1
                if options.samples > 0 { found.append((lineStart, lineEnd)) }
                from = lineEnd + 1
            }
            // only the last matches of the region can be among the samples kept: their line
            // numbers are counted back from the region's end, not from its start
            var after = 0, counted = count
            for (lineStart, lineEnd) in found.suffix(options.samples).reversed() {
                after += opsh_count_byte(p + lineStart, counted - lineStart, 0x0A)
                counted = lineStart
                var n = lineEnd - lineStart
                if n > 0 && p[lineStart + n - 1] == 0x0D { n -= 1 }
                keeping.append((lineStart, n, first + lines - after + 1))
            }
            for (lineStart, n, line) in keeping.reversed() { keep(k, p + lineStart, n, line: line) }
            keeping.removeAll(keepingCapacity: true)
        }
        return lines
    }

    /// The last line when it has no newline.
    func finish() {
        if skipping || !carry.isEmpty { endCarriedLine() }
    }

    /// Drops a line begun but never ended (the stream broke in its middle); true if there was one.
    func dropPartialLine() -> Bool {
        let had = skipping || !carry.isEmpty
        carry = []
        skipping = false
        skippedBytes = 0
        return had
    }

    private func absorb(_ p: UnsafePointer<UInt8>, _ n: Int) {
        if skipping { skippedBytes += n; return }
        if carry.count + n > options.maxLine {
            skipping = true
            skippedBytes = carry.count + n
            carry = []
            return
        }
        carry.append(contentsOf: UnsafeBufferPointer(start: p, count: n))
    }

    private func endCarriedLine() {
        if skipping {
            piece.lines += 1
            piece.malformed += 1
            piece.problem(name, piece.lines, "a line of \(skippedBytes) bytes, longer than the \(options.maxLine)-byte limit: skipped")
            skipping = false
            skippedBytes = 0
        } else {
            carry.withUnsafeBufferPointer { b in line(b.baseAddress!, b.count, readable: b.count) }
            carry.removeAll(keepingCapacity: carry.capacity <= 1 << 16)
        }
    }

    @inline(__always) private func line(_ p: UnsafePointer<UInt8>, _ n0: Int, readable: Int) {
        piece.lines += 1
        var n = n0
        if n > 0 && p[n - 1] == 0x0D { n -= 1 }
        if options.format == .access {
            accessLine(p, n, readable: readable)
        } else {
            plainLine(p, n)
        }
    }

    @inline(__always) private func accessLine(_ p: UnsafePointer<UInt8>, _ n: Int, readable: Int) {
        guard access.parse(p, n, readable: readable, wantPath: wantPath, wantTime: wantTime, timeScale: options.responseTimeScale) else {
            malformed(p, n, "not a combined-format access log line")
            return
        }
        counted(p, n, readable: readable)
    }

    /// An access line whose fields are in `access`: counted in every report.
    @inline(__always) private func counted(_ p: UnsafePointer<UInt8>, _ n: Int, readable: Int) {
        if options.needsTime {
            guard let t = accessTime(p + access.timeStart, access.timeEnd - access.timeStart) else {
                malformed(p, n, "the time field is not a time")
                return
            }
            if !inWindow(t) { return }
        }
        agg.clients.add(p, access.ipEnd, readable: readable, ok: access.status == 200)
        agg.statuses[access.status] += 1
        if wantPath && access.pathEnd > access.pathStart {
            agg.paths.add(p + access.pathStart, access.pathEnd - access.pathStart)
        }
        if access.responseMs >= 0 {
            let ms = access.responseMs
            agg.histogram[min(ms, Aggregates.buckets)] += 1
            agg.timed += 1
            agg.timeSum += Double(ms)
            if ms > agg.timeMax { agg.timeMax = ms }
        }
        match(p, n)
    }

    @inline(__always) private func plainLine(_ p: UnsafePointer<UInt8>, _ n: Int) {
        if !piece.binaryReported && n > 0 && memchr(p, 0, n) != nil {
            piece.binaryReported = true
            piece.problem(name, piece.lines, "binary data (NUL bytes) in the text; first seen here")
        }
        if options.needsTime {
            if var t = Timestamps.leading(p, n, year: year) {
                if t > options.now + 2 * 86400 && n > 3 && p[3] == 0x20 {   // syslog: last year's
                    t = Timestamps.leading(p, n, year: year - 1) ?? t
                }
                lastTime = t
            }
            if let t = lastTime, !inWindow(t) { return }
        }
        match(p, n)
    }

    @inline(__always) private func inWindow(_ t: Int64) -> Bool {
        if let s = options.since, t < s { piece.outside += 1; return false }
        if let u = options.until, t >= u { piece.outside += 1; return false }
        if piece.firstTime == nil || t < piece.firstTime! { piece.firstTime = t }
        if piece.lastTime == nil || t > piece.lastTime! { piece.lastTime = t }
        return true
    }

    /// Counts the line p[0..<n) in every set it matches: a searchable set through its next
    /// match in the region (searched again only once a line starts past it), others line by line.
    @inline(__always) private func match(_ p: UnsafePointer<UInt8>, _ n: Int) {
        let at = region.map { $0.distance(to: p) } ?? -1
        for k in 0..<patterns.count {
            let hit: Bool
            if at >= 0 && searched[k] {
                var m = next[k]
                if m < at { m = patterns[k].find(region.unsafelyUnwrapped, regionCount, from: at); next[k] = m }
                hit = m < at + n
            } else {
                hit = patterns[k].matches(p, n)
            }
            if hit {
                piece.setCounts[k] += 1
                if options.samples > 0 { keep(k, p, n, line: piece.lines) }
            }
        }
    }

    /// Keeps a matching line as a sample of set k (the last ones are kept).
    private func keep(_ k: Int, _ p: UnsafePointer<UInt8>, _ n: Int, line: Int) {
        let text = Array(UnsafeBufferPointer(start: p, count: min(n, options.sampleBytes)))
        piece.samples[k].append(Sample(file: name, line: line, text: text))
        if piece.samples[k].count >= 2 * options.samples {
            piece.samples[k].removeFirst(piece.samples[k].count - options.samples)
        }
    }

    private func malformed(_ p: UnsafePointer<UInt8>, _ n: Int, _ why: String) {
        piece.malformed += 1
        if piece.malformedReported < 3 {
            piece.malformedReported += 1
            let binary = n > 0 && memchr(p, 0, n) != nil
            piece.problem(name, piece.lines, (binary ? "binary data, " : "") + why + ": skipped")
        }
    }

    /// The access log's `10/Oct/2026:13:55:36 +0000`, its date part cached.
    @inline(__always) private func accessTime(_ p: UnsafePointer<UInt8>, _ n: Int) -> Int64? {
        guard n >= 20 else { return nil }
        let a = UnsafeRawPointer(p).loadUnaligned(as: UInt64.self)
        let b = UnsafeRawPointer(p + 8).loadUnaligned(as: UInt16.self)
        let key = (a, UInt32(b) | UInt32(p[10]) << 16)
        if key.0 == cachedDay.0 && key.1 == cachedDay.1, p[11] == 0x3A {
            guard let hh = Timestamps.digits(p, 12, 2), let mm = Timestamps.digits(p, 15, 2),
                  let ss = Timestamps.digits(p, 18, 2) else { return nil }
            var t = cachedDay.2 + Int64(hh * 3600 + mm * 60 + ss)
            if n >= 26 && p[20] == 0x20, let z = Timestamps.zone(p, 21, n) { t -= z }
            return t
        }
        guard let t = Timestamps.combined(p, n), let hh = Timestamps.digits(p, 12, 2),
              let mm = Timestamps.digits(p, 15, 2), let ss = Timestamps.digits(p, 18, 2) else { return nil }
        var z: Int64 = 0
        if n >= 26 && p[20] == 0x20, let zz = Timestamps.zone(p, 21, n) { z = zz }
        cachedDay = (key.0, key.1, t + z - Int64(hh * 3600 + mm * 60 + ss))
        return t
    }
}
