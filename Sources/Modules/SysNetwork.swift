import EventLoop
import LuaRuntime
import Sys

/// opsh.sys's name resolution and TCP reachability. getaddrinfo has no non-blocking form, so it
/// runs on a thread of its own while the task waits; the connect is non-blocking and the task
/// waits for its socket on the event loop, with one deadline for both.
extension SysModule {
    /// Resolves on a thread; `then` runs on the VM's thread with the result, or nil when the
    /// deadline passed or the task was stopped first (`timedOut` says which).
    static func resolving(_ lua: Lua, _ host: String, deadline: Deadline,
                          then k: @escaping (Lua, Result<Resolution, SysReadError>?, _ timedOut: Bool) -> Int32) -> Int32 {
        if let a = Network.literal(host) { return k(lua, .success(Resolution(host: host, addresses: [a], seconds: 0)), false) }
        final class Job: @unchecked Sendable { var result: Result<Resolution, SysReadError>? }
        let job = Job()
        let loop = lua.vm.loop
        let wait: NativeWait = .custom(start: { complete in
            let token = loop.runOnThread({ job.result = Result { () throws(SysReadError) in try Network.resolve(host) } }, complete)
            return { loop.cancel(token) }
        })
        return lua.wait(wait, deadline: deadline) { lua, outcome in
            k(lua, outcome == .timedOut ? nil : job.result, outcome == .timedOut)
        }
    }

    static func timeoutOption(_ lua: Lua, _ i: Int32) throws(LuaRaise) -> Double {
        let o = try lua.options(i, known: ["timeout"])
        switch o["timeout"] {
        case nil, .nil?: return 5
        case .integer(let v)? where v > 0: return Double(v)
        case .number(let v)? where v > 0 && v.isFinite: return v
        default: throw .argument(i, "timeout must be a positive number of seconds")
        }
    }

    /// sys.resolve(host [, {timeout = 5}]) -> {host, addresses = {"127.0.0.1", ...}, seconds}, or nil, err
    static let resolve: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let host = try lua.checkString(1)
            let timeout = try timeoutOption(lua, 2)
            return resolving(lua, host, deadline: .after(seconds: timeout)) { lua, result, timedOut in
                switch result {
                case .success(let r)?:
                    lua.push(value: .map([key("host"): .string(host), key("addresses"): .array(r.addresses.map { .string($0.numeric) }),
                                          key("seconds"): number(r.seconds, places: 1e6)]))
                    return 1
                case .failure(let e)?: return lua.failure(code: e.code, message: e.message, fields: [("host", .string(host))])
                case nil:
                    return lua.failure(code: timedOut ? "timeout" : "cancelled",
                                       message: "cannot resolve \(host): no answer within \(timeout) s", fields: [("host", .string(host))])
                }
            }
        }
    }

    /// sys.connect(host, port [, {timeout = 5}]) -> {connected = true, address, seconds, resolve_seconds}, or nil, err
    /// (code "refused", "timeout", "unreachable", "not_found", ...; err.address, err.seconds). The
    /// connection is closed as soon as it is established: nothing is sent.
    static let connect: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let host = try lua.checkString(1)
            let port = try lua.checkInteger(2)
            guard (1...65535).contains(port) else { throw .argument(2, "port must be 1-65535") }
            let timeout = try timeoutOption(lua, 3)
            let deadline = Deadline.after(seconds: timeout)
            let label = "\(host):\(port)"
            return resolving(lua, host, deadline: deadline) { lua, result, timedOut in
                let r: Resolution
                switch result {
                case .success(let v)?: r = v
                case .failure(let e)?: return lua.failure(code: e.code, message: "\(label): \(e.message)", fields: [("host", .string(host))])
                case nil:
                    return lua.failure(code: timedOut ? "timeout" : "cancelled", message: "\(label): cannot resolve \(host) within \(timeout) s",
                                       fields: [("host", .string(host))])
                }
                let probe = TCPProbe(addresses: r.addresses, port: UInt16(port), label: label)
                func done(_ lua: Lua, _ o: TCPProbe.Outcome) -> Int32 {
                    var fields: [(String, LuaValue)] = [("seconds", number(o.seconds, places: 1e6)),
                                                        ("resolve_seconds", number(r.seconds, places: 1e6))]
                    if let a = o.address { fields.append(("address", .string(a))) }
                    guard o.connected else { return lua.failure(code: o.code ?? "connect", message: o.message, fields: fields) }
                    lua.push(value: .map(Dictionary(uniqueKeysWithValues: ([("connected", .boolean(true))] + fields).map { (key($0.0), $0.1) })))
                    return 1
                }
                func advance(_ lua: Lua) -> Int32 {
                    switch probe.step() {
                    case .done(let o): return done(lua, o)
                    case .waitWritable(let fd):
                        return lua.wait(.io(fd, .writable), deadline: deadline) { lua, outcome in
                            switch outcome {
                            case .ready: return advance(lua)
                            case .timedOut: return done(lua, probe.timedOut(after: timeout))
                            case .cancelled: probe.close(); return lua.failure(code: "cancelled", message: "\(label): interrupted")
                            }
                        }
                    }
                }
                return advance(lua)
            }
        }
    }
}
