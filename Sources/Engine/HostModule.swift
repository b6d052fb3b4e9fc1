import Glibc
import LuaRuntime
import Modules
import Sys

/// `opsh._host`: what the engine's Lua side needs from the host. Private.
enum HostModule {
    static let open: LuaFunction = { L in
        let lua = Lua(L!)
        lua.newModule([("drain", drain), ("unobserved", unobserved), ("traceback", traceback),
                       ("memory_limit_hit", memoryLimitHit),
                       ("monotonic", monotonic), ("now", now), ("iso_now", isoNow), ("isatty", tty), ("would", would)])
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

    /// The failures of tasks nothing waited for, as the error of the run: {message, traceback}, or nil.
    static let unobserved: LuaFunction = { L in
        let lua = Lua(L!)
        guard let lost = lostTaskErrors(lua.vm) else { lua.pushNil(); return 1 }
        lua.push(value: .map([.string("message"): .string(lost.message), .string("traceback"): .string(lost.traceback)]))
        return 1
    }

    /// The traceback kept for an error value re-raised from a task (task:wait, opsh.all), or nil.
    static let traceback: LuaFunction = { L in
        let lua = Lua(L!)
        if let tb = lua.keptTraceback(1) { lua.push(tb) } else { lua.pushNil() }
        return 1
    }

    /// A task that failed when nothing waited for it (never given to task:wait or opsh.all by
    /// the end of the run) makes the run fail: the first such failure with where it was raised,
    /// how many more there were, and every traceback. Nil when there is none; the failures
    /// count as observed once reported.
    static func lostTaskErrors(_ vm: LuaVM) -> (message: String, traceback: String)? {
        let lost = vm.scheduler.unobservedFailures
        guard let first = lost.first else { return nil }
        for t in lost { vm.scheduler.observe(t) }
        var message = "task \(first.id) failed and nothing waited for it: \(first.errorMessage ?? "error")"
        if let at = first.errorLocation, !message.contains(at) { message += " (raised at \(at))" }
        if lost.count > 1 { message += " (and \(lost.count - 1) more failed task\(lost.count > 2 ? "s" : ""))" }
        let traceback = lost.map { "task \($0.id): \($0.errorTraceback ?? $0.errorMessage ?? "error")" }.joined(separator: "\n")
        return (message, traceback)
    }

    /// What to say of a "not enough memory" error: the --max-memory limit, when it was hit; nil otherwise.
    static let memoryLimitHit: LuaFunction = { L in
        let lua = Lua(L!)
        if lua.vm.memoryLimitHit { lua.push(memoryLimitMessage(lua.vm)) } else { lua.pushNil() }
        return 1
    }

    static func memoryLimitMessage(_ vm: LuaVM) -> String {
        "memory limit exceeded: the Lua heap may use \(formatBytes(vm.memoryLimit)) (--max-memory)"
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
