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
        for pid in Processes.pids() {
            guard let e = Processes.readStat(pid, page: page) else { continue }
            entries[pid] = e
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
    /// so the fields are counted from the last ")".
    static func readStat(_ pid: Int32, page: Int64) -> ProcessSnapshot.Entry? {
        guard let b = ProcFile.read("/proc/\(pid)/stat", limit: 4096),
              let open = b.firstIndex(of: 40), let close = b.lastIndex(of: 41), open < close else { return nil }
        let f = ProcFile.fields(b[(close + 1)...])
        guard f.count >= 22 else { return nil }
        func n(_ i: Int) -> Int64 { ProcFile.integer(f[i]) ?? 0 }
        var st = stat()
        let uid = stat("/proc/\(pid)", &st) == 0 ? st.st_uid : 0
        return ProcessSnapshot.Entry(pid: pid, ppid: Int32(n(1)), name: ProcFile.string(b[(open + 1)..<close]),
                                     state: Character(Unicode.Scalar(f[0].first ?? 63)),
                                     ticks: UInt64(max(0, n(11))) + UInt64(max(0, n(12))), started: UInt64(max(0, n(19))),
                                     rss: n(21) * page, uid: uid)
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
