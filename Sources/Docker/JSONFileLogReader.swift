import Glibc
import JSON

/// Reads a container's logs straight from the engine's json-file log (`LogPath`, with its rotated
/// siblings `LogPath.1` … `LogPath.N`, oldest first) when that file is on this machine and
/// readable. The engine's own /logs endpoint decodes the same file line by line at about 10 MB/s
/// here; a scan for "error" reads it natively instead, rejecting most entries before decoding them.
/// The result is what /logs gives for the same options: entries filtered by stream and time (since
/// keeps time >= since, until keeps time <= until, both whole Unix seconds as the API takes them),
/// then joined into lines exactly as `DockerLineStream` does (the engine splits lines longer than
/// 16 KiB into several entries). Not for follow, tail or timestamps: callers use the API then, and
/// also for compressed rotations (`.gz`), which this reader refuses.
public final class JSONFileLogReader {
    public typealias Stream = DockerFrameDecoder.Stream

    public struct Options: Sendable {
        public var stdout = true
        public var stderr = true
        public var since: Int64?
        public var until: Int64?
        public var matcher = LineMatcher(patterns: [], ignoreCase: false)
        public var maxLine = 1 << 20
        public init() {}
    }

    let files: [String]
    let options: Options
    var fileIndex = 0
    var fd: Int32 = -1
    var buffer: [UInt8] = []
    /// Where read(2) writes, one chunk at a time.
    let readChunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
    var splitter: LineSplitter
    var queue: [(Stream, [UInt8])] = []
    var head = 0
    let sinceText: [UInt8]?
    let untilText: [UInt8]?
    /// Entries may be skipped undecoded when the pattern cannot be hidden by JSON escaping.
    let prefilter: Bool
    public private(set) var scannedLines = 0
    public private(set) var scannedBytes = 0
    public private(set) var finished = false
    public private(set) var error: DockerError?
    var pending = [false, false, false, false]   // a stream has a partial line waiting

    /// The files of a json-file log, oldest first; throws when one is compressed or none is readable.
    public static func files(for logPath: String) throws(DockerError) -> [String] {
        guard access(logPath, R_OK) == 0 else {
            throw DockerError(.usage, "cannot read \(logPath): \(String(cString: strerror(errno)))")
        }
        var rotated: [String] = []
        var n = 1
        while true {
            let p = "\(logPath).\(n)"
            if access(p + ".gz", F_OK) == 0 { throw DockerError(.usage, "\(p).gz is compressed: read through the API") }
            guard access(p, R_OK) == 0 else { break }
            rotated.append(p)
            n += 1
        }
        return rotated.reversed() + [logPath]
    }

