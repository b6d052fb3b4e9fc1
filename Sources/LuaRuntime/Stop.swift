import CLua
import CLuaShim

/// The process-wide stop machinery of docs/ARCHITECTURE.md §2 "Limits", as the host drives it:
/// `--timeout`'s watchdog, Ctrl-C and `os.exit`. The stop is requested from a signal handler or
/// the watchdog thread and raised inside Lua at the next hook, never across a Swift frame.
public enum ScriptStop {
    public enum Reason: Sendable {
        case none, timeout, interrupt, exit
    }

    /// Why the running script is being stopped.
    public static var reason: Reason {
        switch lk_stop_reason() {
        case LK_STOP_TIMEOUT: return .timeout
        case LK_STOP_INTERRUPT: return .interrupt
        case LK_STOP_EXIT: return .exit
        default: return .none
        }
    }

    /// Whether a stop is pending.
    public static var requested: Bool { lk_stop_reason() != LK_STOP_NONE }

    /// The code `os.exit` asked for (meaningful when `reason` is `.exit`).
    public static var exitCode: Int32 { lk_exit_code() }

    /// Forgets a stop (the REPL after an interrupted statement).
    public static func clear() { lk_clear_stop() }

    /// SIGINT: the first Ctrl-C stops the script; with `exitOnSecond`, another within the grace
    /// period ends the process (exit 3).
    public static func installInterruptHandler(exitOnSecond: Bool) { lk_install_sigint(exitOnSecond ? 1 : 0) }
    public static func restoreInterruptHandler() { lk_restore_sigint() }

    /// A watchdog thread: at `timeoutMilliseconds` it stops the script, and `graceMilliseconds`
    /// later it ends the process with exit code 3 if it is still running.
    public static func startWatchdog(timeoutMilliseconds: Int, graceMilliseconds: Int) {
        _ = lk_watchdog_start(timeoutMilliseconds, graceMilliseconds)
    }
    public static func stopWatchdog() { lk_watchdog_stop() }
}

extension LuaVM {
    /// The embedded Lua's release, e.g. "Lua 5.4.6".
    public static var luaRelease: String { String(cString: lk_release()) }
}
