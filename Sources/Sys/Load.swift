import Glibc

/// The run-queue averages, the CPUs online and the time since boot.
public struct LoadInfo: Sendable {
    public let load1: Double, load5: Double, load15: Double
    /// Tasks runnable now, and all tasks (the fourth field of /proc/loadavg).
    public let running: Int, tasks: Int
    public let cores: Int

    public static func read() throws(SysReadError) -> LoadInfo {
        let bytes = try ProcFile.require("/proc/loadavg")
        let f = ProcFile.fields(bytes[...])
        guard f.count >= 4, let a = Double(ProcFile.string(f[0])), let b = Double(ProcFile.string(f[1])),
              let c = Double(ProcFile.string(f[2])) else {
            throw SysReadError(code: "parse", message: "/proc/loadavg: unexpected contents")
        }
        let rt = f[3].split(separator: UInt8(ascii: "/"))
        return LoadInfo(load1: a, load5: b, load15: c,
                        running: Int(ProcFile.integer(rt.first ?? []) ?? 0), tasks: Int(ProcFile.integer(rt.last ?? []) ?? 0),
                        cores: onlineCores())
    }

    /// The CPUs this process may run on now (what `nproc` prints), at least 1.
    public static func onlineCores() -> Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }
}

/// Seconds since boot (/proc/uptime), and the boot time as a Unix time.
public struct Uptime: Sendable {
    public let seconds: Double
    public let bootTime: Double

    public static func read() throws(SysReadError) -> Uptime {
        let bytes = try ProcFile.require("/proc/uptime")
        guard let first = ProcFile.fields(bytes[...]).first, let s = Double(ProcFile.string(first)) else {
            throw SysReadError(code: "parse", message: "/proc/uptime: unexpected contents")
        }
        return Uptime(seconds: s, bootTime: SystemClock.wall() - s)
    }
}
