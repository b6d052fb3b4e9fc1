import LuaRuntime
import Sys

/// opsh.sys's view of the machine: each function reads Sources/Sys and returns plain tables.
/// The two that measure over an interval (cpu, processes by CPU) take one reading, wait on the
/// event loop (other tasks run meanwhile; `opsh.all{sys.cpu, sys.processes}` measures both over
/// the same interval), then take the second; or, given the directory of the agent's CPU samples
/// (`since`), use the newest fresh sample there as the first reading and do not wait.
extension SysModule {
    static func key(_ s: String) -> LuaValue { .string(s) }
    static func number(_ d: Double, places: Double = 100) -> LuaValue { .number((d * places).rounded() / places) }

    static func readFailure(_ lua: Lua, _ e: SysReadError) -> Int32 { lua.failure(code: e.code, message: e.message) }

    /// The interval option: seconds, > 0 and at most a minute.
    static func interval(_ lua: Lua, _ o: [String: LuaValue], default d: Double) throws(LuaRaise) -> Double {
        let v: Double
        switch o["interval"] {
        case nil, .nil?: v = d
        case .integer(let i)?: v = Double(i)
        case .number(let x)?: v = x
        default: throw .argument(1, "interval must be a number of seconds")
        }
        guard v > 0, v <= 60 else { throw .argument(1, "interval must be > 0 and at most 60 seconds") }
        return v
    }

    /// The sampler's directory the options name (`since = dir`, `max_age` seconds, default 15:
    /// three of the agent's default 5 s periods), nil without `since`.
    static func sampleDirectory(_ o: [String: LuaValue]) throws(LuaRaise) -> (dir: CPUSampleDirectory, maxAge: Double)? {
        let dir: String
        switch o["since"] {
        case nil, .nil?: return nil
        case .string(let b)? where !b.isEmpty: dir = String(decoding: b, as: UTF8.self)
        default: throw .argument(1, "since must be the directory of the agent's CPU samples")
        }
        var maxAge = 15.0
        switch o["max_age"] {
        case nil, .nil?: break
        case .integer(let i)? where i > 0: maxAge = Double(i)
        case .number(let x)? where x > 0: maxAge = x
        default: throw .argument(1, "max_age must be a positive number of seconds")
        }
        return (CPUSampleDirectory(dir), maxAge)
    }

    /// A sample younger than this measures too short an interval to be worth more than the
    /// caller's own (top's 0.15 s); the one before it is used, or the interval.
    static let sampleMinAge = 1.0

    /// The newest usable sample of `since`, or why none (nil: `since` not given).
    static func sample(_ o: [String: LuaValue]) throws(LuaRaise) -> Result<CPUSample, CPUSampleDirectory.Unusable>? {
        guard let (dir, maxAge) = try sampleDirectory(o) else { return nil }
        return dir.newest(minAge: sampleMinAge, maxAge: maxAge)
    }

    /// How a measurement over an interval was made: `interval` seconds, `source` "agent sample"
    /// or "interval", and `sample_unused`: why the samples found in `since` were not used (too
    /// old: the sampler stopped; another boot; ...), absent when there were none.
    static func measured(_ seconds: Double, _ sample: Result<CPUSample, CPUSampleDirectory.Unusable>?) -> [LuaValue: LuaValue] {
        var m: [LuaValue: LuaValue] = [key("interval"): number(seconds, places: 1000)]
        switch sample {
        case .success?: m[key("source")] = .string("agent sample")
        case .failure(let why)?:
            m[key("source")] = .string("interval")
            if why.samplesFound { m[key("sample_unused")] = .string(why.reason) }
        case nil: m[key("source")] = .string("interval")
        }
        return m
    }

