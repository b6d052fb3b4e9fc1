import FileSystem
import Glibc

/// One reading of the machine's CPU counters and of every process's CPU time, kept on disk so
/// that a later run measures CPU over the time since (docs/agent.md "CPU samples"): a long-running
/// sampler (the agent) writes one every few seconds, and `opsh run system/resources` reads the
/// newest instead of sleeping top's 0.15 s between two readings of its own.
///
/// A sample is only comparable with a reading of the same kernel since the same boot, seen from
/// the same pid namespace (a container's pids are not the host's): it carries the boot id and
/// the namespace, and the reader refuses any other.
public struct CPUSample: Sendable {
    /// CLOCK_MONOTONIC seconds when the processes were read (the same clock in every process of a boot).
    public let taken: Double
    /// /proc/sys/kernel/random/boot_id: another boot, other counters.
    public let bootID: String
    /// The inode of /proc/self/ns/pid: the pids' namespace.
    public let pidNamespace: UInt64
    public let cpu: CPUTimes
    /// Every process's pid, start time and CPU ticks (the rest of each entry is not kept).
    public let processes: ProcessSnapshot

    /// Reads the counters and every process now.
    public static func take() throws(SysReadError) -> CPUSample {
        let identity = try BootIdentity.current()
        let cpu = try CPUTimes.read()
        let processes = ProcessSnapshot.take()
        return CPUSample(taken: processes.taken, bootID: identity.bootID, pidNamespace: identity.pidNamespace,
                         cpu: cpu, processes: processes)
    }

    init(taken: Double, bootID: String, pidNamespace: UInt64, cpu: CPUTimes, processes: ProcessSnapshot) {
        self.taken = taken
        self.bootID = bootID
        self.pidNamespace = pidNamespace
        self.cpu = cpu
        self.processes = processes
    }

    /// The same reading as if it had been taken `seconds` earlier (tests: a sample old enough to use without waiting).
    public func aged(by seconds: Double) -> CPUSample {
        CPUSample(taken: taken - seconds, bootID: bootID, pidNamespace: pidNamespace, cpu: cpu,
                  processes: ProcessSnapshot(taken: processes.taken - seconds, entries: processes.entries))
    }

    // MARK: the file

    static let magic: [UInt8] = Array("OPSHCPU1".utf8)
    static let bootIDLength = 36   // a UUID's text

    /// Little-endian binary: magic, namespace, boot id, time, the counters of all cores and of
    /// each, then (pid, start, ticks) per process. About 20 bytes a process.
    public func encoded() -> [UInt8] {
        var out = CPUSample.magic
        out.reserveCapacity(80 + (cpu.cores.count + 1) * 72 + processes.entries.count * 20)
        func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        func counters(_ id: Int64, _ c: CPUTimes.Counters) {
            u64(UInt64(bitPattern: id))
            for v in [c.user, c.nice, c.system, c.idle, c.iowait, c.irq, c.softirq, c.steal] { u64(v) }
        }
        u64(pidNamespace)
        var boot = Array(bootID.utf8.prefix(CPUSample.bootIDLength))
        boot += [UInt8](repeating: 0, count: CPUSample.bootIDLength - boot.count)
        out += boot
        u64(taken.bitPattern)
        u64(UInt64(cpu.cores.count))
        counters(-1, cpu.all)
        for c in cpu.cores { counters(Int64(c.id), c.counters) }
        u64(UInt64(processes.entries.count))
        for e in processes.entries.values {
            withUnsafeBytes(of: e.pid.littleEndian) { out.append(contentsOf: $0) }
            u64(e.started)
            u64(e.ticks)
        }
        return out
    }

    /// A sample from its file's bytes; anything else (another format, a file cut short or too
    /// long, a count that does not fit) is an error, never a sample with wrong counters.
    public static func decode(_ bytes: [UInt8]) throws(SysReadError) -> CPUSample {
        func corrupt(_ why: String) -> SysReadError { SysReadError(code: "corrupt", message: "not an opsh CPU sample: \(why)") }
        guard bytes.count >= magic.count, Array(bytes.prefix(magic.count)) == magic else { throw corrupt("wrong magic") }
        var at = magic.count
        func u64() throws(SysReadError) -> UInt64 {
            guard at + 8 <= bytes.count else { throw corrupt("cut short") }
            var v: UInt64 = 0
            for i in 0..<8 { v |= UInt64(bytes[at + i]) << (8 * UInt64(i)) }
            at += 8
            return v
        }
        func counters() throws(SysReadError) -> (Int64, CPUTimes.Counters) {
            let id = Int64(bitPattern: try u64())
            return (id, CPUTimes.Counters(user: try u64(), nice: try u64(), system: try u64(), idle: try u64(),
                                          iowait: try u64(), irq: try u64(), softirq: try u64(), steal: try u64()))
        }
        let namespace = try u64()
        guard at + bootIDLength <= bytes.count else { throw corrupt("cut short") }
        let boot = String(decoding: bytes[at..<(at + bootIDLength)].prefix { $0 != 0 }, as: UTF8.self)
        at += bootIDLength
        let taken = Double(bitPattern: try u64())
        guard taken.isFinite, taken >= 0 else { throw corrupt("bad time") }
        let coreCount = try u64()
        guard coreCount <= 65536 else { throw corrupt("\(coreCount) cores") }
        let (allID, all) = try counters()
        guard allID == -1 else { throw corrupt("no aggregate counters") }
        var cores: [(id: Int, counters: CPUTimes.Counters)] = []
        for _ in 0..<Int(coreCount) {
            let (id, c) = try counters()
            guard id >= 0 else { throw corrupt("bad core id") }
            cores.append((Int(id), c))
        }
        let count = try u64()
        guard count <= UInt64((bytes.count - at) / 20), bytes.count - at == Int(count) * 20 else { throw corrupt("wrong length") }
        var entries: [Int32: ProcessSnapshot.Entry] = [:]
        entries.reserveCapacity(Int(count))
        for _ in 0..<Int(count) {
            var pid: UInt32 = 0
            for i in 0..<4 { pid |= UInt32(bytes[at + i]) << (8 * UInt32(i)) }
            at += 4
            let started = try u64(), ticks = try u64()
            let p = Int32(bitPattern: pid)
            entries[p] = ProcessSnapshot.Entry(pid: p, ppid: 0, name: "", state: "?", ticks: ticks, started: started, rss: 0, uid: 0)
        }
        return CPUSample(taken: taken, bootID: boot, pidNamespace: namespace, cpu: CPUTimes(all: all, cores: cores),
                         processes: ProcessSnapshot(taken: taken, entries: entries))
    }
}