    public init(files: [String], options: Options) {
        self.files = files
        self.options = options
        self.splitter = LineSplitter(maxLine: options.maxLine)
        sinceText = options.since.map { JSONFileLogReader.secondText($0) }
        untilText = options.until.map { JSONFileLogReader.secondText($0) }
        // letters, digits and a few marks are never escaped by the engine's JSON encoder
        prefilter = !options.matcher.keepsEverything && options.matcher.patterns.allSatisfy { p in
            p.allSatisfy { b in (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x20 || b == 0x2D || b == 0x5F || b == 0x2E || b == 0x3A }
        }
        buffer.reserveCapacity(1 << 20)
    }

    deinit {
        if fd >= 0 { close(fd) }
        readChunk.deallocate()
    }

    /// "YYYY-MM-DDTHH:MM:SS" of a Unix time, in UTC: the engine's timestamps start so.
    static func secondText(_ t: Int64) -> [UInt8] {
        var tt = time_t(t)
        var tmv = tm()
        gmtime_r(&tt, &tmv)
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return Array("\(tmv.tm_year + 1900)-\(two(tmv.tm_mon + 1))-\(two(tmv.tm_mday))T\(two(tmv.tm_hour)):\(two(tmv.tm_min)):\(two(tmv.tm_sec))".utf8)
    }

    public var hasLines: Bool { head < queue.count }

    public func next() -> (Stream, [UInt8])? {
        guard head < queue.count else { return nil }
        let item = queue[head]
        head += 1
        if head == queue.count { queue.removeAll(keepingCapacity: true); head = 0 }
        return item
    }

    /// Reads and processes up to `budget` bytes of the files (so a long scan can let other tasks
    /// run in between). Returns when lines are queued, the budget is spent, or the end is reached.
    public func fill(budget: Int = 8 << 20) {
        var spent = 0
        while !finished && spent < budget && !hasLines {
            if fd < 0 {
                guard fileIndex < files.count else { finish(); return }
                fd = open(files[fileIndex], O_RDONLY | O_CLOEXEC)
                if fd < 0 {
                    error = DockerError(.transfer, "cannot open \(files[fileIndex]): \(String(cString: strerror(errno)))")
                    finish()
                    return
                }
            }
            let got = read(fd, readChunk.baseAddress!, readChunk.count)
            if got < 0 {
                error = DockerError(.transfer, "reading \(files[fileIndex]): \(String(cString: strerror(errno)))")
                finish()
                return
            }
            // only the bytes read are copied (zero-filling a chunk first costs a megabyte per read)
            buffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: readChunk[..<got]))
            spent += got
            scannedBytes += got
            if got == 0 {
                // this file is done; an unterminated last entry is being written: not an entry yet
                close(fd); fd = -1
                buffer.removeAll(keepingCapacity: true)
                fileIndex += 1
                continue
            }
            consumeLines()
        }
    }

    private func finish() {
        finished = true
        splitter.finish(keep)
    }

    /// Processes every complete entry (JSON line) in the buffer, keeping a partial one.
    private func consumeLines() {
        var start = 0
        let n = buffer.count
        var stop = false
        buffer.withUnsafeBytes { raw in
            let base = raw.baseAddress!
            while start < n, !stop {
                guard let nl = memchr(base + start, 0x0A, n - start) else { break }
                let end = base.distance(to: UnsafeRawPointer(nl))
                stop = !entry(UnsafeRawBufferPointer(rebasing: raw[start..<end]))
                start = end + 1
            }
        }
        if stop { finished = true; buffer.removeAll(); return }
        buffer.removeFirst(start)
    }

    /// One entry: {"log":"…","stream":"stdout","time":"2026-…Z"}. Returns false to stop (past until).
    private func entry(_ line: UnsafeRawBufferPointer) -> Bool {
        // the cheap rejection: the raw entry cannot contain the pattern, and no partial line waits
        if prefilter && !pending[1] && !pending[2] && endsWithNewline(line) && !options.matcher.matches(line) {
            scannedLines += 1
            return untilOK(line)
        }
        var tape = JSONTape()
        do throws(JSONError) { try tape.parse(line) } catch {
            self.error = DockerError(.stream, "a json-file log entry is not JSON: \(error.message)")
            return false
        }
        guard tape.kind(at: 0) == .objectStart else { return true }
        var log: UnsafeRawBufferPointer?
        var stream = Stream.stdout
        var time: UnsafeRawBufferPointer?
        var i = tape.next(after: 0)
        while tape.kind(at: i) == .string {
            let v = tape.next(after: i)
            let key = tape.bytes(at: i)
            if tape.kind(at: v) == .string {
                if key.count == 3 && key[0] == 0x6C { log = tape.bytes(at: v) }            // log
                else if key.count == 6 && key[1] == 0x74 {                                 // stream
                    stream = tape.bytes(at: v).count == 6 && tape.bytes(at: v)[3] == 0x65 ? .stderr : .stdout
                } else if key.count == 4 && key[0] == 0x74 { time = tape.bytes(at: v) }   // time
            }
            i = tape.skip(v)
        }
        if let t = time {
            if let s = sinceText, compare(t, s) < 0 { return true }
            if let u = untilText {
                let c = compare(t, u)
                if c > 0 || (c == 0 && t.count > 19 && t[19] == 0x2E) { return false }
            }
        }
        if stream == .stderr ? !options.stderr : !options.stdout { return true }
        guard let text = log else { return true }
        splitter.feed(stream, text, keep)
        pending[Int(stream.rawValue)] = text.last != 0x0A
        return true
    }

    /// Whether the entry's log text ends with "\n" (its JSON has `\n"` before the stream key).
    private func endsWithNewline(_ line: UnsafeRawBufferPointer) -> Bool {
        // {"log":"…\n","stream":…
        guard let p = findStreamKey(line), p >= 4 else { return false }
        return line[p - 4] != 0x5C && line[p - 3] == 0x5C && line[p - 2] == 0x6E && line[p - 1] == 0x22
    }

    private func findStreamKey(_ line: UnsafeRawBufferPointer) -> Int? {
        let key: [UInt8] = Array(",\"stream\":".utf8)
        let n = line.count, m = key.count
        var i = n - m
        while i >= 0 {   // from the end: the log text comes first and may be long
            if line[i] == 0x2C {
                var j = 1
                while j < m && line[i + j] == key[j] { j += 1 }
                if j == m { return i }
            }
            i -= 1
        }
        return nil
    }

    /// A skipped entry still ends the scan once it is past `until` (entries are in time order).
    private func untilOK(_ line: UnsafeRawBufferPointer) -> Bool {
        guard let u = untilText else { return true }
        let key: [UInt8] = Array("\"time\":\"".utf8)
        let n = line.count, m = key.count
        var i = n - m - 19
        while i >= 0 {
            if line[i] == 0x22 {
                var j = 1
                while j < m && line[i + j] == key[j] { j += 1 }
                if j == m {
                    let t = UnsafeRawBufferPointer(rebasing: line[(i + m)..<n])
                    let c = compare(t, u)
                    return !(c > 0 || (c == 0 && t.count > 19 && t[19] == 0x2E))
                }
            }
            i -= 1
        }
        return true
    }

    /// Compares the first 19 bytes (to the second) of an engine timestamp with `s`.
    private func compare(_ t: UnsafeRawBufferPointer, _ s: [UInt8]) -> Int {
        let k = min(19, t.count, s.count)
        for i in 0..<k where t[i] != s[i] { return t[i] < s[i] ? -1 : 1 }
        return 0
    }

    private func keep(_ stream: Stream, _ line: UnsafeRawBufferPointer) {
        scannedLines += 1
        guard options.matcher.matches(line) else { return }
        queue.append((stream, Array(line)))
    }
}
