import Archive
import CLogScan
import FileSystem
import Glibc
import Synchronization

/// One pass over many log files, on all cores: each file is read once, a mapped window at a
/// time (memory does not grow with the file; read in fixed-size buffers when it cannot be
/// mapped), gzipped files are inflated on the way from reads (recognised by
/// their magic, whatever their name), and a large plain file is cut at line boundaries into one
/// piece per thread. Each thread keeps its own totals; they are merged at the end.
/// A file that cannot be read, and every bad line, is a `Problem` in the report; the scan goes on.
public enum LogScanner {
    /// Each read, and each slice of a mapped window fed at once: small enough that the bytes
    /// are still in the core's cache (half of the 512 KiB L2 of a core here) when the scanner
    /// goes over them again, large enough that the calls cost nothing (4,096 for a GiB).
    static let bufferSize = 256 << 10

    public static func scan(files: [String], options: ScanOptions) throws(PatternError) -> ScanReport {
        let patterns = try options.patterns.map { (s) throws(PatternError) in try CompiledPattern(s) }
        let opened: [OpenedFile] = expand(files)
        var jobs: [Job] = []
        for (i, f) in opened.enumerated() {
            if f.failure == nil { f.open(options) }
            jobs += f.jobs(file: i, options: options)
        }
        let threads = max(1, min(options.threads, jobs.count))
        let slots = jobs.map { _ in Slot() }
        var aggs: [Aggregates] = []
        if threads == 1 {
            let agg = Aggregates(maxKeys: options.maxKeys)
            aggs.append(agg)
            for (k, j) in jobs.enumerated() { slots[k].piece = run(j, opened[j.file], options, patterns, agg) }
        } else {
            let next = Mutex(0)
            let box = Shared(opened: opened, jobs: jobs, slots: slots, patterns: patterns)
            var handles: [pthread_t] = []
            for _ in 0..<threads {
                let agg = Aggregates(maxKeys: options.maxKeys)
                aggs.append(agg)
                let worker = Worker(agg: agg)
                let started = startThread {
                    while true {
                        let k = next.withLock { n -> Int in let k = n; n += 1; return k }
                        if k >= box.jobs.count { break }
                        let j = box.jobs[k]
                        box.slots[k].piece = run(j, box.opened[j.file], options, box.patterns, worker.agg)
                    }
                }
                if let t = started { handles.append(t) }
            }
            if handles.isEmpty {   // no thread could start: do it here
                for (k, j) in jobs.enumerated() { slots[k].piece = run(j, opened[j.file], options, patterns, aggs[0]) }
            }
            for t in handles { joinThread(t) }
        }
        defer { for f in opened { f.close() } }
        return assemble(opened, jobs, slots, aggs, patterns, options)
    }

    /// Paths as given, and globs (`access.log*` takes the rotated and gzipped ones too)
    /// expanded in order; a glob that matches nothing stays as a file that failed to open.
    static func expand(_ patterns: [String]) -> [OpenedFile] {
        var out: [OpenedFile] = []
        var seen = Set<String>()
        for p in patterns {
            guard p.contains(where: { $0 == "*" || $0 == "?" || $0 == "[" }) else {
                if seen.insert(p).inserted { out.append(OpenedFile(path: p)) }
                continue
            }
            let matches = (try? FileSystem.glob(p)) ?? []
            if matches.isEmpty {
                let f = OpenedFile(path: p)
                f.failure = "no file matches this pattern"
                out.append(f)
            }
            for m in matches where seen.insert(m).inserted { out.append(OpenedFile(path: m)) }
        }
        return out
    }

    /// Scans bytes held in memory (a container's log, a program's output) as one file named `name`.
    public static func scan(name: String, bytes: UnsafeRawBufferPointer, options: ScanOptions) throws(PatternError) -> ScanReport {
        let feeder = try LineFeeder(name: name, options: options)
        feeder.feed(bytes)
        return feeder.finish()
    }

