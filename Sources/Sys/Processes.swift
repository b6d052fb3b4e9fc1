import Glibc

/// The processes of the machine as /proc shows them: one reading of every process's CPU time
/// and resident memory (`ProcessSnapshot`), and the top consumers between two readings.
public struct ProcessSnapshot: Sendable {
    public struct Entry: Sendable {
        public let pid: Int32
        public let ppid: Int32
        public let name: String
        public let state: Character
        /// utime + stime, in clock ticks.
        public let ticks: UInt64
        /// Start time after boot, in clock ticks: a pid reused between readings has another one.
        public let started: UInt64
        public let rss: Int64
        public let uid: UInt32
    }

    /// CLOCK_MONOTONIC seconds when the reading was taken.
    public let taken: Double
    public let entries: [Int32: Entry]

    /// Reads /proc/PID/stat of every process (those that end meanwhile are skipped).
    public static func take() -> ProcessSnapshot {
        let page = Int64(sysconf(Int32(_SC_PAGESIZE)))
        var entries: [Int32: Entry] = [:]
        let proc = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard proc >= 0 else { return ProcessSnapshot(taken: SystemClock.monotonic(), entries: [:]) }
        defer { close(proc) }
        let pids = Processes.pids()
        entries.reserveCapacity(pids.count)
        // one buffer for every stat file (they are a few hundred bytes)
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 4096) { buf in
            for pid in pids {
                if let e = Processes.readStat(pid, in: proc, buffer: buf, page: page) { entries[pid] = e }
            }
        }
        return ProcessSnapshot(taken: SystemClock.monotonic(), entries: entries)
    }
}

/// A process as the top list shows it.
public struct ProcessInfo: Sendable {
    public let pid: Int32
    public let ppid: Int32
    public let user: String
    public let name: String
    /// The command line, arguments joined by spaces; "[name]" for kernel threads.
    public let command: String
    public let state: Character
    /// % of one CPU over the interval (top's %CPU: 200 is two cores busy); nil without an interval.
    public let cpuPercent: Double?
    public let rss: Int64
    public let memoryPercent: Double
}

public enum Processes {
    public enum Order: String, Sendable { case cpu, memory }

    /// The `count` processes using the most CPU between `earlier` and `later` (a process born
    /// in between counts from its start), or the most resident memory in `later` (`earlier`
    /// unused). `memoryTotal` (bytes) gives memoryPercent.
    public static func top(_ order: Order, count: Int, earlier: ProcessSnapshot?, later: ProcessSnapshot,
                           memoryTotal: Int64) -> [ProcessInfo] {
        let hz = Double(sysconf(Int32(_SC_CLK_TCK)))
        let elapsed = earlier.map { later.taken - $0.taken } ?? 0
        var cpu: [Int32: Double] = [:]
        if let earlier, elapsed > 0 {
            for (pid, e) in later.entries {
                // a process born during the interval (or a pid reused): all its CPU time is inside it
                let before = earlier.entries[pid].flatMap { $0.started == e.started ? $0.ticks : nil } ?? 0
                cpu[pid] = Double(e.ticks >= before ? e.ticks - before : 0) / hz / elapsed * 100
            }
        }
        let ranked: [ProcessSnapshot.Entry]
        switch order {
        case .cpu:
            ranked = later.entries.values.sorted { a, b in
                let x = cpu[a.pid] ?? 0, y = cpu[b.pid] ?? 0
                return x != y ? x > y : a.rss != b.rss ? a.rss > b.rss : a.pid < b.pid
            }
        case .memory:
            ranked = later.entries.values.sorted { $0.rss != $1.rss ? $0.rss > $1.rss : $0.pid < $1.pid }
        }
        var users = UserNames()
        return ranked.prefix(max(0, count)).map { e in
            ProcessInfo(pid: e.pid, ppid: e.ppid, user: users.name(e.uid), name: e.name,
                        command: commandLine(e.pid) ?? "[\(e.name)]", state: e.state,
                        cpuPercent: earlier == nil ? nil : (cpu[e.pid] ?? 0), rss: e.rss,
                        memoryPercent: memoryTotal > 0 ? Double(e.rss) / Double(memoryTotal) * 100 : 0)
        }
    }