    /// sys.cpu{interval = 0.2, since = dir, max_age = 15} -> {busy, user, system, iowait, steal, idle, interval, source, sample_unused, cores = {{id, busy, ...}, ...}} (%)
    /// With `since`, over the time since the newest usable sample there (no wait), else over the interval.
    static let cpu: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let o = try lua.options(1, known: ["interval", "since", "max_age"])
            let seconds = try interval(lua, o, default: 0.2)
            let sample = try sample(o)
            func result(_ lua: Lua, _ u: CPUUsage, over elapsed: Double) -> Int32 {
                func share(_ s: CPUUsage.Share) -> [LuaValue: LuaValue] {
                    [key("busy"): number(s.busy), key("user"): number(s.user), key("system"): number(s.system),
                     key("iowait"): number(s.iowait), key("steal"): number(s.steal), key("idle"): number(s.idle)]
                }
                var t = share(u.all).merging(measured(elapsed, sample)) { a, _ in a }
                t[key("cores")] = .array(u.cores.map { c in
                    var m = share(c.share)
                    m[key("id")] = .integer(Int64(c.id))
                    return .map(m)
                })
                lua.push(value: .map(t))
                return 1
            }
            if case .success(let s)? = sample {
                do throws(SysReadError) {
                    let now = try CPUTimes.read()
                    return result(lua, now.usage(since: s.cpu), over: SystemClock.monotonic() - s.taken)
                } catch { return readFailure(lua, error) }
            }
            let first: CPUTimes
            do throws(SysReadError) { first = try CPUTimes.read() } catch { return readFailure(lua, error) }
            let started = SystemClock.monotonic()
            return lua.wait(.sleep, deadline: .after(seconds: seconds)) { lua, outcome in
                if outcome == .cancelled { return lua.failure(code: "cancelled", message: "sys.cpu: interrupted") }
                do throws(SysReadError) {
                    let u = try CPUTimes.read().usage(since: first)
                    return result(lua, u, over: SystemClock.monotonic() - started)
                } catch { return readFailure(lua, error) }
            }
        }
    }

    /// sys.memory() -> {total, available, used, used_percent, free, buffers, cached, shared, swap_total, swap_free, swap_used, swap_used_percent} (bytes, %)
    static let memory: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let m: MemoryInfo
            do throws(SysReadError) { m = try MemoryInfo.read() } catch { return readFailure(lua, error) }
            lua.push(value: .map([
                key("total"): .integer(m.total), key("available"): .integer(m.available), key("used"): .integer(m.used),
                key("used_percent"): number(m.usedPercent), key("free"): .integer(m.free), key("buffers"): .integer(m.buffers),
                key("cached"): .integer(m.cached), key("shared"): .integer(m.shared),
                key("swap_total"): .integer(m.swapTotal), key("swap_free"): .integer(m.swapFree),
                key("swap_used"): .integer(m.swapUsed), key("swap_used_percent"): number(m.swapUsedPercent),
            ]))
            return 1
        }
    }

    /// sys.disks() -> {{mount, source, type, device, read_only, total, free, available, used, used_percent, inodes, inodes_free, inodes_used_percent}, ...}
    static let disks: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let list: [MountedFilesystem]
            do throws(SysReadError) { list = try Filesystems.list() } catch { return readFailure(lua, error) }
            lua.push(value: .array(list.map { f in
                .map([key("mount"): .string(f.mountPoint), key("source"): .string(f.source), key("type"): .string(f.type),
                      key("device"): .string(f.device), key("read_only"): .boolean(f.readOnly),
                      key("total"): .integer(f.total), key("free"): .integer(f.free), key("available"): .integer(f.available),
                      key("used"): .integer(f.used), key("used_percent"): number(f.usedPercent, places: 10),
                      key("inodes"): .integer(f.inodes), key("inodes_free"): .integer(f.inodesFree),
                      key("inodes_used_percent"): number(f.inodesUsedPercent, places: 10)])
            }))
            return 1
        }
    }

    /// sys.load() -> {load1, load5, load15, cores, per_core, running, tasks}
    static let load: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let l: LoadInfo
            do throws(SysReadError) { l = try LoadInfo.read() } catch { return readFailure(lua, error) }
            lua.push(value: .map([key("load1"): .number(l.load1), key("load5"): .number(l.load5), key("load15"): .number(l.load15),
                                  key("cores"): .integer(Int64(l.cores)), key("per_core"): number(l.load1 / Double(l.cores)),
                                  key("running"): .integer(Int64(l.running)), key("tasks"): .integer(Int64(l.tasks))]))
            return 1
        }
    }

    /// sys.uptime() -> {seconds, boot_time}
    static let uptime: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let u: Uptime
            do throws(SysReadError) { u = try Uptime.read() } catch { return readFailure(lua, error) }
            lua.push(value: .map([key("seconds"): number(u.seconds), key("boot_time"): .number(u.bootTime.rounded())]))
            return 1
        }
    }

    /// sys.processes{sort = "cpu"|"memory", top = 10, interval = 0.2, since = dir, max_age = 15} ->
    ///   {{pid, ppid, user, name, command, state, cpu_percent, rss, memory_percent}, ...}, {interval, source, sample_unused}
    /// By memory there is no interval, no cpu_percent and no second value. By CPU with `since`,
    /// over the time since the newest usable sample there (no wait), else over the interval.
    static let processes: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let o = try lua.options(1, known: ["sort", "top", "interval", "since", "max_age"])
            let order: Processes.Order
            switch o["sort"] {
            case nil, .nil?: order = .cpu
            case .string(let b)?:
                guard let v = Processes.Order(rawValue: String(decoding: b, as: UTF8.self)) else { throw .argument(1, "sort must be \"cpu\" or \"memory\"") }
                order = v
            default: throw .argument(1, "sort must be \"cpu\" or \"memory\"")
            }
            var count = 10
            switch o["top"] {
            case nil, .nil?: break
            case .integer(let i)? where i > 0: count = Int(i)
            default: throw .argument(1, "top must be a positive integer")
            }
            let seconds = try interval(lua, o, default: 0.2)
            let total = (try? MemoryInfo.read())?.total ?? 0
            func push(_ lua: Lua, _ list: [ProcessInfo]) {
                lua.push(value: .array(list.map { p in
                    var m: [LuaValue: LuaValue] = [
                        key("pid"): .integer(Int64(p.pid)), key("ppid"): .integer(Int64(p.ppid)), key("user"): .string(p.user),
                        key("name"): .string(p.name), key("command"): .string(p.command), key("state"): .string(String(p.state)),
                        key("rss"): .integer(p.rss), key("memory_percent"): number(p.memoryPercent)]
                    if let c = p.cpuPercent { m[key("cpu_percent")] = number(c, places: 10) }
                    return .map(m)
                }))
            }
            if order == .memory {
                push(lua, Processes.top(.memory, count: count, earlier: nil, later: ProcessSnapshot.take(), memoryTotal: total))
                return 1
            }
            let sample = try sample(o)
            func byCPU(_ lua: Lua, since first: ProcessSnapshot) -> Int32 {
                let now = ProcessSnapshot.take()
                push(lua, Processes.top(.cpu, count: count, earlier: first, later: now, memoryTotal: total))
                lua.push(value: .map(measured(now.taken - first.taken, sample)))
                return 2
            }
            if case .success(let s)? = sample { return byCPU(lua, since: s.processes) }
            let first = ProcessSnapshot.take()
            return lua.wait(.sleep, deadline: .after(seconds: seconds)) { lua, outcome in
                if outcome == .cancelled { return lua.failure(code: "cancelled", message: "sys.processes: interrupted") }
                return byCPU(lua, since: first)
            }
        }
    }

    /// sys.listening() -> {{proto, address, port, inode, uid, pid, process}, ...} (unix: address is the path, no port)
    static let listening: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            lua.push(value: .array(Sockets.listening().map { s in
                var m: [LuaValue: LuaValue] = [key("proto"): .string(s.proto), key("address"): .string(s.address),
                                               key("inode"): .integer(Int64(s.inode))]
                if let p = s.port { m[key("port")] = .integer(Int64(p)) }
                if let u = s.uid { m[key("uid")] = .integer(Int64(u)) }
                if let p = s.pid { m[key("pid")] = .integer(Int64(p)) }
                if let p = s.process { m[key("process")] = .string(p) }
                return .map(m)
            }))
            return 1
        }
    }
}
