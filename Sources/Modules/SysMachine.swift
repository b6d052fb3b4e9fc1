import LuaRuntime
import Sys

/// opsh.sys's view of the machine: each function reads Sources/Sys and returns plain tables.
/// The two that measure over an interval (cpu, processes by CPU) take one reading, wait on the
/// event loop (other tasks run meanwhile; `opsh.all{sys.cpu, sys.processes}` measures both over
/// the same interval), then take the second.
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

    /// sys.cpu{interval = 0.2} -> {busy, user, system, iowait, steal, idle, interval, cores = {{id, busy, ...}, ...}} (%)
    static let cpu: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let o = try lua.options(1, known: ["interval"])
            let seconds = try interval(lua, o, default: 0.2)
            let first: CPUTimes
            do throws(SysReadError) { first = try CPUTimes.read() } catch { return readFailure(lua, error) }
            let started = SystemClock.monotonic()
            return lua.wait(.sleep, deadline: .after(seconds: seconds)) { lua, outcome in
                if outcome == .cancelled { return lua.failure(code: "cancelled", message: "sys.cpu: interrupted") }
                let u: CPUUsage
                do throws(SysReadError) { u = try CPUTimes.read().usage(since: first) } catch { return readFailure(lua, error) }
                func share(_ s: CPUUsage.Share) -> [LuaValue: LuaValue] {
                    [key("busy"): number(s.busy), key("user"): number(s.user), key("system"): number(s.system),
                     key("iowait"): number(s.iowait), key("steal"): number(s.steal), key("idle"): number(s.idle)]
                }
                var t = share(u.all)
                t[key("interval")] = number(SystemClock.monotonic() - started, places: 1000)
                t[key("cores")] = .array(u.cores.map { c in
                    var m = share(c.share)
                    m[key("id")] = .integer(Int64(c.id))
                    return .map(m)
                })
                lua.push(value: .map(t))
                return 1
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

    /// sys.processes{sort = "cpu"|"memory", top = 10, interval = 0.2} -> {{pid, ppid, user, name, command, state, cpu_percent, rss, memory_percent}, ...}
    /// By memory there is no interval and no cpu_percent.
    static let processes: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let o = try lua.options(1, known: ["sort", "top", "interval"])
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
            func push(_ lua: Lua, _ list: [ProcessInfo]) -> Int32 {
                lua.push(value: .array(list.map { p in
                    var m: [LuaValue: LuaValue] = [
                        key("pid"): .integer(Int64(p.pid)), key("ppid"): .integer(Int64(p.ppid)), key("user"): .string(p.user),
                        key("name"): .string(p.name), key("command"): .string(p.command), key("state"): .string(String(p.state)),
                        key("rss"): .integer(p.rss), key("memory_percent"): number(p.memoryPercent)]
                    if let c = p.cpuPercent { m[key("cpu_percent")] = number(c, places: 10) }
                    return .map(m)
                }))
                return 1
            }
            if order == .memory {
                return push(lua, Processes.top(.memory, count: count, earlier: nil, later: ProcessSnapshot.take(), memoryTotal: total))
            }
            let first = ProcessSnapshot.take()
            return lua.wait(.sleep, deadline: .after(seconds: seconds)) { lua, outcome in
                if outcome == .cancelled { return lua.failure(code: "cancelled", message: "sys.processes: interrupted") }
                return push(lua, Processes.top(.cpu, count: count, earlier: first, later: ProcessSnapshot.take(), memoryTotal: total))
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
