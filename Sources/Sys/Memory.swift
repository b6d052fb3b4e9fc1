/// Memory and swap as /proc/meminfo reports them, in bytes.
public struct MemoryInfo: Sendable {
    public var total: Int64 = 0, free: Int64 = 0, available: Int64 = 0
    public var buffers: Int64 = 0, cached: Int64 = 0, shared: Int64 = 0, reclaimable: Int64 = 0
    public var swapTotal: Int64 = 0, swapFree: Int64 = 0

    /// What is in use by that definition `free` prints as "used": all but what the kernel can
    /// hand out without swapping (MemAvailable), so caches do not count as used.
    public var used: Int64 { total - available }
    public var usedPercent: Double { total > 0 ? Double(used) / Double(total) * 100 : 0 }
    public var swapUsed: Int64 { swapTotal - swapFree }
    public var swapUsedPercent: Double { swapTotal > 0 ? Double(swapUsed) / Double(swapTotal) * 100 : 0 }

    public static func read() throws(SysReadError) -> MemoryInfo {
        try parse(ProcFile.require("/proc/meminfo"))
    }

    static func parse(_ bytes: [UInt8]) throws(SysReadError) -> MemoryInfo {
        var m = MemoryInfo()
        var sawAvailable = false
        for line in ProcFile.lines(bytes) {
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { continue }
            let value = line[line.index(after: colon)...].drop(while: { $0 == 32 })
            let kib = (ProcFile.integer(value) ?? 0) * 1024
            switch ProcFile.string(line[..<colon]) {
            case "MemTotal": m.total = kib
            case "MemFree": m.free = kib
            case "MemAvailable": m.available = kib; sawAvailable = true
            case "Buffers": m.buffers = kib
            case "Cached": m.cached = kib
            case "Shmem": m.shared = kib
            case "SReclaimable": m.reclaimable = kib
            case "SwapTotal": m.swapTotal = kib
            case "SwapFree": m.swapFree = kib
            default: break
            }
        }
        guard m.total > 0 else { throw SysReadError(code: "parse", message: "/proc/meminfo has no MemTotal") }
        // kernels before 3.14 have no MemAvailable: free + buffers + page cache is the old estimate
        if !sawAvailable { m.available = m.free + m.buffers + m.cached + m.reclaimable - m.shared }
        return m
    }
}
