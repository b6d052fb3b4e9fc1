import Glibc
import LuaRuntime

/// --timeout and Ctrl-C for one run (docs/ARCHITECTURE.md §2): the stop hook is armed
/// lazily when a limit fires, and the watchdog ends the process if the script
/// does not stop within the grace period.
final class Limits {
    static let graceMilliseconds = 2000
    let timeout: Double

    init(_ options: Options) {
        timeout = options.timeout
        ScriptStop.clear()
        ScriptStop.installInterruptHandler(exitOnSecond: true)
        if timeout > 0 { ScriptStop.startWatchdog(timeoutMilliseconds: Int(timeout * 1000), graceMilliseconds: Limits.graceMilliseconds) }
    }

    func end() {
        ScriptStop.stopWatchdog()
        ScriptStop.restoreInterruptHandler()
    }

    func stopMessage(_ reason: ScriptStop.Reason) -> String {
        switch reason {
        case .timeout: return "timed out after \(Limits.describe(timeout)) (--timeout)"
        case .interrupt: return "interrupted"
        default: return "stopped"
        }
    }

    static func describe(_ s: Double) -> String {
        s == s.rounded() ? "\(Int(s))s" : "\(s)s"
    }
}