    static func run(_ job: Job, _ file: OpenedFile, _ options: ScanOptions, _ patterns: [CompiledPattern], _ agg: Aggregates) -> Piece {
        let scanner = LineScanner(name: file.path, options: options, patterns: patterns, agg: agg)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: bufferSize, alignment: 64)
        defer { buffer.deallocate() }
        switch job.kind {
        case .range(let start, let end):
            if mapped(start, end, file, options, scanner) { return scanner.piece }
            var off = start
            while off < end {
                let want = Int(min(Int64(bufferSize), end - off))
                let n = pread(file.fd, buffer.baseAddress, want, off_t(off))
                if n < 0 {
                    if errno == EINTR { continue }
                    scanner.finish()
                    scanner.piece.problem(file.path, scanner.piece.lines + 1, "read failed at byte \(off): \(String(cString: strerror(errno))); the rest of the file is not counted")
                    return scanner.piece
                }
                if n == 0 {
                    scanner.finish()
                    scanner.piece.problem(file.path, scanner.piece.lines + 1, "the file ended at byte \(off), before the \(file.size) bytes it had when the scan began (truncated while it was read)")
                    return scanner.piece
                }
                scanner.feed(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
                off += Int64(n)
                options.progress?(file.path, off - start)
            }
            scanner.finish()
        case .gzip:
            do {
                let source = try GzipSource(upstream: try FileSource(fd: file.fd, path: file.path), name: file.path)
                var total: Int64 = 0
                while true {
                    let n = try source.read(into: buffer)
                    if n == 0 { break }
                    scanner.feed(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
                    total += Int64(n)
                    options.progress?(file.path, total)
                }
                scanner.finish()
            } catch {
                // the line the stream broke in is a fragment: not counted as a line
                let cut = scanner.dropPartialLine()
                let n = scanner.piece.lines
                let why = ((error as? ArchiveError)?.message ?? "\(error)").replacingFirst(file.path + ": ", with: "")
                scanner.piece.problem(file.path, cut ? n + 1 : n, why + (cut ? " in line \(n + 1)" : " after line \(n)") + ": the \(n) whole lines before it are counted")
            }
        }
        return scanner.piece
    }

    /// The bytes of a file's range read where they lie in the page cache, mapped a window at a
    /// time, instead of copied by pread: the copy was a fifth of the three reports' time over a
    /// cached GiB (BENCHMARKS.md §23). Each window is fed in `bufferSize` slices (each
    /// still in the core's cache when the scanner's second look at it comes) and unmapped
    /// before the next, so the resident set holds one window a thread, not the file.
    /// Before each slice the file's size is checked, so a file cut shorter while it is read is
    /// reported as with reads; one cut between the check and the read (another process)
    /// faults, and the fault reads as zeros from there (CLogScan's guard) and is reported the
    /// same way. False when the file cannot be mapped: it is read instead.
    static func mapped(_ start: Int64, _ end: Int64, _ file: OpenedFile, _ options: ScanOptions, _ scanner: LineScanner) -> Bool {
        let page = Int64(sysconf(Int32(_SC_PAGESIZE)))
        var off = start
        while off < end {
            let base = off - off % page
            let length = Int(min(end, base + mapWindow) - base)
            guard let w = opsh_map(file.fd, base, length) else {
                if off == start { return false }
                scanner.finish()
                scanner.piece.problem(file.path, scanner.piece.lines + 1, "mapping failed at byte \(off): \(String(cString: strerror(errno))); the rest of the file is not counted")
                return true
            }
            defer { opsh_unmap(w, length) }
            while off < base + Int64(length) {
                let sliceEnd = min(base + Int64(length), off + Int64(bufferSize))
                var st = stat()
                let now = fstat(file.fd, &st) == 0 ? Int64(st.st_size) : sliceEnd
                let have = min(sliceEnd, now)
                if have > off { scanner.feed(UnsafeRawBufferPointer(start: w + Int(off - base), count: Int(have - off))) }
                let after = fstat(file.fd, &st) == 0 ? Int64(st.st_size) : have
                if opsh_map_faulted() != 0 || after < have {
                    // cut between the check and the read: zeros were read from the cut on, so
                    // the line it fell in is not whole (dropped, as a broken gzip's last line)
                    _ = scanner.dropPartialLine()
                    scanner.piece.problem(file.path, scanner.piece.lines + 1, "the file was cut to \(after) bytes while it was read (it had \(file.size) when the scan began): line \(scanner.piece.lines + 1) and the rest are not counted")
                    return true
                }
                if have < sliceEnd {
                    scanner.finish()
                    scanner.piece.problem(file.path, scanner.piece.lines + 1, "the file ended at byte \(have), before the \(file.size) bytes it had when the scan began (truncated while it was read)")
                    return true
                }
                off = sliceEnd
                options.progress?(file.path, off - start)
            }
        }
        scanner.finish()
        return true
    }

    /// One thread's mapped window: 8 MiB, so two threads hold 16 MiB of the file at a time.
    static let mapWindow: Int64 = 8 << 20

    /// Joins the pieces of each file (their line numbers follow on), then the files.
    static func assemble(_ files: [OpenedFile], _ jobs: [Job], _ slots: [Slot], _ aggs: [Aggregates],
                         _ patterns: [CompiledPattern], _ options: ScanOptions) -> ScanReport {
        var report = ScanReport()
        report.sets = patterns.map { SetResult(name: $0.name) }
        var results = files.map { f -> FileResult in
            var r = FileResult(path: f.path)
            r.gzip = f.gzip
            r.readable = f.fd >= 0 || f.failure == nil
            r.setCounts = [Int](repeating: 0, count: patterns.count)
            return r
        }
        var offsets = [Int](repeating: 0, count: files.count)
        var fileProblems: [[Problem]] = files.map { f in f.failure.map { [Problem(file: f.path, line: 0, message: $0)] } ?? [] }
        for (k, job) in jobs.enumerated() {
            guard let piece = slots[k].piece else { continue }
            let base = offsets[job.file]
            var r = results[job.file]
            r.lines += piece.lines
            r.malformed += piece.malformed
            r.outside += piece.outside
            r.bytes += piece.bytes
            for s in 0..<patterns.count {
                r.setCounts[s] += piece.setCounts[s]
                report.sets[s].samples += piece.samples[s].suffix(options.samples).map { Sample(file: $0.file, line: $0.line + base, text: $0.text) }
                if report.sets[s].samples.count > 2 * options.samples {
                    report.sets[s].samples.removeFirst(report.sets[s].samples.count - options.samples)
                }
            }
            if let t = piece.firstTime { r.firstTime = min(r.firstTime ?? t, t) }
            if let t = piece.lastTime { r.lastTime = max(r.lastTime ?? t, t) }
            fileProblems[job.file] += piece.problems.map { Problem(file: $0.file, line: $0.line > 0 ? $0.line + base : 0, message: $0.message) }
            offsets[job.file] += piece.lines
            results[job.file] = r
        }
        for (i, f) in files.enumerated() {
            fileProblems[i] += f.afterwards(lines: results[i].lines)
            if f.fd >= 0 || f.failure == nil, results[i].lines == 0, f.size == 0, !f.gzip { fileProblems[i].append(Problem(file: f.path, line: 0, message: "empty file: no lines")) }
            if results[i].malformed > Piece.problemsKept {
                fileProblems[i].append(Problem(file: f.path, line: 0, message: "\(results[i].malformed) lines skipped in all (the first are listed)"))
            }
        }
        for s in 0..<patterns.count { report.sets[s].samples = Array(report.sets[s].samples.suffix(options.samples)) }
        for (i, r) in results.enumerated() {
            report.lines += r.lines; report.malformed += r.malformed; report.outside += r.outside; report.bytes += r.bytes
            for s in 0..<patterns.count { report.sets[s].count += r.setCounts[s] }
            if let t = r.firstTime { report.firstTime = min(report.firstTime ?? t, t) }
            if let t = r.lastTime { report.lastTime = max(report.lastTime ?? t, t) }
            report.problems += fileProblems[i]
        }
        report.files = results
        summarize(into: &report, aggs, options)
        return report
    }

    static func summarize(into report: inout ScanReport, _ aggs: [Aggregates], _ options: ScanOptions) {
        guard let total = aggs.first else { return }
        for a in aggs.dropFirst() { total.merge(a) }
        guard options.format == .access else { return }
        report.topIPs = total.clients.top(options.top)
        report.distinctIPs = total.clients.distinct
        report.untrackedIPs = total.clients.untracked
        report.untrackedPaths = total.paths.untracked
        if let th = options.okThreshold { report.okClients = total.clients.top(-1, ok: true, minimum: th) }
        if options.countPaths { report.topPaths = total.paths.top(options.top) }
        report.statuses = (0..<1000).filter { total.statuses[$0] > 0 }
            .map { (status: $0, count: total.statuses[$0]) }
            .sorted { $0.count != $1.count ? $0.count > $1.count : $0.status < $1.status }
        if total.timed > 0 {
            func pct(_ q: Double) -> Int {
                let rank = max(1, Int((q * Double(total.timed)).rounded(.up)))
                var seen = 0
                for ms in 0...Aggregates.buckets {
                    seen += total.histogram[ms]
                    if seen >= rank { return ms >= Aggregates.buckets ? total.timeMax : ms }
                }
                return total.timeMax
            }
            report.responseTimes = ResponseTimes(count: total.timed, mean: total.timeSum / Double(total.timed),
                                                 p50: pct(0.5), p90: pct(0.9), p95: pct(0.95), p99: pct(0.99), max: total.timeMax)
        }
    }
}

/// Pushes bytes through one line scanner: for text that arrives in pieces (a container's log
/// stream) or sits in memory. The report is the same as a file scan's, for one file.
public final class LineFeeder {
    let scanner: LineScanner
    let agg: Aggregates
    let patterns: [CompiledPattern]
    let options: ScanOptions
    let name: String

