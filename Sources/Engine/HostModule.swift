import CLua
import CLuaShim
import Glibc
import LuaRuntime
import Modules

/// `opsh._host`: what the engine's Lua side needs from the host. Private.
enum HostModule {
    static let open: lk_SwiftFunction = { L in
        let lua = Lua(L!)
        lua.newTable(hashCount: 5)
        lua.push(function: drain); lua.rawSet(-2, field: "drain")
        lua.push(function: monotonic); lua.rawSet(-2, field: "monotonic")
        lua.push(function: now); lua.rawSet(-2, field: "now")
        lua.push(function: isoNow); lua.rawSet(-2, field: "iso_now")
        lua.push(function: tty); lua.rawSet(-2, field: "isatty")
        return 1
    }

    /// Runs every task still alive to completion.
    static let drain: lk_SwiftFunction = { L in
        Lua(L!).vm.scheduler.drain()
        return 0
    }

    static let monotonic: lk_SwiftFunction = { L in
        Lua(L!).push(TimeModule.monotonicSeconds())
        return 1
    }

    static let now: lk_SwiftFunction = { L in
        Lua(L!).push(TimeModule.wallSeconds())
        return 1
    }

    static let isoNow: lk_SwiftFunction = { L in
        Lua(L!).push(TimeModule.iso8601(TimeModule.wallSeconds(), fractionDigits: 3))
        return 1
    }

    static let tty: lk_SwiftFunction = { L in
        let lua = Lua(L!)
        lua.push(isatty(Int32(truncatingIfNeeded: lua.toInteger(1) ?? 1)) != 0)
        return 1
    }
}
