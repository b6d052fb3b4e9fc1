import FileSystem
import Glibc

/// The process_* metrics Prometheus' client libraries export, read from /proc/self: resident
/// and virtual memory, CPU seconds, open and maximum descriptors, threads, start time.
enum ProcessMetrics {
    static let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
    static let pageSize = Double(sysconf(Int32(_SC_PAGESIZE)))

    static func text() -> String {
        var out = ""
        func metric(_ name: String, _ type: String, _ help: String, _ value: Double) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n\(name) \(format(value))\n"
        }
        if let stat = read("/proc/self/stat"), let close = stat.lastIndex(of: ")") {
            // fields after "(comm)": state is field 3; utime 14, stime 15, threads 20, starttime 22, vsize 23, rss 24
            let f = stat[stat.index(after: close)...].split(separator: " ")
            func field(_ n: Int) -> Double { n - 3 < f.count ? Double(f[n - 3]) ?? 0 : 0 }
            metric("process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.", (field(14) + field(15)) / ticks)
            metric("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", field(24) * pageSize)
            metric("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.", field(23))
            metric("process_threads", "gauge", "Threads in the process.", field(20))
            if let boot = bootTime() {
                metric("process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.", boot + field(22) / ticks)
            }
        }
        metric("process_open_fds", "gauge", "Number of open file descriptors.", Double(openDescriptors()))
        var lim = rlimit()
        if getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &lim) == 0 {
            metric("process_max_fds", "gauge", "Maximum number of open file descriptors.", Double(lim.rlim_cur))
        }
        return out
    }

    /// Resident set size in bytes (for the soak benchmark's start and end readings too).
    static func residentBytes() -> Double? {
        guard let stat = read("/proc/self/stat"), let close = stat.lastIndex(of: ")") else { return nil }
        let f = stat[stat.index(after: close)...].split(separator: " ")
        return f.count > 21 ? (Double(f[21]) ?? 0) * pageSize : nil
    }

    static func format(_ v: Double) -> String {
        v == v.rounded() && abs(v) < 1e15 ? String(Int64(v)) : String(v)
    }

    static func openDescriptors() -> Int {
        // less the descriptor that lists the directory
        max(0, ((try? FileSystem.list("/proc/self/fd", limit: 1 << 20))?.count ?? 1) - 1)
    }

    static func bootTime() -> Double? {
        guard let s = read("/proc/stat") else { return nil }
        for line in s.split(separator: "\n") where line.hasPrefix("btime ") { return Double(line.dropFirst(6)) }
        return nil
    }

    /// /proc files report a size of 0: FileSystem.read reads to the end, bounded.
    static func read(_ path: String) -> String? {
        (try? FileSystem.read(path, limit: 1 << 20)).map { String(decoding: $0, as: UTF8.self) }
    }
}