    public init(name: String, options: ScanOptions) throws(PatternError) {
        self.name = name
        self.options = options
        patterns = try options.patterns.map { (s) throws(PatternError) in try CompiledPattern(s) }
        agg = Aggregates(maxKeys: options.maxKeys)
        scanner = LineScanner(name: name, options: options, patterns: patterns, agg: agg)
    }

    public func feed(_ bytes: UnsafeRawBufferPointer) { scanner.feed(bytes) }

    public func feed(_ bytes: [UInt8]) { bytes.withUnsafeBytes { scanner.feed($0) } }

    /// Ends the text (a last line without a newline counts) and reports.
    public func finish() -> ScanReport {
        scanner.finish()
        let f = OpenedFile(path: name)
        f.size = scanner.piece.bytes
        let slot = Slot()
        slot.piece = scanner.piece
        return LogScanner.assemble([f], [Job(file: 0, kind: .range(0, scanner.piece.bytes))], [slot], [agg], patterns, options)
    }
}

struct Job {
    enum Kind { case range(Int64, Int64), gzip }
    let file: Int
    let kind: Kind
}

final class Slot: @unchecked Sendable { var piece: Piece? }

final class Worker: @unchecked Sendable {
    let agg: Aggregates
    init(agg: Aggregates) { self.agg = agg }
}

/// What the worker threads share, read-only but for each job's own slot.
final class Shared: @unchecked Sendable {
    let opened: [OpenedFile]
    let jobs: [Job]
    let slots: [Slot]
    let patterns: [CompiledPattern]
    init(opened: [OpenedFile], jobs: [Job], slots: [Slot], patterns: [CompiledPattern]) {
        self.opened = opened; self.jobs = jobs; self.slots = slots; self.patterns = patterns
    }
}

extension String {
    func replacingFirst(_ prefix: String, with r: String) -> String {
        hasPrefix(prefix) ? r + dropFirst(prefix.count) : self
    }
}
