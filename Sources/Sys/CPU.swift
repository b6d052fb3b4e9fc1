/// CPU time as /proc/stat counts it (in clock ticks since boot), for the whole machine and each
/// core. Utilisation is the difference of two readings: a counter alone says nothing about now.
public struct CPUTimes: Sendable {
    public struct Counters: Sendable, Equatable {
        public var user: UInt64 = 0, nice: UInt64 = 0, system: UInt64 = 0, idle: UInt64 = 0
        public var iowait: UInt64 = 0, irq: UInt64 = 0, softirq: UInt64 = 0, steal: UInt64 = 0

        /// Every tick counted once (guest time is already inside user and nice).
        public var total: UInt64 { user + nice + system + idle + iowait + irq + softirq + steal }
        /// Ticks the core did nothing (waiting for I/O is idle time, as top counts it).
        public var idleAll: UInt64 { idle + iowait }
    }

    public let all: Counters
    /// Each core by its number ("cpu3" is 3), in /proc/stat's order.
    public let cores: [(id: Int, counters: Counters)]

    public static func read() throws(SysReadError) -> CPUTimes {
        try parse(ProcFile.require("/proc/stat"))
    }

    static func parse(_ bytes: [UInt8]) throws(SysReadError) -> CPUTimes {
        var all: Counters?
        var cores: [(Int, Counters)] = []
        for line in ProcFile.lines(bytes) {
            guard line.starts(with: [99, 112, 117]) else { continue }   // "cpu"
            let f = ProcFile.fields(line)
            guard f.count >= 5 else { continue }
            let v = f.dropFirst().map { UInt64(ProcFile.integer($0) ?? 0) }
            func at(_ i: Int) -> UInt64 { i < v.count ? v[i] : 0 }
            let c = Counters(user: at(0), nice: at(1), system: at(2), idle: at(3), iowait: at(4),
                             irq: at(5), softirq: at(6), steal: at(7))
            let name = f[0]
            if name.count == 3 { all = c } else if let id = ProcFile.integer(name.dropFirst(3)) { cores.append((Int(id), c)) }
        }
        guard let all else { throw SysReadError(code: "parse", message: "/proc/stat has no cpu line") }
        return CPUTimes(all: all, cores: cores)
    }

    /// Utilisation between `earlier` and this reading.
    public func usage(since earlier: CPUTimes) -> CPUUsage {
        var cores: [(id: Int, share: CPUUsage.Share)] = []
        for (id, c) in self.cores {
            // a core that went offline in between has no earlier reading: it is left out
            guard let before = earlier.cores.first(where: { $0.id == id }) else { continue }
            cores.append((id, CPUUsage.Share(c, before.counters)))
        }
        return CPUUsage(all: CPUUsage.Share(all, earlier.all), cores: cores)
    }
}

/// Where the CPU time of an interval went, in % of the interval (of one core for each core, of
/// all cores together for `all`).
public struct CPUUsage: Sendable {
    public struct Share: Sendable {
        public var busy = 0.0, user = 0.0, system = 0.0, iowait = 0.0, steal = 0.0, idle = 100.0

        init(_ now: CPUTimes.Counters, _ then: CPUTimes.Counters) {
            func d(_ a: UInt64, _ b: UInt64) -> Double { a >= b ? Double(a - b) : 0 }
            let total = d(now.total, then.total)
            guard total > 0 else { return }
            busy = (total - d(now.idleAll, then.idleAll)) / total * 100
            user = (d(now.user, then.user) + d(now.nice, then.nice)) / total * 100
            system = (d(now.system, then.system) + d(now.irq, then.irq) + d(now.softirq, then.softirq)) / total * 100
            iowait = d(now.iowait, then.iowait) / total * 100
            steal = d(now.steal, then.steal) / total * 100
            idle = d(now.idle, then.idle) / total * 100
        }
    }

    public let all: Share
    public let cores: [(id: Int, share: Share)]
}
