import Glibc
import LuaRuntime
import Modules
import Sys

/// `opsh._host`: what the engine's Lua side needs from the host. Private.
enum HostModule {
    static let open: LuaFunction = { L in
        let lua = Lua(L!)
        lua.newModule([("drain", drain), ("monotonic", monotonic), ("now", now), ("iso_now", isoNow), ("isatty", tty), ("would", would)])
        return 1
    }

    /// Runs every task still alive to completion.
    static let drain: LuaFunction = { L in
        Lua(L!).vm.scheduler.drain()
        return 0
    }

    /// What calls refused under --dry-run would have done since the last call (the report's `would`).
    static let would: LuaFunction = { L in
        let lua = Lua(L!)
        lua.push(value: .array(lua.vm.takeWouldActions().map { .string($0) }))
        return 1
    }

    static let monotonic: LuaFunction = { L in
        Lua(L!).push(TimeModule.monotonicSeconds())
        return 1
    }

    static let now: LuaFunction = { L in
        Lua(L!).push(TimeModule.wallSeconds())
        return 1
    }

    static let isoNow: LuaFunction = { L in
        Lua(L!).push(TimeModule.iso8601(TimeModule.wallSeconds(), fractionDigits: 3))
        return 1
    }

    static let tty: LuaFunction = { L in
        let lua = Lua(L!)
        lua.push(Terminal.isTerminal(Int32(truncatingIfNeeded: lua.toInteger(1) ?? 1)))
        return 1
    }
}