    /// The pids under /proc.
    static func pids() -> [Int32] {
        guard let d = opendir("/proc") else { return [] }
        defer { closedir(d) }
        var out: [Int32] = []
        while let e = readdir(d) {
            let pid = withUnsafeBytes(of: e.pointee.d_name) { raw -> Int32? in
                var v: Int32 = 0
                for c in raw.prefix(16) {
                    if c == 0 { break }
                    guard c >= 48, c <= 57 else { return nil }
                    v = v * 10 + Int32(c - 48)
                }
                return v > 0 ? v : nil
            }
            if let pid { out.append(pid) }
        }
        return out
    }

    /// /proc/PID/stat: "pid (comm) state ppid ..." where comm may hold spaces and parentheses,
    /// so the fields are counted from the last ")". Read relative to /proc's descriptor into the
    /// caller's buffer, parsed in place: a snapshot of every process allocates nothing per
    /// process but its entry. The file's owner is the process's user, as for /proc/PID itself.
    static func readStat(_ pid: Int32, in proc: Int32, buffer: UnsafeMutableBufferPointer<UInt8>, page: Int64) -> ProcessSnapshot.Entry? {
        var path: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        let fd = withUnsafeMutableBytes(of: &path) { p -> Int32 in
            // "PID/stat"
            var i = 0, v = pid
            repeat { i += 1; v /= 10 } while v > 0
            v = pid
            for k in stride(from: i - 1, through: 0, by: -1) { p[k] = UInt8(48 + v % 10); v /= 10 }
            for c in "/stat".utf8 { p[i] = c; i += 1 }
            return openat(proc, p.baseAddress!.assumingMemoryBound(to: CChar.self), O_RDONLY | O_CLOEXEC)
        }
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var n = 0
        while n < buffer.count {
            let r = read(fd, buffer.baseAddress! + n, buffer.count - n)
            if r < 0 { if errno == EINTR { continue }; return nil }
            if r == 0 { break }
            n += r
        }
        var st = stat()
        let uid = fstat(fd, &st) == 0 ? st.st_uid : 0
        let b = UnsafeBufferPointer(rebasing: buffer[0..<n])
        guard let open = b.firstIndex(of: 40), let close = b.lastIndex(of: 41), open < close else { return nil }
        // the fields after ")": 0 state, 1 ppid, 11 utime, 12 stime, 19 starttime, 21 rss
        var field = -1, value: Int64 = 0, inField = false
        var state: UInt8 = 63, ppid: Int64 = 0, utime: Int64 = 0, stime: Int64 = 0, start: Int64 = 0, rss: Int64 = 0
        var i = close + 1
        func finish(_ f: Int, _ v: Int64) {
            switch f {
            case 1: ppid = v
            case 11: utime = v
            case 12: stime = v
            case 19: start = v
            case 21: rss = v
            default: break
            }
        }
        while i < n && field <= 21 {
            let c = b[i]
            if c == 32 || c == 10 {
                if inField { finish(field, value); inField = false }
            } else {
                if !inField { inField = true; field += 1; value = 0; if field == 0 { state = c } }
                if c >= 48 && c <= 57 { value = value &* 10 &+ Int64(c - 48) }
            }
            i += 1
        }
        if inField { finish(field, value) }
        guard field >= 21 else { return nil }
        return ProcessSnapshot.Entry(pid: pid, ppid: Int32(ppid), name: String(decoding: b[(open + 1)..<close], as: UTF8.self),
                                     state: Character(Unicode.Scalar(state)), ticks: UInt64(utime + stime), started: UInt64(start),
                                     rss: rss * page, uid: uid)
    }

    /// The arguments of `pid` joined by spaces (nil for a kernel thread or a process gone).
    public static func commandLine(_ pid: Int32, limit: Int = 4096) -> String? {
        guard var b = ProcFile.read("/proc/\(pid)/cmdline", limit: limit), !b.isEmpty else { return nil }
        if b.count > limit { b.removeLast(b.count - limit) }
        while b.last == 0 { b.removeLast() }
        for i in b.indices where b[i] == 0 { b[i] = 32 }
        return String(decoding: b, as: UTF8.self)
    }
}

/// uid -> user name through the system's user database, each uid looked up once.
struct UserNames {
    var known: [UInt32: String] = [:]

    mutating func name(_ uid: UInt32) -> String {
        if let n = known[uid] { return n }
        var pw = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buf = [CChar](repeating: 0, count: 4096)
        let n = getpwuid_r(uid, &pw, &buf, buf.count, &result) == 0 && result != nil ? String(cString: pw.pw_name) : String(uid)
        known[uid] = n
        return n
    }
}
