import EventLoop
import Glibc
import LuaRuntime
import Sys

/// `opsh.sys`: the machine (CPU, memory, disks, load, processes, sockets: SysMachine.swift, DNS
/// and TCP reachability: SysNetwork.swift), upgradable packages, and running a program where no API exists
/// (systemctl, journalctl, apt: docs/ARCHITECTURE.md §4), once, with a timeout, without a shell.
/// The wait is a native wait on the process's pidfd, so other tasks run meanwhile. Under
/// --dry-run a program is not run unless the caller says it only reads (read_only = true, e.g.
/// `systemctl show`).
public enum SysModule {
    public static let open: LuaFunction = { L in
        let lua = Lua(L!)
        lua.newModule([("exec", exec), ("upgradable_packages", upgradablePackages), ("cpu", cpu), ("memory", memory),
                       ("disks", disks), ("load", load), ("uptime", uptime), ("processes", processes),
                       ("listening", listening), ("resolve", resolve), ("connect", connect)])
        return 1
    }

    /// sys.exec(argv [, opts]) -> {status, signal, stdout, stderr, truncated}, or nil, err
    /// opts: timeout (seconds, default 10), max_bytes (of each output kept, default 1 MiB; writes
    /// beyond it fail in the program, and the result says truncated = true),
    /// read_only, env (a list of "K=V": the whole environment), cwd.
    static let exec: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            guard lua.type(at: 1) == .table else { throw .argument(1, "a list of arguments expected (program first; no shell)") }
            var argv: [String] = []
            let n = lua.rawLength(1)
            if n > 0 {
                for k in 1...n {
                    guard lua.rawGet(1, index: Int64(k)) == .string || lua.type(at: -1) == .number else {
                        lua.pop(); throw .argument(1, "argument \(k) is not a string")
                    }
                    argv.append(lua.toString(-1)!)
                    lua.pop()
                }
            }
            guard !argv.isEmpty, !argv[0].isEmpty else { throw .argument(1, "no program given") }
            var timeout = 10.0, maxBytes = 1 << 20, readOnly = false
            var env: [String]?, cwd: String?
            if !lua.isNoneOrNil(2) {
                try lua.checkTable(2)
                if try lua.optionField(2, "timeout", .number, arg: 2) { timeout = lua.toNumber(-1)!; lua.pop() }
                if try lua.optionField(2, "max_bytes", .number, arg: 2) { maxBytes = Int(lua.toInteger(-1) ?? 0); lua.pop() }
                if try lua.optionField(2, "read_only", .boolean, arg: 2) { readOnly = lua.toBool(-1); lua.pop() }
                if try lua.optionField(2, "cwd", .string, arg: 2) { cwd = lua.toString(-1); lua.pop() }
                if try lua.optionField(2, "env", .table, arg: 2) {
                    var e: [String] = []
                    let m = lua.rawLength(-1)
                    if m > 0 {
                        for k in 1...m {
                            guard lua.rawGet(-1, index: Int64(k)) == .string else { lua.pop(2); throw .argument(2, "env must be a list of \"K=V\" strings") }
                            e.append(lua.toString(-1)!)
                            lua.pop()
                        }
                    }
                    lua.pop()
                    env = e
                }
            }
            guard timeout > 0 else { throw .argument(2, "timeout must be positive") }
            guard maxBytes > 0 else { throw .argument(2, "max_bytes must be positive") }
            let shown = argv.joined(separator: " ")
            if lua.dryRun && !readOnly {
                return lua.would("run " + shown)
            }
            let p: SpawnedProcess
            do throws(SpawnedProcess.Failure) { p = try SpawnedProcess(argv, environment: env, directory: cwd, maxBytes: maxBytes) } catch {
                return lua.failure(code: error.kind.rawValue, message: error.message)
            }
            if p.poll() { return finish(lua, p, maxBytes) }
            // a task cancelled while the program runs kills and reaps it, and closes its descriptors
            let closer = lua.addCloseHandler { p.close() }
            return lua.wait(.io(p.pidfd, .readable), deadline: .after(seconds: timeout)) { lua, outcome in
                closer.release()
                if p.poll() { return finish(lua, p, maxBytes) }
                p.kill()
                let o = p.output(limit: maxBytes)
                return lua.failure(code: outcome == .cancelled ? "cancelled" : "timeout",
                                   message: "\(shown): did not finish within \(timeout) s (killed)",
                                   fields: [("stdout", .string(o.stdout)), ("stderr", .string(o.stderr))])
            }
        }
    }

    static func finish(_ lua: Lua, _ p: SpawnedProcess, _ maxBytes: Int) -> Int32 {
        let o = p.output(limit: maxBytes)
        lua.newTable(hashCount: 5)
        if let s = p.exitStatus { lua.push(Int(s)); lua.rawSet(-2, field: "status") }
        if let s = p.exitSignal { lua.push(Int(s)); lua.rawSet(-2, field: "signal") }
        lua.push(bytes: o.stdout); lua.rawSet(-2, field: "stdout")
        lua.push(bytes: o.stderr); lua.rawSet(-2, field: "stderr")
        lua.push(o.truncated); lua.rawSet(-2, field: "truncated")
        return 1
    }
}

// MARK: upgradable packages (security updates)

extension SysModule {
    /// sys.upgradable_packages([{timeout}]) -> {packages = {{name, suites, version, architecture,
    /// installed_version, security}}, total, security, unparsed}, or nil, err. Read-only: it runs
    /// `apt list --upgradable` (also under --dry-run), waiting on the event loop.
    static let upgradablePackages: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let o = try lua.options(1, known: ["timeout"])
            var timeout = 60.0
            switch o["timeout"] {
            case nil: break
            case .integer(let i)?: timeout = Double(i)
            case .number(let d)?: timeout = d
            default: throw .argument(1, "timeout must be a number")
            }
            guard timeout > 0 else { throw .argument(1, "timeout must be positive") }
            let p: SpawnedProcess
            do throws(SpawnedProcess.Failure) { p = try UpgradablePackages.start() } catch {
                return lua.failure(code: error.kind.rawValue, message: error.message)
            }
            let closer = lua.addCloseHandler { p.close() }
            return lua.wait(.io(p.pidfd, .readable), deadline: .after(seconds: timeout)) { lua, _ in
                closer.release()
                defer { p.close() }
                guard p.poll() else {
                    return lua.failure(code: "timeout", message: "\(UpgradablePackages.command.joined(separator: " ")): did not finish within \(timeout) s (killed)")
                }
                switch UpgradablePackages.result(of: p) {
                case .failure(let e): return lua.failure(code: e.kind.rawValue, message: e.message)
                case .success(let r):
                    let list: [LuaValue] = r.packages.map { pkg in
                        var t: [LuaValue: LuaValue] = [
                            .string("name"): .string(pkg.name), .string("suites"): .array(pkg.suites.map { .string($0) }),
                            .string("version"): .string(pkg.version), .string("architecture"): .string(pkg.architecture),
                            .string("security"): .boolean(pkg.security),
                        ]
                        if let v = pkg.installedVersion { t[.string("installed_version")] = .string(v) }
                        return .map(t)
                    }
                    lua.push(value: .map([
                        .string("packages"): .array(list), .string("total"): .integer(Int64(list.count)),
                        .string("security"): .integer(Int64(r.packages.filter(\.security).count)),
                        .string("unparsed"): .array(r.unparsed.map { .string($0) }),
                    ]))
                    return 1
                }
            }
        }
    }
}