/// Which boot and which pid namespace this process runs in.
struct BootIdentity: Equatable {
    let bootID: String
    let pidNamespace: UInt64

    static func current() throws(SysReadError) -> BootIdentity {
        let boot = String(decoding: try ProcFile.require("/proc/sys/kernel/random/boot_id").prefix { $0 != 10 }, as: UTF8.self)
        var st = stat()
        // the namespace's identity is the inode of its /proc/self/ns link's target
        guard stat("/proc/self/ns/pid", &st) == 0 else { throw .errno("cannot stat", "/proc/self/ns/pid") }
        return BootIdentity(bootID: boot, pidNamespace: UInt64(st.st_ino))
    }
}

/// The directory a sampler writes its samples to: two generations (cpu-sample.0 and .1), each
/// write replacing the older atomically, so that a reader always finds one at least a sampling
/// period old beside the newest.
public struct CPUSampleDirectory: Sendable {
    public let path: String
    static let names = ["cpu-sample.0", "cpu-sample.1"]
    /// A sample is a few kB a hundred processes; a file much larger is not one.
    static let sizeLimit = 16 << 20

    public init(_ path: String) { self.path = path }

    /// Why no sample could be used: the caller measures over an interval of its own instead.
    public struct Unusable: Error, Sendable, CustomStringConvertible {
        public let reason: String
        /// false: no sampler has written here (no agent on this host, or samples off)
        public let samplesFound: Bool
        public var description: String { reason }
    }

    /// Writes `sample` over the older generation (creating the directory, mode 0755). A file of
    /// another boot or pid namespace, or not a sample, counts as the oldest: its time is on
    /// another clock (after a reboot the old boot's larger times would otherwise look newest,
    /// and the new boot's samples would keep replacing each other).
    public func write(_ sample: CPUSample) throws(SysReadError) {
        if mkdir(path, 0o755) != 0 && errno != EEXIST { throw .errno("cannot create", path) }
        func rank(_ name: String) -> Double {
            guard let s = try? load(name), s.bootID == sample.bootID, s.pidNamespace == sample.pidNamespace else { return -1 }
            return s.taken
        }
        let older = CPUSampleDirectory.names.min { rank($0) < rank($1) } ?? CPUSampleDirectory.names[0]
        // not durable: a sample lost in a crash is worthless anyway, and a flush every few seconds is not
        do throws(FileSystemError) { try FileSystem.writeAtomically(path + "/" + older, sample.encoded(), durable: false) } catch {
            throw SysReadError(code: "io", message: error.message)
        }
    }

    func load(_ name: String) throws(SysReadError) -> CPUSample {
        let file = path + "/" + name
        let bytes: [UInt8]
        do throws(FileSystemError) { bytes = try FileSystem.read(file, limit: CPUSampleDirectory.sizeLimit) } catch {
            throw SysReadError(code: error.code == "ENOENT" ? "not_found" : "io", message: error.message)
        }
        do throws(SysReadError) { return try CPUSample.decode(bytes) } catch {
            throw SysReadError(code: error.code, message: "\(file): \(error.message)")
        }
    }

    /// The newest sample of this boot and pid namespace taken at least `minAge` and at most
    /// `maxAge` seconds before `now` (CLOCK_MONOTONIC), or why there is none.
    public func newest(minAge: Double, maxAge: Double, now: Double = SystemClock.monotonic()) -> Result<CPUSample, Unusable> {
        let identity: BootIdentity
        do throws(SysReadError) { identity = try BootIdentity.current() } catch { return .failure(Unusable(reason: error.message, samplesFound: false)) }
        func tenths(_ x: Double) -> String { String((x * 10).rounded() / 10) }
        var reasons: [String] = []
        var best: CPUSample?
        for name in CPUSampleDirectory.names {
            let s: CPUSample
            do throws(SysReadError) { s = try load(name) } catch {
                if error.code != "not_found" { reasons.append(error.message) }
                continue
            }
            let age = now - s.taken
            if s.bootID != identity.bootID { reasons.append("\(name) is from another boot") }
            else if s.pidNamespace != identity.pidNamespace { reasons.append("\(name) was taken in another pid namespace (a container's sampler)") }
            else if age < minAge { reasons.append("\(name) is \(tenths(max(0, age))) s old (under \(tenths(minAge)) s)") }
            else if age > maxAge { reasons.append("\(name) is \(tenths(age)) s old (over \(tenths(maxAge)) s)") }
            else if best == nil || s.taken > best!.taken { best = s }
        }
        if let best { return .success(best) }
        return .failure(Unusable(reason: reasons.isEmpty ? "no sample in \(path)" : reasons.joined(separator: "; "), samplesFound: !reasons.isEmpty))
    }
}
